"""Model objects to the JSON shapes SPEC.md fixes (more fields welcome, these names fixed)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tpbridge.bridge.model import Agent, Attachment, Contact, Conversation, Message, QuarantineEntry, iso


def attachment_json(att: Attachment) -> dict[str, Any]:
    return {
        "id": att.id, "kind": att.kind, "mime": att.mime, "filename": att.filename, "size": att.size,
        "url": f"/api/v1/attachments/{att.id}",
    }


def message_json(msg: Message, anonymous: Collection[str] = ()) -> dict[str, Any]:
    """`anonymous`: the anonymous inboxes, where a person's name is not shown (nor stored, since)."""
    name = None if msg.inbox in anonymous and msg.author.kind.value == "contact" else msg.author.name
    return {
        "id": msg.id,
        "conversation_id": msg.conversation_id,
        "inbox": msg.inbox,
        "direction": msg.direction.value,
        "author": {"kind": msg.author.kind.value, "id": msg.author.id, "name": name},
        "text": msg.text,
        "html": msg.html,
        "attachments": [attachment_json(a) for a in msg.attachments],
        "private": msg.private,
        "external_id": msg.external_id,
        "delivery": msg.delivery.value if msg.delivery else None,
        "error": msg.error,
        "created_at": iso(msg.created_at),
        "edited_at": iso(msg.edited_at),
        "language": msg.language,
        "reply_to": msg.reply_to,
        "auto": msg.auto,
        "extra": msg.extra,
    }


def is_anonymous(contact: Contact, anonymous: Collection[str]) -> bool:
    """Wrote to an anonymous inbox (`Contact.anonymous` only says no name was given: not the same)."""
    return any(i.inbox in anonymous for i in contact.identities)


def contact_json(contact: Contact | None, anonymous: Collection[str] = ()) -> dict[str, Any] | None:
    """A person; one who wrote to an anonymous inbox is "Visitor <id>", without handles or addresses."""
    if contact is None:
        return None
    if is_anonymous(contact, anonymous):
        return {
            "id": contact.id, "name": f"Visitor {contact.id}", "email": None, "language": contact.language,
            "tier": contact.tier, "anonymous": True, "merged_into": contact.merged_into,
            "identities": [{"channel": i.channel, "inbox": i.inbox, "external_id": None, "handle": None,
                            "unreachable": i.unreachable, "link": i.link} for i in contact.identities],
        }
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "language": contact.language,
        "tier": contact.tier,
        "anonymous": contact.anonymous,
        "merged_into": contact.merged_into,
        "identities": [
            {"channel": i.channel, "inbox": i.inbox, "external_id": i.external_id, "handle": i.handle,
             "unreachable": i.unreachable, "link": i.link}
            for i in contact.identities
        ],
    }


def conversation_json(conv: Conversation, contact: Contact | None, agents: dict[int, Agent],
                      anonymous: Collection[str] = ()) -> dict[str, Any]:
    assignee = agents.get(conv.assignee_id) if conv.assignee_id is not None else None
    return {
        "id": conv.id,
        "inbox": conv.inbox,
        "channel": conv.channel,
        "status": conv.status.value,
        "subject": conv.subject,
        "priority": conv.priority.word,
        "category": conv.category,
        "language": conv.language,
        "assignee": {"id": assignee.id, "name": assignee.name} if assignee else None,
        "team": conv.team,
        "labels": list(conv.labels),
        "contact": contact_json(contact, anonymous),
        "last_message": {"text": conv.last_message_text, "at": iso(conv.last_message_at)}
        if conv.last_message_at else None,
        "unread": conv.unread,
        "created_at": iso(conv.created_at),
        "last_activity_at": iso(conv.last_activity_at),
        "snoozed_until": iso(conv.snoozed_until),
        "first_response_at": iso(conv.first_response_at),
        "resolved_at": iso(conv.resolved_at),
        "linked_conversation_id": conv.linked_conversation_id,
        "public": conv.public,
        "reply_window_ends_at": iso(conv.reply_window_ends_at),
        "attrs": conv.attrs,
    }


def quarantine_json(q: QuarantineEntry) -> dict[str, Any]:
    return {"id": q.id, "inbox": q.inbox, "external_id": q.external_id, "reason": q.reason, "path": q.path,
            "size": q.size, "created_at": iso(q.created_at)}
