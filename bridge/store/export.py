"""A person's data export document, built from rows either store has read.

Each store reads the contact, their conversations, messages and attachments its own way (SQLite in
the writer's thread, PostgreSQL awaiting each statement); what the document says of them is one
format, so it is written once here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from tpbridge.bridge.model import Attachment, Contact, iso
from tpbridge.bridge.store.sqlite.rows import ts

Row = sqlite3.Row | Mapping[str, Any]  # as audit_rows.entry and rows.outbox_item take: either store's row


def conversation_export(conv: Row, messages: Sequence[Row],
                        attachments: Mapping[int, Sequence[Attachment]]) -> dict[str, Any]:
    """One conversation of the export: its messages in the order given, each with its attachments."""
    return {
        "id": conv["id"], "inbox": conv["inbox"], "status": conv["status"], "subject": conv["subject"],
        "created_at": iso(ts(conv["created_at"])),
        "messages": [{
            "id": m["id"], "direction": m["direction"], "author_kind": m["author_kind"],
            "text": m["text"], "private": bool(m["private"]), "created_at": iso(ts(m["created_at"])),
            "attachments": [{"filename": a.filename, "mime": a.mime, "size": a.size, "sha256": a.sha256}
                            for a in attachments.get(m["id"], [])],
        } for m in messages],
    }


def contact_export(contact: Contact, conversations: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole document: the contact, their identities and the conversations (from conversation_export)."""
    return {
        "contact": {"id": contact.id, "name": contact.name, "email": contact.email,
                    "language": contact.language, "tier": contact.tier,
                    "created_at": iso(contact.created_at)},
        "identities": [{"channel": i.channel, "inbox": i.inbox, "external_id": i.external_id,
                        "handle": i.handle} for i in contact.identities],
        "conversations": conversations,
    }
