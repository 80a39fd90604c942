"""The inbox's status tabs through an index of their own, as SQLite's migration 37."""

from __future__ import annotations

VERSION = 35
DESCRIPTION = "index of conversations by status, then activity (the inbox's status tabs)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_status_activity ON conversations (status, last_activity_at, id);
"""
