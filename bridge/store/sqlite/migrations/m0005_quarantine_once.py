"""A redelivered unparseable message is quarantined once, like any message is stored once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 5
DESCRIPTION = "quarantine unique per (inbox, external_id)"


def up(db: sqlite_utils.Database) -> None:
    db.execute(
        "DELETE FROM quarantine WHERE id NOT IN (SELECT MIN(id) FROM quarantine GROUP BY inbox, external_id)"
    )
    db.table("quarantine").create_index(["inbox", "external_id"], unique=True)
