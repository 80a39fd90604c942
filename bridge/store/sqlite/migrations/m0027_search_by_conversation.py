"""Search rows keyed by conversation: rowid = conversation id << 32 | message id's low 32 bits.

The terms already indexed are kept (copied from the index's own content table, hashed or not as they
were): only their rowids change, so nothing is re-tokenised and no search waits for a re-index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 27
DESCRIPTION = "search rows keyed by conversation (rowid >> 32 is the conversation id)"


def up(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TEMP TABLE search_copy AS SELECT id, c0 AS terms, c1 AS conversation_id"
               " FROM message_search_content")
    db.execute("DELETE FROM message_search")
    db.execute("INSERT INTO message_search (rowid, terms, conversation_id)"
               " SELECT (conversation_id << 32) | (id & 4294967295), terms, conversation_id FROM search_copy")
    db.execute("DROP TABLE search_copy")
