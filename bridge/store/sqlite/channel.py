"""What adapters need: ingest, checkpoints, quarantine, dedupe look-ups, a shared kv."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tpbridge.bridge.model import QuarantineEntry
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound
from tpbridge.bridge.store.sqlite import rows
from tpbridge.bridge.store.sqlite.base import SqliteBase
from tpbridge.bridge.store.sqlite.ingest import save_checkpoint
from tpbridge.bridge.store.sqlite.ingest_batch import IngestWrite, finished
from tpbridge.bridge.store.sqlite.sealing import kv_key, kv_keys, lookup_msg, seal


class ChannelStore(SqliteBase):
    async def ingest(
        self, inbox: str, channel: str, batch: Sequence[PreparedInbound], checkpoint: str | None
    ) -> list[IngestedItem]:
        items = list(batch)
        now = self.now()
        return finished(await self._write(IngestWrite(inbox, channel, items, checkpoint, now)))

    async def checkpoint(self, inbox: str) -> str | None:
        def run(c: sqlite3.Connection) -> str | None:
            row = c.execute("SELECT value FROM checkpoints WHERE inbox = ?", (inbox,)).fetchone()
            return row[0] if row else None

        return await self._read(run)

    async def quarantine(
        self, inbox: str, external_id: str, reason: str, path: str, size: int, checkpoint: str | None
    ) -> None:
        now = self.now()

        def run(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR IGNORE INTO quarantine (inbox, external_id, reason, path, size, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (inbox, external_id, reason, path, size, now),
            )
            if checkpoint is not None:
                save_checkpoint(c, inbox, checkpoint, now)

        await self._write(run)

    async def drop_quarantine(self, ids: Sequence[int]) -> None:
        await self._write(lambda c: c.executemany("DELETE FROM quarantine WHERE id = ?", [(i,) for i in ids]))

    async def list_quarantine(self, limit: int = 100) -> list[QuarantineEntry]:
        def run(c: sqlite3.Connection) -> list[QuarantineEntry]:
            return [QuarantineEntry(r["id"], r["inbox"], r["external_id"], r["reason"], r["path"], r["size"],
                                    rows.ts(r["created_at"]))  # type: ignore[arg-type]
                    for r in c.execute("SELECT * FROM quarantine ORDER BY id DESC LIMIT ?", (limit,))]

        return await self._read(run)

    async def known(self, inbox: str, external_ids: Sequence[str]) -> set[str]:
        ids = list(external_ids)
        if not ids:
            return set()

        def run(c: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                keys = {lookup_msg(c, inbox, e): e for e in chunk}  # keyed hashes when encrypted
                marks = ",".join("?" * len(chunk))
                found.update(
                    keys[r[0]] for r in c.execute(
                        f"SELECT external_id FROM messages WHERE inbox = ? AND external_id IN ({marks})",
                        (inbox, *keys),
                    )
                )
            return found

        return await self._read(run)

    async def kv_get(self, key: str) -> str | None:
        now = self.now()

        def run(c: sqlite3.Connection) -> str | None:
            keys = kv_keys(c, key)
            row = c.execute(
                f"SELECT value FROM kv WHERE key IN ({','.join('?' * len(keys))})"
                " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key = ? DESC LIMIT 1", (*keys, now, keys[0])
            ).fetchone()  # a sealed value comes back opened (the row factory)
            return row[0] if row else None

        return await self._read(run)

    async def kv_set(self, key: str, value: str, ttl: float | None) -> None:
        expires = None if ttl is None else self.now() + ttl
        await self._write(
            lambda c: c.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?,?,?) ON CONFLICT(key) DO UPDATE SET"
                " value = excluded.value, expires_at = excluded.expires_at",
                (kv_key(c, key), seal(c, value), expires),
            )
        )
