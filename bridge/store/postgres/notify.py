"""Events to every instance: what a transaction changed is NOTIFYed in that transaction.

NOTIFY is delivered when, and only when, its transaction commits, in commit order, to every
connection that LISTENs. So an agent connected to another instance sees exactly what was committed,
even when the instance that wrote it is killed the moment after. The payload names the event kind
(bridge/events.py) and the ids; the listening instance reads the rows (bridge/relay.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from tpbridge.bridge.events import (
    CONVERSATION_CREATED,
    CONVERSATION_DELETED,
    CONVERSATION_UPDATED,
    MESSAGE_CREATED,
    MESSAGE_UPDATED,
)
from tpbridge.bridge.model import Conversation, Priority, Status
from tpbridge.bridge.store.postgres.base import Conn
from tpbridge.bridge.store.protocol import Change, IngestedItem

log = structlog.get_logger(__name__)

CHANNEL = "tpbridge_events"
MAX_PAYLOAD = 7000  # NOTIFY's limit is 8000 bytes: longer lists go in several notifications
RECONNECT = 1.0


def ingested(items: Iterable[IngestedItem]) -> list[Change]:
    """The events bridge/pipeline.py publishes for these items, in the same order."""
    out = []
    for item in items:
        if item.message_id is None or item.conversation is None:
            continue
        conv = item.conversation.id
        if item.created:
            out.append(Change(CONVERSATION_CREATED, conv))
        elif item.reopened:
            out.append(Change(CONVERSATION_UPDATED, conv, None, ("status",)))
        out.append(Change(MESSAGE_UPDATED if item.edited else MESSAGE_CREATED, conv, item.message_id))
    return out


def message_created(conversation_id: int, message_id: int) -> list[Change]:
    return [Change(MESSAGE_CREATED, conversation_id, message_id)]


def message_updated(conversation_id: int, message_id: int) -> list[Change]:
    return [Change(MESSAGE_UPDATED, conversation_id, message_id)]


def conversation_updated(conversation_id: int, fields: Iterable[str]) -> list[Change]:
    return [Change(CONVERSATION_UPDATED, conversation_id, None, tuple(sorted(fields)))]


def conversations_updated(convs: Iterable[Conversation], fields: Iterable[str]) -> list[Change]:
    names = tuple(sorted(fields))
    return [Change(CONVERSATION_UPDATED, conv.id, None, names) for conv in convs]


def conversations_deleted(convs: Iterable[Conversation]) -> list[Change]:
    """Erased conversations (a person's erasure, retention): nothing is left to read back, so the
    notification carries what deciding who may see the event needs — never their text."""
    return [Change(CONVERSATION_DELETED, conv.id, gone=conv) for conv in convs]


def _gone_json(conv: Conversation) -> dict[str, Any]:
    return {"inbox": conv.inbox, "channel": conv.channel, "contact": conv.contact_id, "identity": conv.identity_id,
            "status": conv.status.value, "priority": int(conv.priority), "assignee": conv.assignee_id,
            "team": conv.team, "created": conv.created_at.isoformat(), "active": conv.last_activity_at.isoformat()}


def _gone_of(conversation_id: int, data: dict[str, Any]) -> Conversation:
    return Conversation(
        id=conversation_id, inbox=data["inbox"], channel=data["channel"], contact_id=data["contact"],
        identity_id=data["identity"], status=Status(data["status"]), subject=None, priority=Priority(data["priority"]),
        category=None, language=None, assignee_id=data["assignee"], team=data["team"], labels=(), thread_key=None,
        unread=0, last_message_text=None, last_message_at=None, created_at=datetime.fromisoformat(data["created"]),
        last_activity_at=datetime.fromisoformat(data["active"]))


def _change_of(entry: list[Any]) -> Change:
    kind, conv, msg, fields = entry[:4]
    gone = _gone_of(conv, entry[4]) if len(entry) > 4 and isinstance(entry[4], dict) else None
    return Change(kind, conv, msg, tuple(fields), gone)


async def notify(conn: Conn, instance: str, changes: list[Change]) -> None:
    """Queue the changes on this transaction: sent on COMMIT, dropped on ROLLBACK."""
    chunk: list[list[object]] = []
    size = 0
    for ch in changes:
        entry: list[object] = [ch.kind, ch.conversation_id, ch.message_id, list(ch.changes)]
        if ch.gone is not None:
            entry.append(_gone_json(ch.gone))
        size += len(json.dumps(entry)) + 1
        chunk.append(entry)
        if size > MAX_PAYLOAD:
            await _send(conn, instance, chunk)
            chunk, size = [], 0
    if chunk:
        await _send(conn, instance, chunk)


async def _send(conn: Conn, instance: str, chunk: list[list[object]]) -> None:
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"i": instance, "e": chunk})))


async def listen(url: str, instance: str) -> AsyncIterator[list[Change]]:
    """Every other instance's changes, as committed; reconnects (with a log line) when the database goes."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                log.info("store.listening", channel=CHANNEL)
                async for note in conn.notifies():
                    try:
                        body = json.loads(note.payload)
                    except ValueError:
                        continue
                    if body.get("i") == instance:
                        continue
                    yield [_change_of(entry) for entry in body.get("e", [])]
        except psycopg.Error as exc:
            log.warning("store.listen_lost", error=str(exc))
        await asyncio.sleep(RECONNECT)
