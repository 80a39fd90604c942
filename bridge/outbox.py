"""Reply delivery: claim due rows in order per conversation, send, then record once.

One worker per inbox. A row stays in the outbox until the channel accepted or
refused it for good, so a crash or restart only ever re-sends (at least once),
and the message row is recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Mapping

import structlog
from tpbridge.adapters.base import (
    Adapter,
    BadCredentials,
    ChannelState,
    Outbound,
    OutboundAttachment,
    Rejected,
    Retry,
    backoff,
)
from tpbridge.bridge.attachments import AttachmentStore
from tpbridge.bridge.events import MESSAGE_UPDATED, Event, EventBus
from tpbridge.bridge.health import Health
from tpbridge.bridge.model import Message
from tpbridge.bridge.send_windows import window_key
from tpbridge.bridge.store.protocol import OutboxItem, Store, StoreUnavailable

log = structlog.get_logger(__name__)

BASE_DELAY = 2.0
MAX_DELAY = 600.0
MAX_ATTEMPTS = 30  # with the cap, about four hours of trying before the reply is marked failed
CONCURRENCY = 8  # conversations sent at once per inbox; within one conversation, strictly one


class InboxWorker:
    def __init__(self, inbox: str, adapter: Adapter, store: Store, bus: EventBus, files: AttachmentStore,
                 health: Health) -> None:
        self.inbox = inbox
        self.adapter = adapter
        self.store = store
        self.bus = bus
        self.files = files
        self.health = health
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self._refused: str | None = None  # the bad-credentials reason this worker reported, until a send works
        self._log = log.bind(inbox=inbox)

    def wake(self) -> None:
        self._wake.set()

    def stopping(self) -> bool:
        """A method, not a flag read inline: drain() sets it while run() awaits."""
        return self._stopping

    async def run(self) -> None:
        sem = asyncio.Semaphore(CONCURRENCY)
        try:
            while not self.stopping():
                self._wake.clear()
                paused = await self.store.sends_paused(window_key(self.inbox))
                if paused > 0:  # the channel asked (here or on another instance): claim nothing until then
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(paused, 30.0)):
                            await self._wake.wait()
                    continue
                now = time.time()
                due = await self.store.due_outbox(self.inbox, now, list(self._in_flight), CONCURRENCY * 2)
                for item in due:
                    if self.stopping():  # drain() may have been called while we waited for a slot
                        break
                    await sem.acquire()
                    task = asyncio.create_task(self._deliver(item, sem), name=f"outbox-{self.inbox}-{item.id}")
                    self._in_flight[item.id] = task
                    task.add_done_callback(functools.partial(self._done, item.id))
                if due:
                    continue
                nxt = await self.store.next_due(self.inbox)
                timeout = 30.0 if nxt is None else max(0.05, min(30.0, nxt - time.time()))
                if self._in_flight:
                    timeout = min(timeout, 1.0)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancel
                        await self._wake.wait()
        finally:
            if self._in_flight:
                await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def _done(self, item_id: int, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(item_id, None)
        if not task.cancelled() and task.exception() is not None:
            self._log.error("outbox.worker_error", error=repr(task.exception()))
        self._wake.set()

    async def drain(self, timeout: float) -> None:
        """Stop claiming; let in-flight sends finish (they are recorded) within `timeout`."""
        self._stopping = True
        self._wake.set()
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=timeout)

    async def _outbound(self, item: OutboxItem, msg: Message) -> Outbound:
        conv = await self.store.get_conversation(item.conversation_id)
        assert conv is not None
        contact = await self.store.get_contact(conv.contact_id)
        identities = contact.identities if contact else ()
        recipient = next((i.external_id for i in identities if i.id == conv.identity_id), "")
        refs, last_in = await self.store.thread_refs(conv.id)
        return Outbound(
            inbox=self.inbox, message_id=msg.id, conversation_id=conv.id, recipient=recipient, text=msg.text,
            html=msg.html,
            attachments=tuple(
                OutboundAttachment(a.kind, a.mime, a.filename or "file", a.size, self.files.source(a.sha256))
                for a in msg.attachments
            ),
            reply_to=msg.reply_to or last_in, quote=msg.reply_to is not None, subject=conv.subject,
            thread_refs=tuple(refs), thread_key=conv.thread_key, auto=msg.auto,
            conversation_attrs=conv.attrs, attempt=item.attempts + 1, public=conv.public,
            reply_window_ends_at=conv.reply_window_ends_at,
        )

    async def _deliver(self, item: OutboxItem, sem: asyncio.Semaphore) -> None:
        try:
            msg = await self.store.get_message(item.message_id)
            if msg is None:
                return
            out = await self._outbound(item, msg)
            lg = self._log.bind(conversation_id=item.conversation_id, message_id=item.message_id, attempt=out.attempt)
            try:
                sent = await self.adapter.send(out)
            except Retry as exc:
                if exc.throttle is not None and exc.after:  # every instance holds back, not only this reply
                    await self.store.pause_sends(window_key(self.inbox, exc.throttle), exc.after)
                    lg.info("reply.throttled", key=exc.throttle or "inbox", seconds=round(exc.after, 3))
                await self._retry(item, exc.reason, exc.after, lg)
                return
            except Rejected as exc:
                done = await self.store.mark_failed(item, exc.reason, unreachable=exc.unreachable)
                lg.warning("reply.failed", reason=exc.reason, unreachable=exc.unreachable)
                await self._publish(done)
                return
            except BadCredentials as exc:
                self._refused = str(exc) or "credentials refused"
                self.health.report(self.inbox, ChannelState.BAD_CREDENTIALS, self._refused)
                await self._retry(item, f"bad credentials: {exc}", 60.0, lg)
                return
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as exc:  # the attachment store (or the database) is away: try again later
                await self._retry(item, str(exc), None, lg)
                return
            except Exception as exc:  # an adapter bug must not lose the reply: retry it
                lg.exception("reply.send_crashed")
                await self._retry(item, f"{type(exc).__name__}: {exc}", None, lg)
                return
            self._accepted()
            done = await self.store.mark_sent(item, sent.external_id)
            lg.info("reply.sent", external_id=sent.external_id)
            await self._publish(done)
        finally:
            sem.release()

    async def _retry(self, item: OutboxItem, reason: str, after: float | None, lg: structlog.BoundLogger) -> None:
        attempt = item.attempts + 1
        if attempt >= MAX_ATTEMPTS:
            done = await self.store.mark_failed(item, f"gave up after {attempt} attempts: {reason}", unreachable=False)
            lg.warning("reply.failed", reason=reason, gave_up=True)
            await self._publish(done)
            return
        delay = max(after, 0.0) if after is not None else backoff(attempt, base=BASE_DELAY, cap=MAX_DELAY)
        await self.store.reschedule(item, time.time() + delay, reason)
        lg.info("reply.retry", reason=reason, delay=round(delay, 3))

    def _accepted(self) -> None:
        """A send worked: the credentials this worker found refused are fixed (an IP whitelist, a secret).

        Only our own report is cleared: a refusal the receiving side reported stays until it reconnects.
        """
        if self._refused is None:
            return
        state = self.health.get(self.inbox)
        if state is not None and state.state is ChannelState.BAD_CREDENTIALS and state.reason == self._refused:
            self.health.report(self.inbox, ChannelState.CONNECTED)
        self._refused = None

    async def _publish(self, msg: Message) -> None:
        conv = await self.store.get_conversation(msg.conversation_id)
        if conv is not None:
            self.bus.publish(Event(MESSAGE_UPDATED, conv, msg))


class Outbox:
    """All inbox workers; the daemon's supervisor runs each `InboxWorker.run`."""

    def __init__(self, workers: Mapping[str, InboxWorker]) -> None:
        self.workers = dict(workers)

    def wake(self, inbox: str) -> None:
        worker = self.workers.get(inbox)
        if worker is not None:
            worker.wake()

    async def drain(self, timeout: float) -> None:
        await asyncio.gather(*(w.drain(timeout) for w in self.workers.values()))
