"""The in-process event bus: what changed, published after commit, fanned out to SSE and automation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from tpbridge.bridge.model import Conversation, Message

if TYPE_CHECKING:
    from tpbridge.bridge.store.protocol import Change

log = structlog.get_logger(__name__)

MESSAGE_CREATED = "message.created"
MESSAGE_UPDATED = "message.updated"  # delivery state, an edit
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"  # status, assignee, labels, priority, its contact, ...
CONVERSATION_DELETED = "conversation.deleted"  # its person was erased (the conversation as it was)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    conversation: Conversation
    message: Message | None = None
    changes: tuple[str, ...] = ()  # for conversation.updated: the fields that changed
    extra: dict[str, Any] = field(default_factory=dict)
    # Committed by another instance on the same store (bridge/relay.py): shown to this instance's
    # agents, but not acted on (its automation and metrics ran where it happened).
    remote: bool = False

    @property
    def conversation_id(self) -> int:
        return self.conversation.id

    @property
    def inbox(self) -> str:
        return self.conversation.inbox


def _change(event: Event) -> Change:
    from tpbridge.bridge.store.protocol import Change

    return Change(event.kind, event.conversation_id, event.message.id if event.message is not None else None,
                  event.changes, gone=event.conversation if event.kind == CONVERSATION_DELETED else None)


def from_change(change: Change, convs: dict[int, Conversation], msgs: dict[int, Message], *,
                remote: bool = False) -> Event | None:
    """The event a `Change` stands for, from its rows as read back (`Store.changed_rows`); None when they
    are gone since (erased). The inverse of `_change`: other instances' changes (bridge/relay.py) and what
    did not fit in a spilling subscription (the automation) come back this way."""
    if change.gone is not None:  # erased (a person's erasure, retention): what it was, nothing to read back
        return Event(change.kind, change.gone, remote=remote)
    conv = convs.get(change.conversation_id)
    if conv is None:
        return None
    msg = None
    if change.message_id is not None:
        msg = msgs.get(change.message_id)
        if msg is None:
            return None
    return Event(change.kind, conv, msg, change.changes, remote=remote)


class Subscription:
    """One consumer's queue. A consumer too slow to keep up is dropped, not the publisher slowed — or, for a
    consumer that must see every event (`spill`: the automation, which may not miss a security incident), what
    does not fit is kept as ids (`Change`, ~100 bytes instead of the objects) and read back from the store when
    the consumer gets to it (`take_spilled`), in the order it happened."""

    def __init__(self, bus: EventBus, maxsize: int, remote: bool, spill: bool = False) -> None:
        self._bus = bus
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.remote = remote
        self.spill = spill
        self.spilled: list[Change] = []

    def take_spilled(self) -> list[Change]:
        """What did not fit, oldest first; from now on events queue again (all of them newer than these)."""
        taken, self.spilled = self.spilled, []
        return taken

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def get(self, timeout: float) -> Event | None:
        """The next event, None once closed; TimeoutError after `timeout` seconds, and the subscription
        stays usable (a timeout around `anext` of the iterator would close its generator for good)."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    def close(self) -> None:
        self._bus._subs.discard(self)
        while True:  # the end must reach the consumer even past a full queue, or it waits forever
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()  # dropped anyway: it could not keep up

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def listen(self, fn: Callable[[Event], None]) -> None:
        """A synchronous consumer called inside `publish`: for quick bookkeeping (counters) that
        would otherwise cost a queue and a task wake-up per event. It must not block."""
        self._listeners.append(fn)

    def unlisten(self, fn: Callable[[Event], None]) -> None:
        self._listeners.remove(fn)

    def subscribe(self, maxsize: int = 10_000, *, remote: bool = False, spill: bool = False) -> Subscription:
        """`remote`: also what other instances committed (agents' screens); without it, this instance's own
        events only (whatever acts on an event, so that it acts once). `spill`: see Subscription."""
        sub = Subscription(self, maxsize, remote, spill)
        self._subs.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        if event.remote:
            for sub in list(self._subs):
                if sub.remote:
                    self._offer(sub, event)
            return
        for fn in self._listeners:
            try:
                fn(event)
            except Exception:  # a bookkeeping bug must not stop the event reaching the others
                log.exception("events.listener_failed", kind=event.kind, conversation_id=event.conversation_id,
                              inbox=event.inbox)
        for sub in list(self._subs):
            self._offer(sub, event)

    @staticmethod
    def _offer(sub: Subscription, event: Event) -> None:
        if sub.spilled:  # spilling: everything after goes there too, to keep the order
            sub.spilled.append(_change(event))
            return
        try:
            sub.queue.put_nowait(event)
        except asyncio.QueueFull:
            if sub.spill:
                log.warning("events.spilling", kind=event.kind, conversation_id=event.conversation_id,
                            inbox=event.inbox, queued=sub.queue.qsize())
                sub.spilled.append(_change(event))
                return
            log.warning("events.subscriber_dropped", kind=event.kind, conversation_id=event.conversation_id)
            sub.close()

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()
