"""Search terms are written behind the messages, in batches (bridge/store/sqlite/search_index.py).

Every message stored until now was indexed in its own transaction: the mark starts at the newest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 6
DESCRIPTION = "search index written in batches behind the messages (indexed_upto mark)"


def up(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE search_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL)")
    db.execute("INSERT INTO search_state (id, indexed_upto) SELECT 1, coalesce(max(id), 0) FROM messages")
