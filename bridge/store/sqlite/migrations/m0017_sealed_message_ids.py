"""With encryption at rest, a message's channel id is looked up by its keyed hash (messages.external_id,
still the dedupe key) and kept sealed here (WeChat's ids carry the person's openid, e-mail's the
sender's host)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 17
DESCRIPTION = "sealed channel ids of messages (encryption at rest)"


def up(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE messages ADD COLUMN external_id_sealed TEXT")
