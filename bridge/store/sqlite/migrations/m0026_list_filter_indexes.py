"""The inbox list filtered by inbox or by assignee, in activity order, without sorting the whole inbox.

With only (last_activity_at, id) and (inbox, thread_key) to choose from, `inbox = ?` sorted every
conversation of that inbox on each page (46 ms at 100,000 conversations, bench/desk.py); these let
the planner walk the matching rows newest first and stop at the page's end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 26
DESCRIPTION = "conversation list indexes: (inbox, activity) and (assignee, activity)"


def up(db: sqlite_utils.Database) -> None:
    conversations = db.table("conversations")
    conversations.create_index(["inbox", "last_activity_at", "id"], index_name="conversations_inbox_activity",
                               if_not_exists=True)
    conversations.create_index(["assignee_id", "last_activity_at", "id"],
                               index_name="conversations_assignee_activity", if_not_exists=True)
