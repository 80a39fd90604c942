"""The conversation model: contacts, identities, conversations, messages, delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 1
DESCRIPTION = "contacts, identities, conversations, messages, attachments, outbox, agents, teams"

# Times are REAL unix seconds (UTC): cheap to compare, index and page by.


def up(db: sqlite_utils.Database) -> None:
    db.table("contacts").create(
        {
            "id": int, "name": str, "language": str, "tier": str, "anonymous": int, "email": str,
            "merged_into": int, "created_at": float, "updated_at": float,
        },
        pk="id", not_null={"created_at", "updated_at"}, defaults={"anonymous": 0},
    )
    db.table("identities").create(
        {
            "id": int, "contact_id": int, "inbox": str, "channel": str, "external_id": str,
            "handle": str, "unreachable": str, "created_at": float,
        },
        pk="id", foreign_keys=[("contact_id", "contacts", "id")],
        not_null={"contact_id", "inbox", "channel", "external_id"},
    )
    db.table("identities").create_index(["inbox", "external_id"], unique=True)
    db.table("identities").create_index(["contact_id"])
    db.table("conversations").create(
        {
            "id": int, "inbox": str, "channel": str, "contact_id": int, "identity_id": int,
            "status": str, "subject": str, "priority": int, "category": str, "language": str,
            "assignee_id": int, "team": str, "labels": str, "thread_key": str, "unread": int,
            "last_message_text": str, "last_message_at": float, "last_activity_at": float,
            "created_at": float, "updated_at": float, "snoozed_until": float,
            "first_response_at": float, "resolved_at": float, "handoff_at": float,
            "reopened_at": float, "linked_conversation_id": int, "attrs": str,
        },
        pk="id",
        foreign_keys=[("contact_id", "contacts", "id"), ("identity_id", "identities", "id")],
        not_null={"inbox", "channel", "contact_id", "identity_id", "status", "created_at",
                  "last_activity_at"},
        defaults={"status": "open", "priority": 1, "unread": 0, "labels": "[]", "attrs": "{}"},
    )
    # The inbox list reads the newest activity first and pages by keyset, never OFFSET.
    db.table("conversations").create_index(["last_activity_at", "id"])
    db.table("conversations").create_index(["identity_id", "status"])
    db.table("conversations").create_index(["inbox", "thread_key"])
    db.table("conversations").create_index(["contact_id"])
    db.table("messages").create(
        {
            "id": int, "conversation_id": int, "inbox": str, "direction": str, "author_kind": str,
            "author_id": int, "author_name": str, "text": str, "html": str, "private": int,
            "external_id": str, "delivery": str, "error": str, "created_at": float,
            "sent_at": float, "language": str, "reply_to": str, "auto": int, "extra": str,
            "edited_at": float,
        },
        pk="id", foreign_keys=[("conversation_id", "conversations", "id")],
        not_null={"conversation_id", "inbox", "direction", "author_kind", "text", "created_at"},
        defaults={"private": 0, "auto": 0, "extra": "{}"},
    )
    # The dedupe key: a channel's redelivery hits this index, not a cache.
    db.execute(
        "CREATE UNIQUE INDEX idx_messages_inbox_external_id ON messages (inbox, external_id) "
        "WHERE external_id IS NOT NULL"
    )
    db.table("messages").create_index(["conversation_id", "id"])
    db.table("message_edits").create(
        {"id": int, "message_id": int, "inbox": str, "external_id": str, "previous_text": str,
         "edited_at": float},
        pk="id", foreign_keys=[("message_id", "messages", "id")],
    )
    db.table("message_edits").create_index(["inbox", "external_id"], unique=True)
    db.table("attachments").create(
        {"id": int, "message_id": int, "kind": str, "mime": str, "filename": str, "size": int,
         "sha256": str},
        pk="id", foreign_keys=[("message_id", "messages", "id")],
    )
    db.table("attachments").create_index(["message_id"])
    db.table("attachments").create_index(["sha256"])
    db.table("outbox").create(
        {"id": int, "message_id": int, "inbox": str, "conversation_id": int, "due_at": float,
         "attempts": int, "last_error": str, "created_at": float},
        pk="id", foreign_keys=[("message_id", "messages", "id")], defaults={"attempts": 0},
    )
    db.table("outbox").create_index(["message_id"], unique=True)
    db.table("outbox").create_index(["inbox", "due_at"])
    db.table("agents").create(
        {"id": int, "email": str, "name": str, "role": str, "password_hash": str, "languages": str,
         "ui_language": str, "presence": str, "capacity": int, "disabled": int, "created_at": float},
        pk="id", not_null={"email", "name", "role"},
        defaults={"languages": "[]", "presence": "away", "capacity": 10, "disabled": 0},
    )
    db.table("agents").create_index(["email"], unique=True)
    db.table("teams").create(
        {"id": int, "name": str, "inboxes": str, "lead_id": int, "created_at": float},
        pk="id", not_null={"name"}, defaults={"inboxes": "[]"},
    )
    db.table("teams").create_index(["name"], unique=True)
    db.table("agent_teams").create({"agent_id": int, "team_id": int}, pk=("agent_id", "team_id"),
                             foreign_keys=[("agent_id", "agents", "id"), ("team_id", "teams", "id")])
    db.table("tokens").create(
        {"id": int, "agent_id": int, "token_hash": str, "label": str, "created_at": float,
         "last_used_at": float},
        pk="id", foreign_keys=[("agent_id", "agents", "id")], not_null={"agent_id", "token_hash"},
    )
    db.table("tokens").create_index(["token_hash"], unique=True)
    db.table("sessions").create(
        {"id": str, "agent_id": int, "csrf": str, "created_at": float, "expires_at": float},
        pk="id", foreign_keys=[("agent_id", "agents", "id")],
    )
    db.table("checkpoints").create({"inbox": str, "value": str, "updated_at": float}, pk="inbox")
    db.table("kv").create({"key": str, "value": str, "expires_at": float}, pk="key")
    db.table("quarantine").create(
        {"id": int, "inbox": str, "external_id": str, "reason": str, "path": str, "size": int,
         "created_at": float},
        pk="id",
    )
    db.table("canned_responses").create(
        {"id": int, "shortcut": str, "text": str, "created_by": int, "created_at": float},
        pk="id", not_null={"shortcut", "text"},
    )
    db.table("canned_responses").create_index(["shortcut"], unique=True)
