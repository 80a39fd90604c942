"""Replies and their outbox rows: stored together, claimed in order, recorded once."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from tpbridge.bridge.model import AuthorKind, Conversation, Message
from tpbridge.bridge.store.protocol import NewReply, OutboxItem
from tpbridge.bridge.store.sqlite import rows
from tpbridge.bridge.store.sqlite.base import SqliteBase
from tpbridge.bridge.store.sqlite.sealing import lookup_msg, seal, sealed_id


class DeliveryStore(SqliteBase):
    async def add_reply(self, reply: NewReply) -> tuple[Message, Conversation]:
        now = self.now()

        def run(c: sqlite3.Connection) -> tuple[Message, Conversation]:
            conv = rows.load_conversation(c, reply.conversation_id)
            if conv is None:
                raise LookupError(f"conversation {reply.conversation_id} not found")
            delivery = None if reply.private else "queued"
            cur = c.execute(
                "INSERT INTO messages (conversation_id, inbox, direction, author_kind, author_id, author_name,"
                " text, html, private, delivery, created_at, reply_to, auto, extra)"
                " VALUES (?,?, 'out', ?,?,?,?,?,?,?,?,?,?,?)",
                (conv.id, conv.inbox, reply.author.kind.value, reply.author.id, reply.author.name,
                 seal(c, reply.text), seal(c, reply.html), int(reply.private), delivery, now, seal(c, reply.reply_to),
                 int(reply.auto), seal(c, json.dumps(reply.extra))),
            )
            message_id: int = cur.lastrowid  # type: ignore[assignment]
            rows.insert_parts(c, message_id, reply.attachments)
            if not reply.private:
                c.execute(
                    "INSERT INTO outbox (message_id, inbox, conversation_id, due_at, created_at) VALUES (?,?,?,?,?)",
                    (message_id, conv.inbox, conv.id, now, now),
                )
            human = reply.author.kind is AuthorKind.AGENT and not reply.private
            c.execute(
                "UPDATE conversations SET last_message_text = ?, last_message_at = ?, last_activity_at = ?,"
                " updated_at = ?, unread = CASE WHEN ? THEN 0 ELSE unread END,"
                " first_response_at = CASE WHEN ? AND first_response_at IS NULL THEN ? ELSE first_response_at END"
                " WHERE id = ?",
                (seal(c, reply.text[:200]), now, now, now, human, human, now, conv.id),
            )
            return rows.load_message(c, message_id), rows.load_conversation(c, conv.id)  # type: ignore[return-value]

        return await self._write(run)

    async def due_outbox(self, inbox: str, now: float, exclude: Sequence[int], limit: int) -> list[OutboxItem]:
        skip = list(exclude)

        def run(c: sqlite3.Connection) -> list[OutboxItem]:
            # Only the oldest row of each conversation may go: order is kept even while it backs off.
            not_in = f" AND o.id NOT IN ({','.join('?' * len(skip))})" if skip else ""
            return [
                rows.outbox_item(r) for r in c.execute(
                    f"SELECT o.* FROM outbox o WHERE o.inbox = ? AND o.due_at <= ?{not_in}"
                    " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id"
                    " AND p.id < o.id) ORDER BY o.due_at, o.id LIMIT ?",
                    (inbox, now, *skip, limit),
                )
            ]

        return await self._read(run)

    async def next_due(self, inbox: str) -> float | None:
        def run(c: sqlite3.Connection) -> float | None:
            due: float | None = c.execute("SELECT MIN(due_at) FROM outbox WHERE inbox = ?", (inbox,)).fetchone()[0]
            return due

        return await self._read(run)

    async def mark_sent(self, item: OutboxItem, external_id: str) -> Message:
        now = self.now()

        def run(c: sqlite3.Connection) -> Message:
            c.execute(
                "UPDATE messages SET delivery = 'sent', error = NULL, external_id = ?, external_id_sealed = ?,"
                " sent_at = ? WHERE id = ?",
                (lookup_msg(c, item.inbox, external_id), sealed_id(c, external_id), now, item.message_id),
            )
            c.execute("DELETE FROM outbox WHERE id = ?", (item.id,))
            return rows.load_message(c, item.message_id)

        return await self._write(run)

    async def mark_failed(self, item: OutboxItem, reason: str, *, unreachable: bool) -> Message:
        def run(c: sqlite3.Connection) -> Message:
            c.execute("UPDATE messages SET delivery = 'failed', error = ? WHERE id = ?", (reason, item.message_id))
            c.execute("DELETE FROM outbox WHERE id = ?", (item.id,))
            if unreachable:
                c.execute(
                    "UPDATE identities SET unreachable = ? WHERE id ="
                    " (SELECT identity_id FROM conversations WHERE id = ?)",
                    (reason, item.conversation_id),
                )
            return rows.load_message(c, item.message_id)

        return await self._write(run)

    async def mark_failed_by_external_id(self, inbox: str, external_id: str, reason: str) -> Message | None:
        def run(c: sqlite3.Connection) -> Message | None:
            row = c.execute(
                "SELECT id FROM messages WHERE inbox = ? AND external_id = ? AND direction = 'out'",
                (inbox, lookup_msg(c, inbox, external_id)),
            ).fetchone()
            if row is None:
                return None
            c.execute("UPDATE messages SET delivery = 'failed', error = ? WHERE id = ?", (reason, row[0]))
            return rows.load_message(c, row[0])

        return await self._write(run)

    async def reschedule(self, item: OutboxItem, due_at: float, error: str) -> None:
        await self._write(
            lambda c: c.execute(
                "UPDATE outbox SET due_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
                (due_at, error, item.id),
            )
        )

    async def thread_refs(self, conversation_id: int) -> tuple[list[str], str | None]:
        """External ids of the conversation's messages, and the latest inbound one."""

        def run(c: sqlite3.Connection) -> tuple[list[str], str | None]:
            refs, last_in = [], None
            for r in c.execute(
                "SELECT coalesce(external_id_sealed, external_id), direction FROM messages WHERE conversation_id = ?"
                " AND external_id IS NOT NULL ORDER BY id",
                (conversation_id,),
            ):
                refs.append(r[0])  # the sealed copy, opened by the row factory, when encrypted
                if r[1] == "in":
                    last_in = r[0]
            return refs, last_in

        return await self._read(run)
