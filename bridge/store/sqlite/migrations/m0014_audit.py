"""The audit trail (bridge/audit.py): append-only, hash-chained.

Triggers refuse UPDATE and DELETE, so no code path of ours can change history; someone
who edits the file directly is caught by the hash chain. AUTOINCREMENT keeps the highest
id ever issued in sqlite_sequence, so deleting the newest entries shows too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 14
DESCRIPTION = "audit trail: append-only, each entry carries the hash of the previous one"


def up(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, agent_id INTEGER,"
        " agent TEXT, action TEXT NOT NULL, object TEXT, address TEXT, detail TEXT NOT NULL DEFAULT '{}',"
        " prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_audit_log_action ON audit_log (action, id)")
    db.execute("CREATE INDEX idx_audit_log_agent ON audit_log (agent_id, id)")
    db.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
               " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")
    db.execute("CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
               " BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")
