"""Thread keys can name a person (X's `dm:<user id>`): encrypted stores keep their keyed hash for the
lookup and a sealed copy for replies, as identities do with channel ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 28
DESCRIPTION = "conversations.thread_key_sealed (encryption at rest)"


def up(db: sqlite_utils.Database) -> None:
    db.table("conversations").add_column("thread_key_sealed", str)
