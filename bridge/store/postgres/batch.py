"""Group commit for PostgreSQL: ingests that arrive together share one transaction.

A commit waits for the WAL to reach the disk; one per web chat message would make the disk's
flush rate the ceiling. So, like the SQLite writer, a few workers each take whatever ingests are
queued, run them in ONE transaction and commit once. No timer: what is queued goes, nothing waits
for company. If the shared transaction fails, each ingest runs again alone, so one bad record
never undoes its neighbours. Locks are taken for the whole group at once, in sorted order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
from tpbridge.bridge.store.postgres.base import Conn
from tpbridge.bridge.store.postgres.ingest import batch_locks, ingest_tx, take_locks
from tpbridge.bridge.store.postgres.ingest_batch import Burst, Job, burst, is_plain
from tpbridge.bridge.store.postgres.notify import ingested, notify
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound, StoreUnavailable

if TYPE_CHECKING:
    from tpbridge.bridge.store.postgres.base import PostgresBase

log = structlog.get_logger(__name__)

WORKERS = 3  # transactions in flight at once: commits overlap with the next group's statements
MAX_GROUP = 200  # records per transaction


@dataclass(slots=True)
class IngestJob:
    inbox: str
    channel: str
    batch: list[PreparedInbound]
    checkpoint: str | None
    now: float
    future: asyncio.Future[list[IngestedItem]] | None = field(default=None)


class IngestBatcher:
    def __init__(self, store: PostgresBase, workers: int = WORKERS) -> None:
        self._store = store
        self._queue: asyncio.Queue[IngestJob] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._size = workers
        self.transactions = 0
        self.jobs = 0

    async def submit(self, job: IngestJob) -> list[IngestedItem]:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(), name=f"pg-ingest-{i}") for i in range(self._size)]
        job.future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(job)
        return await job.future

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    async def _work(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].batch)
            while size < MAX_GROUP:
                try:
                    job = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                group.append(job)
                size += len(job.batch)
            await self._run(group)

    async def _run(self, group: list[IngestJob]) -> None:
        if len(group) > 1:
            try:
                results = await _finished(group, await self._store._tx(
                    lambda c: _together(c, group, self._store.instance), pipeline=True))
            except StoreUnavailable as exc:  # not one bad record: the database is away, for all of them
                for job in group:
                    _resolve(job, None, exc)
                return
            except Exception as exc:  # one of them is bad: each again alone, below
                log.debug("store.group_failed", error=str(exc), jobs=len(group))
            else:
                self.transactions += 1
                self.jobs += len(group)
                for job, result in zip(group, results, strict=True):
                    _resolve(job, result, None)
                return
        for job in group:
            try:
                alone = await _finished([job], await self._store._tx(_alone(job, self._store.instance),
                                                                     pipeline=True))
            except BaseException as exc:
                _resolve(job, None, exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                self.transactions += 1
                self.jobs += 1
                _resolve(job, alone[0], None)


async def _together(conn: Conn, group: list[IngestJob], instance: str) -> list[list[IngestedItem] | Burst]:
    """The group's work, in order: runs of plain ingests as one burst (ingest_batch.py), others one by one.
    A burst's items are built once the transaction has committed (`_finished`)."""
    keys: set[int] = set()
    for job in group:
        keys.update(batch_locks(job.inbox, job.batch))
    locks = sorted(keys)
    out: list[list[IngestedItem] | Burst] = []
    changes = []
    run: list[IngestJob] = []

    async def flush() -> None:
        nonlocal locks
        if run:
            done = await burst(conn, [Job(j.inbox, j.channel, j.batch, j.checkpoint, j.now) for j in run], locks)
            locks = []
            out.extend([done] * len(run))
            changes.extend(done.changes)
            run.clear()

    sealing = getattr(conn, "codec", None) is not None  # the burst writes values in bulk SQL: not sealed ones
    for job in group:
        if not sealing and is_plain(job.batch):
            run.append(job)
            continue
        await flush()
        if locks:
            await take_locks(conn, locks)
            locks = []
        items = await ingest_tx(conn, job.inbox, job.channel, job.batch, job.checkpoint, job.now)
        out.append(items)
        changes.extend(ingested(items))
    await flush()
    await notify(conn, instance, changes)
    return out


async def _finished(group: list[IngestJob], outcome: list[list[IngestedItem] | Burst]) -> list[list[IngestedItem]]:
    built: dict[int, list[list[IngestedItem]]] = {}
    position: dict[int, int] = {}
    results = []
    for result in outcome:
        if isinstance(result, Burst):
            if id(result) not in built:
                built[id(result)] = await result.items()
            n = position.get(id(result), 0)
            position[id(result)] = n + 1
            results.append(built[id(result)][n])
        else:
            results.append(result)
    return results


def _alone(job: IngestJob, instance: str) -> Callable[[Conn], Awaitable[list[list[IngestedItem] | Burst]]]:
    return lambda c: _together(c, [job], instance)


def _resolve(job: IngestJob, result: list[IngestedItem] | None, exc: BaseException | None) -> None:
    fut = job.future
    if fut is None or fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)  # type: ignore[arg-type]
