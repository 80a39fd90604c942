"""API tokens may expire (`tpbridge token create --expires-days N`); existing tokens never do."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 13
DESCRIPTION = "API tokens: optional expiry time"


def up(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE tokens ADD COLUMN expires_at REAL")
    db.execute("CREATE INDEX IF NOT EXISTS idx_tokens_agent_id ON tokens (agent_id)")
    db.execute("CREATE INDEX IF NOT EXISTS idx_sessions_agent_id ON sessions (agent_id)")
