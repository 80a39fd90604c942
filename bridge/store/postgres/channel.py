"""What adapters need: ingest, checkpoints, quarantine, dedupe look-ups, a shared kv, leases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import psycopg
from tpbridge.bridge.model import QuarantineEntry
from tpbridge.bridge.store.postgres import notify, rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.postgres.batch import IngestBatcher, IngestJob
from tpbridge.bridge.store.postgres.ingest import save_checkpoint
from tpbridge.bridge.store.postgres.text import nul_free
from tpbridge.bridge.store.protocol import Change, IngestedItem, PreparedInbound, StoreUnavailable
from tpbridge.bridge.store.sqlite.sealing import kv_key, kv_keys, lookup_msg, seal

# The database's clock, not each instance's: leases compare times written by different machines.
DB_NOW = "extract(epoch FROM clock_timestamp())"
PING_TIMEOUT = 2.0


class ChannelStore(PostgresBase):
    _batcher: IngestBatcher | None = None

    async def ingest(
        self, inbox: str, channel: str, batch: Sequence[PreparedInbound], checkpoint: str | None
    ) -> list[IngestedItem]:
        if self._batcher is None:
            self._batcher = IngestBatcher(self)
        return await self._batcher.submit(IngestJob(inbox, channel, list(batch), checkpoint, self.now()))

    async def checkpoint(self, inbox: str) -> str | None:
        async def run(c: Conn) -> str | None:
            value: str | None = await rows.value(c, "SELECT value FROM checkpoints WHERE inbox = %s", (inbox,))
            return value

        return await self._read(run)

    async def quarantine(
        self, inbox: str, external_id: str, reason: str, path: str, size: int, checkpoint: str | None
    ) -> None:
        now = self.now()

        async def run(c: Conn) -> None:
            await c.execute(
                "INSERT INTO quarantine (inbox, external_id, reason, path, size, created_at)"
                " VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (inbox, external_id) DO NOTHING",
                (inbox, external_id, reason, path, size, now),
            )
            if checkpoint is not None:
                await save_checkpoint(c, inbox, checkpoint, now)

        await self._tx(run)

    async def drop_quarantine(self, ids: Sequence[int]) -> None:
        async def run(c: Conn) -> None:
            await c.execute("DELETE FROM quarantine WHERE id = ANY(%s)", (list(ids),))

        await self._tx(run)

    async def list_quarantine(self, limit: int = 100) -> list[QuarantineEntry]:
        async def run(c: Conn) -> list[QuarantineEntry]:
            return [QuarantineEntry(r["id"], r["inbox"], r["external_id"], r["reason"], r["path"], r["size"],
                                    rows.ts(r["created_at"]))  # type: ignore[arg-type]
                    for r in await rows.all_rows(c, "SELECT * FROM quarantine ORDER BY id DESC LIMIT %s", (limit,))]

        return await self._read(run)

    async def known(self, inbox: str, external_ids: Sequence[str]) -> set[str]:
        ids = list(external_ids)
        if not ids:
            return set()

        async def run(c: Conn) -> set[str]:
            keys = {lookup_msg(c, inbox, nul_free(e)): e for e in ids}  # keyed hashes when encrypted; as stored
            found = await rows.all_rows(
                c, "SELECT external_id FROM messages WHERE inbox = %s AND external_id = ANY(%s)"
                " AND external_id IS NOT NULL",  # the partial dedupe index, also in a generic plan
                (inbox, list(keys)))
            return {keys[r["external_id"]] for r in found}

        return await self._read(run)

    async def kv_get(self, key: str) -> str | None:
        now = self.now()

        async def run(c: Conn) -> str | None:
            value: str | None = await rows.value(
                c, "SELECT value FROM kv WHERE key = ANY(%s) AND (expires_at IS NULL OR expires_at > %s)"
                " ORDER BY key = %s DESC LIMIT 1", (kv_keys(c, key), now, kv_key(c, key)))  # opened by the row factory
            return value

        return await self._read(run)

    async def kv_set(self, key: str, value: str, ttl: float | None) -> None:
        expires = None if ttl is None else self.now() + ttl

        async def run(c: Conn) -> None:
            await c.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (%s,%s,%s) ON CONFLICT (key) DO UPDATE SET"
                " value = excluded.value, expires_at = excluded.expires_at",
                (kv_key(c, key), seal(c, value), expires),
            )

        await self._tx(run)

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease `name` for `holder` for `ttl` seconds; False while another holds it."""

        async def run(c: Conn) -> bool:
            got: str | None = await rows.value(
                c,
                f"INSERT INTO leases (name, holder, expires_at) VALUES (%s, %s, {DB_NOW} + %s)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
                f" WHERE leases.holder = excluded.holder OR leases.expires_at < {DB_NOW} RETURNING holder",
                (name, holder, ttl),
            )
            return got == holder

        return await self._tx(run)

    def changes(self) -> AsyncIterator[list[Change]]:
        return notify.listen(self.url, self.instance)

    async def ping(self) -> None:
        for attempt in (1, 2):  # a dead pooled connection (the database restarted) is not an outage: once more
            try:
                async with asyncio.timeout(PING_TIMEOUT), self._pool.connection(timeout=PING_TIMEOUT) as c:
                    await c.execute("SELECT 1")
                return
            except (psycopg.Error, TimeoutError) as exc:
                if attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                    raise StoreUnavailable(str(exc) or "no answer from the database") from exc
                await self._lost()

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean stop): another instance need not wait for it to expire."""

        async def run(c: Conn) -> None:
            await c.execute("DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder))

        await self._tx(run)
