"""One writer thread with group commit, plus read connections off the loop.

SQLite allows one writer; a commit per request falls to a fifth of the
throughput. So every write is a function queued to ONE thread, which drains
whatever is pending and commits it in one transaction (if one function fails, the
batch is rolled back and each reruns alone, so one failure does not undo its
neighbours). No batching timer:
waiting for company halves throughput — drain what is queued, don't wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import structlog
from tpbridge.bridge.crypto import Codec
from tpbridge.bridge.store.sqlite.sealing import CodecConnection, row_factory

log = structlog.get_logger(__name__)

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]
_STOP = object()


def connect(path: Path, *, readonly: bool = False, codec: Codec | None = None) -> sqlite3.Connection:
    """A connection; with a codec, it seals and opens values (bridge/store/sqlite/sealing.py)."""
    if codec is None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.row_factory = sqlite3.Row
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30,
                               factory=CodecConnection)
        conn.codec = codec
        conn.row_factory = row_factory(codec)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA secure_delete=ON")  # erased people's rows are overwritten, not left in free pages
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


class Batchable:
    """A write that can also run together with queued writes of its kind, in one pass.

    Calling it runs it alone; `run_many` must give the same results as calling each in turn.
    """

    def __call__(self, conn: sqlite3.Connection) -> Any:
        raise NotImplementedError

    @classmethod
    def run_many(cls, conn: sqlite3.Connection, writes: list[Batchable]) -> list[Any]:
        return [w(conn) for w in writes]


class Writer:
    """Runs write functions on one connection in one thread, committing in groups."""

    def __init__(self, path: Path, codec: Codec | None = None) -> None:
        self._path = path
        self._codec = codec
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="tpbridge-writer", daemon=True)
        self._conn: sqlite3.Connection | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self.batches = 0
        self.writes = 0

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            raise self._start_error

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=10)

    async def submit(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, loop, fut))
        return await fut

    def _run(self) -> None:
        try:
            self._conn = connect(self._path, codec=self._codec)
            # checkpoints run from their own thread (see Checkpointer): a writer that
            # checkpoints inside a commit puts the fsync of the whole WAL on one request.
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException as exc:  # pragma: no cover - reported to start()
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        conn = self._conn
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            stop = False
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(conn, batch)
            if stop:
                break
        conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        # Fast path: the whole batch in one transaction. If one write fails, the batch is
        # rolled back and each write runs again in a transaction of its own, so one bad
        # write never undoes its neighbours (cheaper than a savepoint around every write).
        results = self._together(conn, batch)
        if results is None:
            results = [self._alone(conn, fn) for fn, _loop, _fut in batch]
        self.batches += 1
        self.writes += len(batch)
        # Futures resolve only now: nothing is reported written before COMMIT returned.
        # One wake-up per event loop per batch, not one per write.
        by_loop: dict[Any, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_fn, loop, fut), (ok, value) in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((fut, ok, value))
        for loop, done in by_loop.items():
            loop.call_soon_threadsafe(_resolve_all, done)

    def _together(self, conn: sqlite3.Connection, batch: list[Any]) -> list[tuple[bool, Any]] | None:
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            i = 0
            while i < len(batch):
                fn = batch[i][0]
                j = i + 1
                if isinstance(fn, Batchable):  # a run of writes of one kind goes in one pass
                    while j < len(batch) and type(batch[j][0]) is type(fn):
                        j += 1
                try:
                    if j - i > 1:
                        results.extend((True, v) for v in type(fn).run_many(conn, [b[0] for b in batch[i:j]]))
                    else:
                        results.append((True, fn(conn)))
                except BaseException as exc:
                    results.append((False, exc))  # kept only when the batch is this one write
                    raise _Failed from exc
                i = j
            conn.execute("COMMIT")
            return results
        except _Failed:
            conn.execute("ROLLBACK")
            return results if len(batch) == 1 else None
        except BaseException as exc:
            log.error("store.commit_failed", error=str(exc), batch=len(batch))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return [(False, exc)] * len(batch)

    def _alone(self, conn: sqlite3.Connection, fn: WriteFn) -> tuple[bool, Any]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            value = fn(conn)
            conn.execute("COMMIT")
            return True, value
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return False, exc


class _Failed(Exception):
    pass


def _resolve_all(done: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in done:
        if fut.cancelled():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class Readers:
    """Read connections, one per worker thread, so reads never wait for the writer."""

    def __init__(self, path: Path, workers: int = 4, codec: Codec | None = None) -> None:
        self._path = path
        self._codec = codec
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tpbridge-read")
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path, readonly=True, codec=self._codec)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self._conn()))

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._pool.submit(lambda: fn(self._conn())).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


class Checkpointer:
    """WAL checkpoints from their own thread, keeping the p99 tail off requests.

    A PASSIVE checkpoint copies what it can without blocking anyone, but under steady writes it
    never catches up at the moment a write begins, so the WAL is never restarted: it grew to
    almost 1 GB in 12 s of load, and every page read searches a longer WAL index. So once the
    WAL holds more than `restart_frames`, a RESTART follows the PASSIVE pass: it blocks the
    writer only for the few frames written since, then the next write starts the WAL over.
    """

    def __init__(self, path: Path, interval: float = 1.0, restart_frames: int = 4096) -> None:
        self._path = path
        self._interval = interval
        self._restart_frames = restart_frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tpbridge-checkpoint", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def checkpoint(self, conn: sqlite3.Connection) -> bool:
        """One round; True when the WAL was made to start over."""
        _busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames <= self._restart_frames:
            return False
        busy, _frames, _done = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        self.restarts += not busy
        return not busy

    def _run(self) -> None:
        conn = connect(self._path)
        try:
            while not self._stop.wait(self._interval):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error as exc:  # busy is fine: next round
                    log.debug("store.checkpoint_skipped", error=str(exc))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        finally:
            conn.close()
