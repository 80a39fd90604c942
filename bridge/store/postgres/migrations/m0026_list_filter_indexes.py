"""The inbox list filtered by inbox or by assignee, in activity order, as SQLite's migration 26."""

from __future__ import annotations

VERSION = 26
DESCRIPTION = "conversation list indexes: (inbox, activity) and (assignee, activity)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_inbox_activity ON conversations (inbox, last_activity_at, id);
CREATE INDEX IF NOT EXISTS conversations_assignee_activity ON conversations (assignee_id, last_activity_at, id);
"""
