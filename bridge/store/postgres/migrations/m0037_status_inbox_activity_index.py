"""A status tab filtered by an inbox, through an index of both, as SQLite's migration 39."""

from __future__ import annotations

VERSION = 37
DESCRIPTION = "index of conversations by status and inbox, then activity (a status tab of one inbox)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_status_inbox_activity ON conversations (status, inbox, last_activity_at, id);
"""
