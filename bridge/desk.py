"""What agents, the API and automation do to conversations: one place, events after each commit.

Automation acts through the same calls as an agent: it never sends anything itself,
it writes replies that the outbox delivers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from tpbridge.bridge.attachments import AttachmentFiles
from tpbridge.bridge.events import CONVERSATION_UPDATED, MESSAGE_CREATED, Event, EventBus
from tpbridge.bridge.model import SYSTEM, Author, Conversation, Message, Status, utcnow
from tpbridge.bridge.sanitize import clean_html
from tpbridge.bridge.store.protocol import UNSET, NewReply, Store, StoredAttachment

log = structlog.get_logger(__name__)


class NotFound(LookupError):
    pass


class Invalid(ValueError):
    pass


class Desk:
    def __init__(self, store: Store, bus: EventBus, files: AttachmentFiles,
                 wake_outbox: Callable[[str], None] = lambda inbox: None) -> None:
        self.store = store
        self.bus = bus
        self.files = files
        self.wake_outbox = wake_outbox

    async def conversation(self, conversation_id: int) -> Conversation:
        conv = await self.store.get_conversation(conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return conv

    async def reply(
        self, conversation_id: int, text: str, *, author: Author, private: bool = False, html: str | None = None,
        attachments: Sequence[StoredAttachment] = (), auto: bool = False, reply_to: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Message:
        """Store the reply and its outbox row in one transaction; the outbox delivers it."""
        if not text.strip() and not attachments:
            raise Invalid("a reply needs text or an attachment")
        try:
            msg, conv = await self.store.add_reply(NewReply(
                conversation_id, author, text, clean_html(html), private, auto, reply_to, tuple(attachments),
                extra or {},
            ))
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        log.info("reply.queued" if not private else "note.added", inbox=conv.inbox, conversation_id=conv.id,
                 message_id=msg.id, author=author.kind.value, auto=auto)
        self.bus.publish(Event(MESSAGE_CREATED, conv, msg))
        if not private:
            self.wake_outbox(conv.inbox)
        return msg

    async def note(self, conversation_id: int, text: str, *, author: Author = SYSTEM) -> Message:
        """A private note: shown to agents, never sent."""
        return await self.reply(conversation_id, text, author=author, private=True)

    async def update(self, conversation_id: int, **fields: Any) -> Conversation:
        try:
            conv = await self.store.update_conversation(conversation_id, **fields)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        log.info("conversation.updated", inbox=conv.inbox, conversation_id=conv.id, fields=sorted(fields))
        self.bus.publish(Event(CONVERSATION_UPDATED, conv, changes=tuple(sorted(fields))))
        return conv

    async def set_status(self, conversation_id: int, status: str, *, until: datetime | None = None) -> Conversation:
        try:
            new = Status(status)
        except ValueError:
            raise Invalid('status must be "open", "pending", "snoozed" or "resolved"') from None
        conv = await self.conversation(conversation_id)
        now = utcnow()
        fields: dict[str, Any] = {"status": new.value, "snoozed_until": None}
        if new is Status.SNOOZED:
            if until is None or until <= now:
                raise Invalid("until: a snoozed conversation needs a time in the future")
            fields["snoozed_until"] = until
        if new is Status.RESOLVED:
            fields["resolved_at"] = now
        elif conv.status is Status.RESOLVED:
            fields["resolved_at"] = None
            fields["reopened_at"] = now
        return await self.update(conversation_id, **fields)

    async def assign(
        self, conversation_id: int, *, agent_id: int | None = UNSET, team: str | None = UNSET
    ) -> Conversation:
        fields: dict[str, Any] = {}
        if agent_id is not UNSET:
            if agent_id is not None and await self.store.get_agent(agent_id) is None:
                raise Invalid(f"agent: no agent {agent_id}")
            fields["assignee_id"] = agent_id
        if team is not UNSET:
            if team is not None and team not in {t.name for t in await self.store.list_teams()}:
                raise Invalid(f"team: no team {team!r}")
            fields["team"] = team
        if not fields:
            raise Invalid("give agent and/or team")
        return await self.update(conversation_id, **fields)

    async def set_labels(self, conversation_id: int, labels: Sequence[str]) -> Conversation:
        clean = sorted({label.strip() for label in labels if label.strip()})
        return await self.update(conversation_id, labels=clean)

    async def mark_read(self, conversation_id: int) -> Conversation:
        return await self.update(conversation_id, unread=0)
