"""The audit trail: who did what, append-only, each entry chained to the one before by its hash.

The chain makes an edited or deleted entry visible to `tpbridge audit verify`: every entry
stores the hash of the previous one, and its own hash covers its fields and that link.
Someone who can write the database file could still rewrite the whole tail consistently;
the newest hash is therefore also written to the log (`audit.recorded`), where a copy
shipped elsewhere pins it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

GENESIS = "0" * 64

# The names the API filters by (SPEC.md "audit trail"); more are welcome, these are fixed.
ACTIONS = (
    "login", "login_failed", "logout", "conversation_read", "conversation_search", "contact_export",
    "contact_forget", "contact_merge", "contact_unmerge", "agent_create", "agent_update", "token_create",
    "token_revoke", "config_load", "key_rotate", "retention_erase",
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float  # unix seconds, UTC
    agent_id: int | None
    agent: str | None  # the agent's email at the time (kept when the agent changes), or who tried
    action: str
    object: str | None  # "conversation:12", "contact:7", "agent:3", "token:5"
    address: str | None  # the client's IP address, "cli", or the channel for a person's own request
    detail: Mapping[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""


def entry_hash(prev_hash: str, *, id: int, at: float, agent_id: int | None, agent: str | None, action: str,
               object: str | None, address: str | None, detail: Mapping[str, Any]) -> str:
    """sha256 over the previous hash and a canonical JSON of the entry's fields."""
    body = json.dumps([id, repr(at), agent_id, agent, action, object, address, dict(detail)],
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def seal(entry: AuditEntry, prev_hash: str) -> AuditEntry:
    """The entry with its link to the previous one and its own hash filled in."""
    digest = entry_hash(prev_hash, id=entry.id, at=entry.at, agent_id=entry.agent_id, agent=entry.agent,
                        action=entry.action, object=entry.object, address=entry.address, detail=entry.detail)
    return AuditEntry(entry.id, entry.at, entry.agent_id, entry.agent, entry.action, entry.object, entry.address,
                      entry.detail, prev_hash, digest)


class AuditLog(Protocol):
    """What a store keeps for the audit trail (the SQLite store: bridge/store/sqlite/audit.py)."""

    async def audit_append(self, at: float, agent_id: int | None, agent: str | None, action: str,
                           object: str | None, address: str | None, detail: Mapping[str, Any]) -> AuditEntry: ...
    async def audit_list(self, limit: int, before_id: int | None, agent_id: int | None,
                         action: str | None) -> list[AuditEntry]: ...
    async def audit_after(self, after_id: int, limit: int) -> list[AuditEntry]: ...
    async def audit_last_issued(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Broken:
    entry_id: int
    reason: str


async def _entries(store: AuditLog, page: int = 1000) -> AsyncIterator[AuditEntry]:
    after = 0
    while True:
        batch = await store.audit_after(after, page)
        if not batch:
            return
        for entry in batch:
            yield entry
        after = batch[-1].id


async def verify(store: AuditLog) -> tuple[int, Broken | None]:
    """Walk the chain from the first entry: (entries checked, the first broken one or None)."""
    prev_hash, prev_id, count = GENESIS, 0, 0
    async for entry in _entries(store):
        if entry.id != prev_id + 1:
            return count, Broken(entry.id, f"entries {prev_id + 1}..{entry.id - 1} are missing (deleted)")
        if entry.prev_hash != prev_hash:
            return count, Broken(entry.id, "its link to the previous entry does not match (an entry was changed)")
        if seal(entry, prev_hash).hash != entry.hash:
            return count, Broken(entry.id, "its content does not match its hash (the entry was changed)")
        prev_hash, prev_id, count = entry.hash, entry.id, count + 1
    last = await store.audit_last_issued()
    if last > prev_id:
        return count, Broken(prev_id + 1, f"entries {prev_id + 1}..{last} are missing (deleted from the end)")
    return count, None


class Audit:
    """Records entries; one per daemon or command, handed down like the store."""

    def __init__(self, store: AuditLog) -> None:
        self.store = store

    async def record(self, action: str, *, agent_id: int | None = None, agent: str | None = None,
                     object: str | None = None, address: str | None = None, **detail: Any) -> AuditEntry:
        entry = await self.store.audit_append(datetime.now(UTC).timestamp(), agent_id, agent, action, object,
                                              address, detail)
        log.info("audit.recorded", audit_id=entry.id, action=action, agent_id=agent_id, object=object,
                 hash=entry.hash)
        return entry


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """An entry in the API's shape (SPEC.md: id, at, agent, action, object, address, ...)."""
    from tpbridge.bridge.model import iso

    return {
        "id": entry.id,
        "at": iso(datetime.fromtimestamp(entry.at, UTC)),
        "agent": None if entry.agent_id is None and entry.agent is None
        else {"id": entry.agent_id, "email": entry.agent},
        "action": entry.action,
        "object": entry.object,
        "address": entry.address,
        "detail": dict(entry.detail),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
