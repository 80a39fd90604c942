"""A merge the person proved with a one-time code (verified) is told apart from an agent's (unverified)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 18
DESCRIPTION = "contacts.merge_verified: merged by a one-time code from both channels"


def up(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE contacts ADD COLUMN merge_verified INTEGER NOT NULL DEFAULT 0")
