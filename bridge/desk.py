"""What agents, the API and automation do to conversations: one place, events after each commit.

Automation acts through the same calls as an agent: it never sends anything itself,
it writes replies that the outbox delivers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Unpack

import structlog
from tpbridge.bridge.attachments import AttachmentStore
from tpbridge.bridge.attachments.removal import remove_files
from tpbridge.bridge.events import (
    CONVERSATION_DELETED,
    CONVERSATION_UPDATED,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    Event,
    EventBus,
)
from tpbridge.bridge.model import SYSTEM, Author, Contact, Conversation, Message, QuarantineEntry, Status, utcnow
from tpbridge.bridge.sanitize import clean_html
from tpbridge.bridge.store.protocol import UNSET, ConversationFields, NewReply, Store, StoredAttachment, Unset

log = structlog.get_logger(__name__)


class NotFound(LookupError):
    pass


MAX_LABEL = 100


class Invalid(ValueError):
    pass


class Desk:
    def __init__(self, store: Store, bus: EventBus, files: AttachmentStore,
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

    async def update(self, conversation_id: int, **fields: Unpack[ConversationFields]) -> Conversation:
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
        fields: ConversationFields = {"status": new, "snoozed_until": None}
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
        self, conversation_id: int, *, agent_id: int | Unset | None = UNSET, team: str | Unset | None = UNSET
    ) -> Conversation:
        fields: ConversationFields = {}
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
        if too_long := [label for label in clean if len(label) > MAX_LABEL]:
            # a label is a key PostgreSQL indexes (conversation_labels), and a word in the inbox, not a note
            raise Invalid(f"labels: at most {MAX_LABEL} characters each ({len(too_long[0])} given)")
        return await self.update(conversation_id, labels=clean)

    async def mark_read(self, conversation_id: int) -> Conversation:
        return await self.update(conversation_id, unread=0)

    # ------------------------------------------------------------ people: each change reaches the
    # conversations that show the person (an event per conversation, so the live inbox checks who
    # may see each one, as for any other event)
    def _person_changed(self, convs: Sequence[Conversation], change: str) -> None:
        for conv in convs:
            self.bus.publish(Event(CONVERSATION_UPDATED, conv, changes=(change,)))

    async def contact(self, contact_id: int) -> Contact:
        contact = await self.store.get_contact(contact_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} not found")
        return contact

    async def merge(self, target_id: int, source_id: int, *, verified: bool = False) -> Contact:
        """Merge `source` into `target`: one person from now on (undone by `unmerge`); `verified` when the
        person proved both identities theirs (bridge/linking.py), not an agent's judgement."""
        if source_id == target_id:
            raise Invalid("contact: cannot merge a contact into itself")
        target = await self.contact(target_id)
        await self.contact(source_id)
        if target.merged_into is not None:
            raise Invalid(f"contact {target_id} is itself merged into {target.merged_into}; merge into that one")
        convs = await self.store.merge_contacts(target_id, source_id, verified=verified)
        log.info("contact.merged", contact_id=target_id, merged=source_id, verified=verified,
                 conversations=len(convs))
        self._person_changed(convs, "contact")
        return await self.contact(target_id)

    async def unmerge(self, contact_id: int) -> Contact:
        contact = await self.contact(contact_id)
        if contact.merged_into is None:
            raise Invalid(f"contact {contact_id} is not merged")
        convs = await self.store.unmerge_contact(contact_id)
        log.info("contact.unmerged", contact_id=contact_id, was_merged_into=contact.merged_into,
                 conversations=len(convs))
        self._person_changed(convs, "contact")
        return await self.contact(contact_id)

    async def forget(self, contact_id: int) -> int:
        """Erase a person everywhere (their merged contacts too) and the files only they used;
        returns how many conversations went. The API and the command line both call this."""
        person = await self.contact(contact_id)
        quarantined = await self._quarantined_of(person)
        gone = await self.store.forget_contact(contact_id)
        await remove_files(self.files, self.store, gone.unused_files)
        for conv in gone.conversations:
            self.bus.publish(Event(CONVERSATION_DELETED, conv))
        if quarantined:
            await self.store.drop_quarantine([q.id for q in quarantined])
            for q in quarantined:
                await asyncio.to_thread(Path(q.path).unlink, missing_ok=True)
        log.info("contact.forgotten", contact_id=contact_id, conversations=len(gone.conversations),
                 files=len(gone.unused_files), quarantined=len(quarantined))
        return len(gone.conversations)

    async def _quarantined_of(self, person: Contact) -> list[QuarantineEntry]:
        """Quarantined raw messages that name the person (their address or id, in an inbox they used):
        an erasure leaves no copy of them in the quarantine either."""
        marks = {(i.inbox, term.lower().encode()) for i in person.identities
                 for term in (i.external_id, i.handle) if term and len(term) >= 3}
        if not marks:
            return []
        entries = await self.store.list_quarantine(limit=100_000)
        codec = self.files.codec

        def names(entry: QuarantineEntry) -> bool:
            terms = [t for inbox, t in marks if inbox == entry.inbox]
            if not terms:
                return False
            try:
                raw = Path(entry.path).read_bytes()
                raw = codec.open_bytes(raw) if codec is not None else raw
            except (OSError, ValueError):
                return False
            lowered = raw.lower()
            return any(t in lowered for t in terms)

        return [e for e in entries if await asyncio.to_thread(names, e)]

    async def set_message_language(self, message_id: int, language: str | None) -> Message:
        msg = await self.store.set_message_language(message_id, language)
        if msg is None:
            raise NotFound(f"message {message_id} not found")
        conv = await self.conversation(msg.conversation_id)
        self.bus.publish(Event(MESSAGE_UPDATED, conv, msg))
        return msg

    async def set_contact_language(self, contact_id: int, language: str) -> None:
        convs = await self.store.set_contact_language(contact_id, language)
        self._person_changed(convs, "contact")
