"""Encryption at rest (bridge/crypto.py): which key the store is under, and the re-encryption pass.

One row: the current key id, the index key sealed under it, and where the pass that
re-seals every value (turning encryption on, or `tpbridge key rotate`) stands, so a pass
killed midway resumes where it stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 16
DESCRIPTION = "encryption at rest: key id, sealed index key, re-encryption progress"


def up(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE crypto_state (id INTEGER PRIMARY KEY CHECK (id = 1), key_id TEXT NOT NULL,"
        " index_key TEXT NOT NULL, pending INTEGER NOT NULL DEFAULT 0, pass_table INTEGER NOT NULL DEFAULT 0,"
        " pass_after INTEGER NOT NULL DEFAULT 0, started_at REAL, finished_at REAL)")
    # With encryption, identities.external_id holds a keyed hash (the lookup and unique key) and this
    # column the sealed channel id (what a reply is sent to).
    db.execute("ALTER TABLE identities ADD COLUMN external_id_sealed TEXT")
