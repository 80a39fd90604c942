"""The audit trail's table: entries are sealed in the writer thread, so the chain has one order."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from tpbridge.bridge.audit import GENESIS, AuditEntry, seal
from tpbridge.bridge.store import audit_rows
from tpbridge.bridge.store.sqlite.base import SqliteBase


class AuditStore(SqliteBase):
    async def audit_append(self, at: float, agent_id: int | None, agent: str | None, action: str,
                           object: str | None, address: str | None, detail: Mapping[str, Any]) -> AuditEntry:
        clean = json.loads(json.dumps(dict(detail), default=str))  # what is stored is what is hashed

        def run(c: sqlite3.Connection) -> AuditEntry:
            last = c.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
            new_id = (seq[0] if seq else 0) + 1
            entry = seal(AuditEntry(new_id, at, agent_id, agent, action, object, address, clean),
                         last[0] if last else GENESIS)
            c.execute(
                "INSERT INTO audit_log (id, at, agent_id, agent, action, object, address, detail, prev_hash, hash)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (entry.id, at, agent_id, agent, action, object, address,
                 json.dumps(clean, ensure_ascii=False, sort_keys=True), entry.prev_hash, entry.hash))
            return entry

        return await self._write(run)

    async def audit_list(self, limit: int, before_id: int | None, agent_id: int | None,
                         action: str | None) -> list[AuditEntry]:
        sql, args = audit_rows.list_statement("?", limit, before_id, agent_id, action)
        return await self._read(lambda c: [audit_rows.entry(r) for r in c.execute(sql, args)])

    async def audit_after(self, after_id: int, limit: int) -> list[AuditEntry]:
        return await self._read(lambda c: [audit_rows.entry(r) for r in c.execute(
            audit_rows.after_statement("?"), (after_id, limit))])

    async def audit_last_issued(self) -> int:
        def run(c: sqlite3.Connection) -> int:
            row = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
            return int(row[0]) if row else 0

        return await self._read(run)
