"""The inbox's status tabs through an index of their own: status, then the list's order.

`status = ? ORDER BY last_activity_at DESC, id DESC LIMIT 51` walked the activity index from the newest
and skipped every conversation of another status: at 100,000 conversations, most of them resolved, the
snoozed tab read ~5,000 rows for its 51 (2.5 ms; PostgreSQL 5.7 ms) and an empty tab read them all
(PostgreSQL 41-65 ms). Each status's conversations are now one range of this index, already in order.
"""

from __future__ import annotations

VERSION = 37
DESCRIPTION = "index of conversations by status, then activity (the inbox's status tabs)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_status_activity ON conversations (status, last_activity_at, id)
"""
