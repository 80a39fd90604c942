"""The audit trail's table: appends lock one state row, so the chain has one order across instances."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tpbridge.bridge.audit import GENESIS, AuditEntry, seal
from tpbridge.bridge.store import audit_rows
from tpbridge.bridge.store.postgres import rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase


class AuditStore(PostgresBase):
    async def audit_append(self, at: float, agent_id: int | None, agent: str | None, action: str,
                           object: str | None, address: str | None, detail: Mapping[str, Any]) -> AuditEntry:
        clean = json.loads(json.dumps(dict(detail), default=str))  # what is stored is what is hashed

        async def run(c: Conn) -> AuditEntry:
            state = await rows.one(c, "SELECT last_id, last_hash FROM audit_state WHERE id = 1 FOR UPDATE")
            assert state is not None
            entry = seal(AuditEntry(state["last_id"] + 1, at, agent_id, agent, action, object, address, clean),
                         state["last_hash"] or GENESIS)
            await c.execute(
                "INSERT INTO audit_log (id, at, agent_id, agent, action, object, address, detail, prev_hash, hash)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (entry.id, at, agent_id, agent, action, object, address,
                 json.dumps(clean, ensure_ascii=False, sort_keys=True), entry.prev_hash, entry.hash))
            await c.execute("UPDATE audit_state SET last_id = %s, last_hash = %s WHERE id = 1",
                            (entry.id, entry.hash))
            return entry

        return await self._tx(run)

    async def audit_list(self, limit: int, before_id: int | None, agent_id: int | None,
                         action: str | None) -> list[AuditEntry]:
        sql, args = audit_rows.list_statement("%s", limit, before_id, agent_id, action)

        async def run(c: Conn) -> list[AuditEntry]:
            return [audit_rows.entry(r) for r in await rows.all_rows(c, sql, args)]

        return await self._read(run)

    async def audit_after(self, after_id: int, limit: int) -> list[AuditEntry]:
        async def run(c: Conn) -> list[AuditEntry]:
            return [audit_rows.entry(r) for r in await rows.all_rows(
                c, audit_rows.after_statement("%s"), (after_id, limit))]

        return await self._read(run)

    async def audit_last_issued(self) -> int:
        async def run(c: Conn) -> int:
            return int(await rows.value(c, "SELECT last_id FROM audit_state WHERE id = 1") or 0)

        return await self._read(run)
