"""The PostgreSQL store's batcher: a group of plain ingests in one pass stores what ingest_tx would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tpbridge.bridge.store.postgres import PostgresStore
from tpbridge.bridge.store.postgres import rows as pg_rows
from tpbridge.bridge.store.postgres.ingest import ingest_tx
from tpbridge.bridge.store.postgres.ingest_batch import Burst, Job, burst, is_plain
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound

from tests.fakes.postgres import Postgres
from tests.support.core import inbound


async def test_on_postgresql_a_group_in_one_pass_stores_what_one_at_a_time_would(postgres: Postgres) -> None:
    # The batcher's set-wise path for plain messages (ingest_batch.py) against ingest_tx, on the same store
    # state: new and known senders, a redelivery inside the group and of a stored message, a snoozed
    # conversation woken, a resolved one replaced, a first name filled in, checkpoints.
    sent = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)

    def p(*a: Any, **k: Any) -> list[PreparedInbound]:
        return [PreparedInbound(inbound(*a, sent_at=sent, **k), None)]

    group = [
        Job("webchat.site", "webchat", p("b1", "old", "again"), None, 10.0),
        Job("webchat.site", "webchat", p("b2", "new1", "hi") + p("b2b", "new1", "more", name="Ann"), "cp-a", 11.0),
        Job("webchat.site", "webchat", p("b2", "new1", "hi"), None, 12.0),  # a redelivery in the group
        Job("webchat.site", "webchat", p("b3", "snoozer", "back"), None, 13.0),
        Job("webchat.site", "webchat", p("b5", "new1", "还有 😀 more"), "cp-b", 15.123456789),
        Job("webchat.site", "webchat", p("a0", "old", "dup of a stored one"), None, 16.0),
        Job("webchat.site", "webchat", p("b6", "done", "after resolve 提现"), None, 17.0),
        Job("webchat.other", "webchat", p("b1", "old", "same ids, another inbox"), None, 18.0),
    ]
    assert all(is_plain(j.batch) for j in group)

    async def dump(one_pass: bool) -> tuple[object, ...]:
        store = PostgresStore(postgres.new_database())
        store.now = lambda: 1.0  # type: ignore[method-assign]  # the seed's times, the same in both stores
        await store.open()
        try:
            for e, s in (("a0", "old"), ("a1", "snoozer"), ("a2", "done")):
                await store.ingest("webchat.site", "webchat", p(e, s), None)

            async def prepare(c: Any) -> None:
                await c.execute("UPDATE conversations SET status = 'snoozed', snoozed_until = 99 WHERE identity_id = 2")
                await c.execute("UPDATE conversations SET status = 'resolved' WHERE identity_id = 3")

            await store._tx(prepare)

            async def run(c: Any) -> Burst | list[list[IngestedItem]]:
                if one_pass:
                    return await burst(c, group, [])
                return [await ingest_tx(c, j.inbox, j.channel, j.batch, j.checkpoint, j.now) for j in group]

            out = await store._tx(run, pipeline=one_pass)
            items = await out.items() if isinstance(out, Burst) else out

            async def read(c: Any) -> tuple[object, ...]:
                async def q(sql: str) -> list[tuple[object, ...]]:
                    return [tuple(r.values()) for r in await (await c.execute(sql)).fetchall()]

                ext = {r[0]: r[1] for r in await q("SELECT id, inbox || '/' || external_id FROM messages")}
                results = [[(ext.get(i.message_id), i.created, i.conversation.id if i.conversation else None)
                             for i in r] for r in items]
                latest = {i.conversation.id: i.conversation for r in items for i in r if i.conversation}
                for conv in latest.values():  # the conversation handed to events is what a later read gives
                    row = await (await c.execute("SELECT * FROM conversations WHERE id = %s", (conv.id,))).fetchone()
                    assert conv == pg_rows.conversation(row)
                return (
                    results,
                    await q("SELECT inbox, external_id, conversation_id, direction, author_kind, author_id,"
                            " author_name, text, html, private, created_at, sent_at, reply_to, extra FROM messages"
                            " ORDER BY id"),
                    await q("SELECT id, identity_id, contact_id, status, snoozed_until, unread, last_message_text,"
                            " last_activity_at, updated_at, language FROM conversations ORDER BY id"),
                    await q("SELECT i.id, i.contact_id, i.external_id, i.handle, c.name, c.anonymous FROM identities i"
                            " JOIN contacts c ON c.id = i.contact_id ORDER BY i.id"),
                    await q("SELECT m.inbox, m.external_id, s.conversation_id, s.terms::text FROM message_search s"
                            " JOIN messages m ON m.id = s.message_id ORDER BY m.id"),
                    await q("SELECT inbox, value, updated_at FROM checkpoints ORDER BY inbox"),
                )

            return await store._read(read)
        finally:
            await store.close()

    one_pass = await dump(True)
    one_by_one = await dump(False)
    for got, want in zip(one_pass, one_by_one, strict=True):
        assert got == want
    assert one_pass[0][5] == [(None, False, None)]  # type: ignore[index]  # the stored one: a duplicate
