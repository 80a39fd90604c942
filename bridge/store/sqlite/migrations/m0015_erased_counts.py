"""What reports keep of erased conversations: counts and times only, nothing that names a person.

Erasure (a person's own /forget, an admin's, retention) copies the report columns of each
conversation, its handoff cycles, bot session and survey scores here before deleting them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 15
DESCRIPTION = "anonymous report rows of erased conversations"


def up(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE erased_conversations (id INTEGER PRIMARY KEY, inbox TEXT, channel TEXT, category TEXT,"
        " language TEXT, team TEXT, status TEXT, created_at REAL, resolved_at REAL, handoff_at REAL)")
    db.execute("CREATE INDEX idx_erased_conversations_created ON erased_conversations (created_at)")
    for table in ("automation_cycles", "automation_bot", "automation_surveys"):
        # the same columns as the live table (surveys lose contact and text when copied)
        db.execute(f"CREATE TABLE erased_{table.removeprefix('automation_')} AS SELECT * FROM {table} WHERE 0")
