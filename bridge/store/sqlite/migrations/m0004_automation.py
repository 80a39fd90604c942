"""Support automation: handoff cycles (first response, resolution), bot sessions, surveys, queue waits."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 4
DESCRIPTION = "automation: handoff cycles, bot sessions, satisfaction surveys, per-team queue waits"


def up(db: sqlite_utils.Database) -> None:
    # One row per time a conversation went to humans (handoff, reopen, complaint): the
    # clock of "first response time" starts here, not at the conversation's creation.
    db.table("automation_cycles").create(
        {
            "id": int, "conversation_id": int, "inbox": str, "channel": str, "team": str, "category": str,
            "language": str, "priority": int, "reason": str, "started_at": float, "position": int,
            "assigned_at": float, "first_human_at": float, "resolved_at": float,
        },
        pk="id", not_null={"conversation_id", "inbox", "reason", "started_at"},
    )
    db.table("automation_cycles").create_index(["conversation_id", "id"])
    db.table("automation_cycles").create_index(["started_at"])
    db.table("automation_bot").create(
        {
            "conversation_id": int, "inbox": str, "channel": str, "language": str, "started_at": float,
            "answers": int, "handed_off": int, "resolved": int,
        },
        pk="conversation_id", defaults={"answers": 0, "handed_off": 0, "resolved": 0},
    )
    db.table("automation_bot").create_index(["started_at"])
    db.table("automation_surveys").create(
        {
            "id": int, "conversation_id": int, "contact_id": int, "inbox": str, "channel": str, "team": str,
            "language": str, "score": int, "text": str, "created_at": float,
        },
        pk="id", not_null={"conversation_id", "score", "created_at"},
    )
    db.table("automation_surveys").create_index(["created_at"])
    db.table("automation_surveys").create_index(["conversation_id"])
    db.table("automation_team_waits").create(
        {"team": str, "per_place": float, "samples": int, "updated_at": float}, pk="team",
    )
    # The queue: a team's unassigned open conversations that were handed to humans.
    db.execute("CREATE INDEX idx_conversations_queue ON conversations (team, status, assignee_id, handoff_at)")
