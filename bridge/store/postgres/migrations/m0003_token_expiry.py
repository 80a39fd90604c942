"""API tokens may expire, as SQLite's migration 13; existing tokens never do."""

from __future__ import annotations

VERSION = 3
DESCRIPTION = "API tokens: optional expiry time"

SQL = """
ALTER TABLE tokens ADD COLUMN expires_at double precision;
CREATE INDEX idx_tokens_agent_id ON tokens (agent_id);
CREATE INDEX idx_sessions_agent_id ON sessions (agent_id);
"""
