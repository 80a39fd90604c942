"""A status tab filtered by an inbox, through an index of both: status, inbox, then the list's order.

The inbox's commonest view is a tab of one inbox (`status = ? AND inbox = ? ORDER BY last_activity_at DESC`).
With an index of either column alone one of them is walked and the other tested row by row: the inbox's
index read ~5,000 rows for the 51 snoozed ones of an inbox (1.5-2.0 ms at 100,000 conversations, most of
them resolved), the status index ~1,200 for the open ones of one inbox of five. Each status and inbox pair
is now one range, already in order (bench/README.md D20).
"""

from __future__ import annotations

VERSION = 39
DESCRIPTION = "index of conversations by status and inbox, then activity (a status tab of one inbox)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_status_inbox_activity
ON conversations (status, inbox, last_activity_at, id)
"""
