"""The snooze waker asks every 15 s which snoozed conversations are due: index just those.

`status = 'snoozed' AND snoozed_until <= ?` had no index to use and scanned every conversation
(~40 ms at 100,000). A partial index holds only the snoozed ones, so it stays as small as the
snoozed set and costs the other conversations' writes nothing.
"""

from __future__ import annotations

VERSION = 33
DESCRIPTION = "partial index of snoozed conversations by snoozed_until (the snooze waker)"

SQL = """
CREATE INDEX IF NOT EXISTS conversations_due_snoozes ON conversations (snoozed_until)
WHERE status = 'snoozed'
"""
