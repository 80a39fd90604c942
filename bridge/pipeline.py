"""Inbound: dedupe -> identity -> conversation -> store (one transaction) -> events.

`InboxSink` is what an adapter holds: the channel is acknowledged only after
`ingest` returned, because only then is everything committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import structlog
from tpbridge.adapters.base import (
    ChannelState,
    Inbound,
    InboundAttachment,
    IngestResult,
    PastAttachment,
    PastMessage,
    Quarantined,
    Retry,
)
from tpbridge.bridge.attachments import AttachmentStore
from tpbridge.bridge.events import (
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
    Event,
    EventBus,
)
from tpbridge.bridge.health import Health
from tpbridge.bridge.model import Delivery, Direction
from tpbridge.bridge.sanitize import clean_html
from tpbridge.bridge.send_windows import SendSlot, window_key
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound, Store, StoredAttachment

log = structlog.get_logger(__name__)

INLINE_HTML = 4096  # characters of HTML sanitised on the loop; longer goes to a thread
# A channel's id of a message, a person or a thread is a key both stores index; PostgreSQL's indexes refuse a
# row over ~2,700 bytes (an error, so the channel would retry it forever). No channel's real ids come near this
# (Telegram's, X's and WeChat's are numbers, a Message-ID stays on a 998-character line, an address is at most
# 320): longer is hostile or broken, and the record is quarantined with the reason, on both stores alike.
MAX_CHANNEL_ID = 512


def bounded_id(value: str) -> str:
    """An id as the quarantine keys it: itself, or its start and a digest of the whole (the same each time)."""
    if len(value) <= MAX_CHANNEL_ID:
        return value
    return f"{value[:200]}…{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _overlong(rec: Inbound) -> str | None:
    """Which of a record's stored keys is longer than MAX_CHANNEL_ID, if one is."""
    for name, value in (("message id", rec.external_id), ("sender id", rec.sender.external_id),
                        ("thread key", rec.thread.key if rec.thread else None)):
        if value is not None and len(value) > MAX_CHANNEL_ID:
            return f"the channel's {name} is {len(value)} characters long (at most {MAX_CHANNEL_ID} are kept)"
    return None


