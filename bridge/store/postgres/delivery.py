"""Replies and their outbox rows: stored together, claimed by one instance, in order, recorded once.

Several instances deliver from one outbox. `due_outbox` CLAIMS what it returns: it locks the rows
with FOR UPDATE SKIP LOCKED (two instances polling at once never get the same row) and writes the
instance's id on them. A claim holds while the claimant is alive — its `instance:<id>` lease is
renewed every few seconds (base.py) — so the rows of an instance that died are taken over as soon
as its lease expires. Only the oldest row of a conversation is ever due, claimed or not, so the
replies of one conversation go out in order whichever instance sends them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tpbridge.bridge.model import AuthorKind, Conversation, Message
from tpbridge.bridge.store.postgres import notify, rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.postgres.ingest import search_terms
from tpbridge.bridge.store.protocol import NewReply, OutboxItem
from tpbridge.bridge.store.sqlite.sealing import lookup_msg, seal, sealed_id

_CLAIMABLE = (
    "(o.claimed_by IS NULL OR NOT EXISTS (SELECT 1 FROM leases l WHERE l.name = 'instance:' || o.claimed_by"
    " AND l.expires_at > extract(epoch FROM clock_timestamp())))"
)


class DeliveryStore(PostgresBase):
    async def add_reply(self, reply: NewReply) -> tuple[Message, Conversation]:
        now = self.now()

        async def run(c: Conn) -> tuple[Message, Conversation]:
            conv = await rows.load_conversation(c, reply.conversation_id)
            if conv is None:
                raise LookupError(f"conversation {reply.conversation_id} not found")
            delivery = None if reply.private else "queued"
            message_id: int = await rows.value(
                c,
                "INSERT INTO messages (conversation_id, inbox, direction, author_kind, author_id, author_name,"
                " text, html, private, delivery, created_at, reply_to, auto, extra)"
                " VALUES (%s,%s, 'out', %s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                (conv.id, conv.inbox, reply.author.kind.value, reply.author.id, reply.author.name,
                 seal(c, reply.text), seal(c, reply.html), int(reply.private), delivery,
                 now, seal(c, reply.reply_to), int(reply.auto), seal(c, json.dumps(reply.extra))),
            )
            await rows.insert_parts(c, message_id, reply.attachments)
            await search_terms(c, message_id, conv.id, reply.text)
            if not reply.private:
                await c.execute(
                    "INSERT INTO outbox (message_id, inbox, conversation_id, due_at, created_at)"
                    " VALUES (%s,%s,%s,%s,%s)",
                    (message_id, conv.inbox, conv.id, now, now),
                )
            human = reply.author.kind is AuthorKind.AGENT and not reply.private
            await c.execute(
                "UPDATE conversations SET last_message_text = %s, last_message_at = %s, last_activity_at = %s,"
                " updated_at = %s, unread = CASE WHEN %s THEN 0 ELSE unread END,"
                " first_response_at = CASE WHEN %s AND first_response_at IS NULL THEN %s ELSE first_response_at END"
                " WHERE id = %s",
                (seal(c, reply.text[:200]), now, now, now, human, human, now, conv.id),
            )
            await notify.notify(c, self.instance, notify.message_created(conv.id, message_id))
            return await rows.load_message(c, message_id), await rows.load_conversation(c, conv.id)  # type: ignore[return-value]

        return await self._tx(run)

    async def due_outbox(self, inbox: str, now: float, exclude: Sequence[int], limit: int) -> list[OutboxItem]:
        skip = list(exclude)
        instance = self.instance

        async def run(c: Conn) -> list[OutboxItem]:
            found = await rows.all_rows(
                c,
                # Only the oldest row of each conversation may go: order is kept even while it backs off
                # or while another instance sends the one before it.
                f"SELECT o.* FROM outbox o WHERE o.inbox = %s AND o.due_at <= %s AND NOT (o.id = ANY(%s))"
                f" AND (o.claimed_by = %s OR {_CLAIMABLE})"
                " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id AND p.id < o.id)"
                " ORDER BY o.due_at, o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
                (inbox, now, skip, instance, limit),
            )
            if found:
                await c.execute("UPDATE outbox SET claimed_by = %s WHERE id = ANY(%s)",
                                (instance, [r["id"] for r in found]))
            return [rows.outbox_item(r) for r in found]

        return await self._tx(run)

    async def next_due(self, inbox: str) -> float | None:
        async def run(c: Conn) -> float | None:
            due: float | None = await rows.value(c, "SELECT min(due_at) FROM outbox WHERE inbox = %s", (inbox,))
            return due

        return await self._read(run)

    async def mark_sent(self, item: OutboxItem, external_id: str) -> Message:
        now = self.now()

        async def run(c: Conn) -> Message:
            await c.execute(
                "UPDATE messages SET delivery = 'sent', error = NULL, external_id = %s, external_id_sealed = %s,"
                " sent_at = %s WHERE id = %s",
                (lookup_msg(c, item.inbox, external_id), sealed_id(c, external_id), now, item.message_id),
            )
            await c.execute("DELETE FROM outbox WHERE id = %s", (item.id,))
            await notify.notify(c, self.instance, notify.message_updated(item.conversation_id, item.message_id))
            return await rows.load_message(c, item.message_id)

        return await self._tx(run)

    async def mark_failed(self, item: OutboxItem, reason: str, *, unreachable: bool) -> Message:
        async def run(c: Conn) -> Message:
            await c.execute("UPDATE messages SET delivery = 'failed', error = %s WHERE id = %s",
                            (reason, item.message_id))
            await c.execute("DELETE FROM outbox WHERE id = %s", (item.id,))
            if unreachable:
                await c.execute(
                    "UPDATE identities SET unreachable = %s WHERE id ="
                    " (SELECT identity_id FROM conversations WHERE id = %s)",
                    (reason, item.conversation_id),
                )
            await notify.notify(c, self.instance, notify.message_updated(item.conversation_id, item.message_id))
            return await rows.load_message(c, item.message_id)

        return await self._tx(run)

    async def mark_failed_by_external_id(self, inbox: str, external_id: str, reason: str) -> Message | None:
        async def run(c: Conn) -> Message | None:
            found = await rows.value(
                c, "SELECT id FROM messages WHERE inbox = %s AND external_id = %s AND direction = 'out'",
                (inbox, lookup_msg(c, inbox, external_id)),
            )
            if found is None:
                return None
            await c.execute("UPDATE messages SET delivery = 'failed', error = %s WHERE id = %s", (reason, found))
            msg = await rows.load_message(c, found)
            await notify.notify(c, self.instance, notify.message_updated(msg.conversation_id, msg.id))
            return msg

        return await self._tx(run)

    async def reschedule(self, item: OutboxItem, due_at: float, error: str) -> None:
        async def run(c: Conn) -> None:
            await c.execute(
                "UPDATE outbox SET due_at = %s, attempts = attempts + 1, last_error = %s, claimed_by = NULL"
                " WHERE id = %s",
                (due_at, error, item.id),
            )

        await self._tx(run)

    async def thread_refs(self, conversation_id: int) -> tuple[list[str], str | None]:
        """External ids of the conversation's messages, and the latest inbound one."""

        async def run(c: Conn) -> tuple[list[str], str | None]:
            refs, last_in = [], None
            for r in await rows.all_rows(
                c,
                "SELECT coalesce(external_id_sealed, external_id) AS ref, direction FROM messages"
                " WHERE conversation_id = %s AND external_id IS NOT NULL ORDER BY id",
                (conversation_id,),
            ):
                refs.append(r["ref"])  # the sealed copy, opened by the row factory, when encrypted
                if r["direction"] == "in":
                    last_in = r["ref"]
            return refs, last_in

        return await self._read(run)
