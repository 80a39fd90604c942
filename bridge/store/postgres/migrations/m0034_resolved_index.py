"""The follow-up's look-up through a partial index of the resolved conversations, as SQLite's migration 36."""

from __future__ import annotations

VERSION = 34
DESCRIPTION = "partial index of resolved conversations by resolved_at (the follow-up)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_resolved ON conversations (resolved_at) WHERE status = 'resolved';
"""