def _as_quarantined(rec: Inbound, reason: str) -> Quarantined:
    raw = rec.raw if rec.raw is not None else json.dumps({
        "external_id": rec.external_id, "sender": rec.sender.external_id, "name": rec.sender.name,
        "thread": rec.thread.key if rec.thread else None, "sent_at": rec.sent_at.isoformat(), "text": rec.text,
    }, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return Quarantined(rec.inbox, rec.external_id, reason, raw)


class Pipeline:
    def __init__(self, store: Store, bus: EventBus, files: AttachmentStore, data_dir: Path) -> None:
        self.store = store
        self.bus = bus
        self.files = files
        self.data_dir = data_dir

    async def _store_file(self, a: InboundAttachment) -> StoredAttachment:
        if a.path is not None:
            return await self.files.adopt(a.path, kind=a.kind, mime=a.mime, filename=a.filename)
        return await self.files.put(a.data, kind=a.kind, mime=a.mime, filename=a.filename)

    async def ingest(
        self, inbox: str, channel: str, batch: Sequence[Inbound], checkpoint: str | None = None
    ) -> list[IngestedItem]:
        if not batch and checkpoint is None:
            return []
        for rec in batch:
            if rec.inbox != inbox:
                raise ValueError(f"record for inbox {rec.inbox!r} handed to {inbox!r}")
        if any(map(_overlong, batch)):
            return await self._without_overlong(inbox, channel, batch, checkpoint)
        # Attachment files are written first (the store does it off the loop; if it cannot, this
        # raises and nothing is acknowledged). Sanitising a mail's HTML can take milliseconds: off
        # the loop too. A chat message's few hundred bytes of HTML cost less to clean here than the
        # thread hop would (bench/telegram_webhook.py).
        files = [tuple([await self._store_file(a) for a in r.attachments]) for r in batch]
        if any(r.html and len(r.html) > INLINE_HTML for r in batch):
            htmls = await asyncio.to_thread(lambda: [clean_html(r.html) for r in batch])
        else:
            htmls = [clean_html(r.html) for r in batch]
        prepared = [PreparedInbound(r, h, f) for r, h, f in zip(batch, htmls, files, strict=True)]
        items = await self.store.ingest(inbox, channel, prepared, checkpoint)
        for rec, item in zip(batch, items, strict=True):
            if item.message is None or item.conversation is None:
                log.debug("message.duplicate", inbox=inbox, external_id=rec.external_id)
                continue
            log.debug("message.received", inbox=inbox, conversation_id=item.conversation.id,
                     message_id=item.message_id, edited=item.edited)
            if item.created:
                self.bus.publish(Event(CONVERSATION_CREATED, item.conversation))
            elif item.reopened:
                self.bus.publish(Event(CONVERSATION_UPDATED, item.conversation, changes=("status",)))
            kind = MESSAGE_UPDATED if item.edited else MESSAGE_CREATED
            self.bus.publish(Event(kind, item.conversation, item.message))
        return items

    async def _without_overlong(
        self, inbox: str, channel: str, batch: Sequence[Inbound], checkpoint: str | None
    ) -> list[IngestedItem]:
        """The records whose keys fit, stored; the others quarantined (each answered as nothing new stored)."""
        reasons = [_overlong(rec) for rec in batch]
        for rec, reason in zip(batch, reasons, strict=True):
            if reason is not None:
                await self.quarantine(inbox, _as_quarantined(rec, reason), None)
        kept = [rec for rec, reason in zip(batch, reasons, strict=True) if reason is None]
        stored = iter(await self.ingest(inbox, channel, kept, checkpoint))
        return [next(stored) if reason is None else IngestedItem(None) for reason in reasons]

    async def quarantine(self, inbox: str, item: Quarantined, checkpoint: str | None) -> None:
        digest = hashlib.sha256(item.raw).hexdigest()
        if self.files.codec is not None:
            digest = self.files.codec.blind("quarantine:" + digest)
        qdir = self.data_dir / "quarantine" / inbox
        path = qdir / f"{digest}.eml"

        def write() -> None:
            qdir.mkdir(parents=True, exist_ok=True)
            codec = self.files.codec  # encryption at rest: quarantined mail is sealed like attachments
            path.write_bytes(item.raw if codec is None else codec.seal_bytes(item.raw))

        await asyncio.to_thread(write)
        key = bounded_id(item.external_id)
        await self.store.quarantine(inbox, key, item.reason, str(path), len(item.raw), checkpoint)
        log.warning("message.quarantined", inbox=inbox, external_id=key, reason=item.reason)


class InboxSink:
    """The core's side of one inbox, handed to its adapter."""

    def __init__(self, inbox: str, channel: str, pipeline: Pipeline, health: Health, *,
                 anonymous: bool = False) -> None:
        self.inbox = inbox
        self.channel = channel
        self.anonymous = anonymous
        self._pipeline = pipeline
        self._health = health

    async def ingest(self, batch: Sequence[Inbound], *, checkpoint: str | None = None) -> IngestResult:
        if self.anonymous:
            # An anonymous inbox keeps only what a reply needs (the channel's id of the person),
            # never the name or handle the channel told us.
            batch = [replace(r, sender=replace(r.sender, name=None, handle=None)) for r in batch]
        items = await self._pipeline.ingest(self.inbox, self.channel, batch, checkpoint)
        return IngestResult(tuple(i.message_id for i in items))

    async def last_checkpoint(self) -> str | None:
        return await self._pipeline.store.checkpoint(self.inbox)

    async def quarantine(self, item: Quarantined, *, checkpoint: str | None = None) -> None:
        await self._pipeline.quarantine(self.inbox, item, checkpoint)

    async def known(self, external_ids: Sequence[str]) -> set[str]:
        return await self._pipeline.store.known(self.inbox, external_ids)

    async def delivery_failed(self, external_id: str, reason: str) -> bool:
        store = self._pipeline.store
        msg = await store.mark_failed_by_external_id(self.inbox, external_id, reason)
        if msg is None:
            return False
        conv = await store.get_conversation(msg.conversation_id)
        if conv is not None:
            log.warning("reply.bounced", inbox=self.inbox, conversation_id=conv.id, message_id=msg.id)
            self._pipeline.bus.publish(Event(MESSAGE_UPDATED, conv, msg))
        return True

    async def kv_get(self, key: str) -> str | None:
        return await self._pipeline.store.kv_get(f"{self.inbox}:{key}")

    async def kv_set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        await self._pipeline.store.kv_set(f"{self.inbox}:{key}", value, ttl)

    async def send_slot(self, key: str = "", rate: float | None = None, burst: float = 1.0) -> None:
        store, name = self._pipeline.store, window_key(self.inbox, key)
        slot = await store.send_slot(name, rate, burst)
        if slot.wait > 0 and not slot.paused:
            await asyncio.sleep(slot.wait)
            # the channel may have asked for a pause while this send waited for its slot (on any instance)
            left = await store.sends_paused(name)
            slot = SendSlot(left, paused=True) if left > 0 else slot
        if slot.paused:
            raise Retry(f"the channel asked to slow down ({key or 'the inbox'}): waiting", after=slot.wait)

    def report(self, state: ChannelState, *, reason: str | None = None) -> None:
        self._health.report(self.inbox, state, reason)

    async def history(self, sender_external_id: str, limit: int = 200) -> list[PastMessage]:
        """A person's own messages and the replies they were sent (web chat reloads)."""
        found = await self._pipeline.store.identity_messages(self.inbox, sender_external_id, limit)
        return [
            PastMessage(
                m.id, m.direction.value, m.author.kind.value, m.text, m.created_at,
                tuple(PastAttachment(a.filename, a.mime, a.size) for a in m.attachments),
                delivered=m.direction is Direction.IN or m.delivery in (None, Delivery.SENT),
            )
            for m in found
        ]
