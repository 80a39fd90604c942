"""The PostgreSQL store's plumbing: a connection pool, transactions, retries of what is safe to retry."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
import structlog
from psycopg import AsyncConnection, errors
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from tpbridge.bridge.crypto import Codec
from tpbridge.bridge.store.postgres import migrations, sealing, text
from tpbridge.bridge.store.protocol import StoreUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")
Conn = AsyncConnection[DictRow]
INSTANCE_TTL = 8.0  # seconds an instance's outbox claims outlive its last heartbeat
POOL_WAIT = 5.0  # seconds a request waits for a connection before it is answered 503 (the database is away)
ATTEMPTS = 3  # a deadlock or a dead pooled connection is retried; nothing else is


ENCRYPTION_VERSION = 32  # the migration that made crypto_state


async def encryption_check(conn: Conn, codec: Codec | None) -> None:
    from tpbridge.bridge.store.postgres.encryption import check  # it imports this module

    await check(conn, codec)


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class PostgresBase:
    def __init__(self, url: str, *, pool_size: int = 10, codec: Codec | None = None) -> None:
        self.url = url
        self.codec = codec  # encryption at rest (bridge/crypto.py): on the connections, see sealing.py
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url, min_size=2, max_size=pool_size, open=False, timeout=POOL_WAIT, name="tpbridge",
            connection_class=sealing.connection_class(codec),
            kwargs={"autocommit": True, "row_factory": sealing.row_factory(codec), "context": text.ADAPTERS},
            # No check on checkout (a round trip per use, which doubled a page's trips to the database):
            # after a database restart every pooled connection is dead, and the first use that finds one
            # so has the pool check them all (`_lost`) before its retry.
        )
        self._opened = False
        # Who this process is to the other instances: outbox claims and leases carry it.
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._heartbeat: asyncio.Task[None] | None = None

    async def open(self, *, upto: int | None = None) -> None:
        try:
            await self._pool.open(wait=True, timeout=30.0)
        except psycopg.Error as exc:
            await self._pool.close()
            raise StoreUnavailable(str(exc)) from exc
        async with self._pool.connection() as conn:
            await migrations.upgrade(conn, upto=upto)
            if upto is None or upto >= ENCRYPTION_VERSION:
                try:
                    await encryption_check(conn, self.codec)  # the key matches the store, or one clear line
                except BaseException:
                    await self._pool.close()
                    raise
        if upto is None:
            await self._beat()
            self._heartbeat = asyncio.create_task(self._beating(), name="pg-heartbeat")
        self._opened = True

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None
            with contextlib.suppress(Exception):
                await self._tx(self._end_beat)
        await self._closing()
        if not self._pool.closed:
            self._opened = False
            await self._pool.close(timeout=5.0)

    async def _closing(self) -> None:
        """Parts that hold tasks or connections stop here, before the pool closes."""

    # ------------------------------------------------------------ liveness
    async def _beat(self) -> None:
        async def run(c: Conn) -> None:
            await c.execute(
                "INSERT INTO leases (name, holder, expires_at)"
                " VALUES (%s, %s, extract(epoch FROM clock_timestamp()) + %s)"
                " ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
                (f"instance:{self.instance}", self.instance, INSTANCE_TTL),
            )

        await self._tx(run)

    async def _end_beat(self, c: Conn) -> None:
        await c.execute("DELETE FROM leases WHERE name = %s", (f"instance:{self.instance}",))

    async def _beating(self) -> None:
        """Renew this instance's lease: while it holds, its outbox claims hold (delivery.py)."""
        while True:
            await asyncio.sleep(INSTANCE_TTL / 4)
            try:
                await self._beat()
            except Exception as exc:  # the database is away: health shows it; claims lapse, by design
                log.warning("store.heartbeat_failed", error=str(exc))

    async def _tx(self, fn: Callable[[Conn], Awaitable[T]], *, pipeline: bool = False) -> T:
        """Run `fn` in one transaction. Retried when the database asks for it (deadlock, serialization)
        or when the connection died before the commit was sent: either way nothing was committed.

        `pipeline`: in pipeline mode, BEGIN goes with `fn`'s first statements and COMMIT with its last
        ones; `fn` waits only where it reads a result (the ingest batcher)."""
        for attempt in range(1, ATTEMPTS + 1):
            committing = False
            try:
                if pipeline:
                    async with self._pool.connection() as conn:
                        try:
                            async with conn.pipeline():
                                await conn.execute("BEGIN")
                                result = await fn(conn)
                                committing = True
                                await conn.execute("COMMIT")
                        except BaseException:
                            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                                with contextlib.suppress(psycopg.Error):
                                    await conn.execute("ROLLBACK")
                            raise
                    return result
                async with self._pool.connection() as conn, conn.transaction():
                    result = await fn(conn)
                    committing = True
                return result
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == ATTEMPTS:
                    raise
                log.info("store.retry", attempt=attempt, reason="conflict")
            except PoolTimeout as exc:  # the pool already waited for a connection: the database is away
                raise StoreUnavailable(str(exc)) from exc
            except (psycopg.OperationalError, TimeoutError) as exc:
                if committing or attempt == ATTEMPTS:
                    raise StoreUnavailable(str(exc)) from exc
                log.info("store.retry", attempt=attempt, reason="connection")
                await self._lost()
        raise AssertionError("unreachable")

    async def _lost(self) -> None:
        """A pooled connection was found dead: the others likely are too (a database restart). The pool
        tries each idle one and replaces the dead, so the retry that follows gets a live one."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pool.check(), POOL_WAIT)

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._pool.connection() as conn:
                    return await fn(conn)
            except PoolTimeout as exc:
                raise StoreUnavailable(str(exc)) from exc
            except (psycopg.OperationalError, TimeoutError) as exc:
                if attempt == ATTEMPTS:
                    raise StoreUnavailable(str(exc)) from exc
                await self._lost()
        raise AssertionError("unreachable")

    @staticmethod
    def now() -> float:
        return time.time()

    async def backup(self, path: str) -> None:
        raise NotImplementedError(
            "store.url: backups of a PostgreSQL store are made with pg_dump (or `tpbridge store copy` to a file)")
