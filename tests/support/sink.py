"""An in-memory Sink for adapter tests that need no daemon.

It keeps the core's contract (dedupe by external id, checkpoint with the batch)
so an adapter can be exercised at the wire with a fake server on one side and
this on the other. End-to-end behaviour is proven with the real daemon
(tests/support/daemon.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tpbridge.adapters.base import ChannelState, Inbound, IngestResult, PastMessage, Quarantined, Retry
from tpbridge.bridge.send_windows import MemoryWindows


class RecordingSink:
    def __init__(self, inbox: str) -> None:
        self.inbox = inbox
        self.records: list[Inbound] = []
        self.quarantined: list[Quarantined] = []
        self.checkpoint: str | None = None
        self.states: list[tuple[ChannelState, str | None]] = []
        self.failed: dict[str, str] = {}
        self.outbound_ids: set[str] = set()
        self._kv: dict[str, tuple[str, float | None]] = {}
        self.windows = MemoryWindows()
        self._ids: set[str] = set()
        self._changed = asyncio.Condition()

    async def ingest(self, batch: Sequence[Inbound], *, checkpoint: str | None = None) -> IngestResult:
        ids: list[int | None] = []
        for item in batch:
            if item.external_id in self._ids:
                ids.append(None)
                continue
            self._ids.add(item.external_id)
            self.records.append(item)
            ids.append(len(self.records))
        if checkpoint is not None:
            self.checkpoint = checkpoint
        async with self._changed:
            self._changed.notify_all()
        return IngestResult(tuple(ids))

    async def last_checkpoint(self) -> str | None:
        return self.checkpoint

    async def quarantine(self, item: Quarantined, *, checkpoint: str | None = None) -> None:
        self.quarantined.append(item)
        if checkpoint is not None:
            self.checkpoint = checkpoint
        async with self._changed:
            self._changed.notify_all()

    async def known(self, external_ids: Sequence[str]) -> set[str]:
        return {e for e in external_ids if e in self._ids or e in self.outbound_ids}

    async def delivery_failed(self, external_id: str, reason: str) -> bool:
        if external_id not in self.outbound_ids:
            return False
        self.failed[external_id] = reason
        return True

    async def kv_get(self, key: str) -> str | None:
        value = self._kv.get(key)
        if value is None or (value[1] is not None and value[1] < time.time()):
            return None
        return value[0]

    async def kv_set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        self._kv[key] = (value, None if ttl is None else time.time() + ttl)

    async def send_slot(self, key: str = "", rate: float | None = None, burst: float = 1.0) -> None:
        slot = self.windows.slot(key, rate, burst)
        if slot.wait > 0 and not slot.paused:
            await asyncio.sleep(slot.wait)
            if self.windows.paused_for(key) > 0:
                raise Retry("paused", after=self.windows.paused_for(key))
        if slot.paused:
            raise Retry("paused", after=slot.wait)

    def report(self, state: ChannelState, *, reason: str | None = None) -> None:
        self.states.append((state, reason))

    async def history(self, sender_external_id: str, limit: int = 200) -> list[PastMessage]:
        mine = [(i, r) for i, r in enumerate(self.records, 1) if r.sender.external_id == sender_external_id]
        return [PastMessage(i, "in", "contact", r.text, r.sent_at) for i, r in mine[-limit:]]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Inbound]:
        """Wait until at least `count` records (plus quarantined) arrived."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.records) + len(self.quarantined) >= count),
                timeout,
            )
        return self.records


@contextlib.asynccontextmanager
async def receiving(adapter: Any, sink: RecordingSink) -> AsyncIterator[asyncio.Task[None]]:
    """The adapter entered and receiving, as the core's supervisor runs it; cancelled at the end.

    If `run` died on its own meanwhile, its exception surfaces here and fails the test.
    """
    async with adapter:
        task = asyncio.create_task(adapter.run(sink))
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
