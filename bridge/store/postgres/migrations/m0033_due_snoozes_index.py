"""The snooze waker's look-up through a partial index of the snoozed conversations, as SQLite's migration 33."""

from __future__ import annotations

VERSION = 33
DESCRIPTION = "partial index of snoozed conversations by snoozed_until (the snooze waker)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_due_snoozes ON conversations (snoozed_until) WHERE status = 'snoozed';
"""
