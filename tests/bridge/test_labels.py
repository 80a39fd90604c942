"""The list's label filter reads `conversation_labels`, which triggers keep in step with each conversation's
labels (migrations 38 / 36): whatever writes labels or removes conversations, the two say the same, and
the filter finds what the labels say — on SQLite by either of its two ways."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tpbridge.bridge.model import Author, AuthorKind
from tpbridge.bridge.store.postgres import PostgresStore
from tpbridge.bridge.store.protocol import ConversationFilter, PreparedInbound
from tpbridge.bridge.store.sqlite import SqliteStore
from tpbridge.bridge.store.sqlite import conversations as sqlite_conversations

from tests.fakes.postgres import Postgres
from tests.support.core import ADMIN, inbound, old_sqlite_store, running_core


def _pairs(store_url: str, tmp_path: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(label, conversation) pairs as the labels column says and as conversation_labels holds them."""
    if store_url.startswith("sqlite"):
        conn: Any = sqlite3.connect(tmp_path / "data" / "tpbridge.db")
    else:
        conn = psycopg.connect(store_url)
    with conn:
        said = {(label, conv_id) for conv_id, labels in conn.execute("SELECT id, labels FROM conversations")
                for label in json.loads(labels or "[]")}
        kept = {(label, conv_id) for label, conv_id in conn.execute(
            "SELECT label, conversation_id FROM conversation_labels")}
    return said, kept


async def _labelled(core: Any, store: Any, label: str) -> list[int]:
    page = await store.list_conversations(ADMIN, ConversationFilter(status="all", label=label), 50, None)
    return [c.id for c in page.items]


async def test_the_label_filter_follows_every_change_of_labels(tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        store = core.store
        ids = []
        for i in range(5):
            ids.append((await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"l{i}", f"p{i}")]))[0]
                       .conversation.id)
        a, b, c, d, e = ids
        await store.update_conversation(a, labels=["vip"])
        await store.update_conversation(b, labels=["vip", "billing"])
        await store.update_conversation(c, labels=["billing", "提现"])
        await store.update_conversation(e, labels=["vip"])
        assert await _labelled(core, store, "vip") == [e, b, a]  # newest activity first
        assert await _labelled(core, store, "提现") == [c]
        await store.update_conversation(b, labels=["billing"])  # replaced, not added to
        await store.update_conversation(d, status="resolved")  # other columns leave them be
        assert await _labelled(core, store, "vip") == [e, a]
        assert await _labelled(core, store, "billing") == [c, b]
        await store.update_conversation(a, labels=[])
        await store.erase_conversations([e])
        contact = (await store.get_conversation(c)).contact_id  # type: ignore[union-attr]
        await store.forget_contact(contact)
        assert await _labelled(core, store, "vip") == []
        assert await _labelled(core, store, "billing") == [b]
        assert await _labelled(core, store, "nobody's") == []
        said, kept = _pairs(store_url, tmp_path)
        assert said == kept == {("billing", b)}


def _activity_copies(store_url: str) -> list[tuple[int, float, float]]:
    """PostgreSQL's label rows carry their conversation's activity time (migration 38): (id, copy, original)."""
    with psycopg.connect(store_url) as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT c.id, l.last_activity_at, c.last_activity_at FROM conversation_labels l"
            " JOIN conversations c ON c.id = l.conversation_id")]


async def test_a_labels_page_follows_its_conversations_activity_newest_first(tmp_path: Path, store_url: str) -> None:
    """A message, a reply, an edit of labels: the label's page is in the order the inbox's is, page after page."""
    async with running_core(tmp_path, url=store_url) as core:
        store = core.store
        ids = [(await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"o{i}", f"q{i}")]))[0].conversation.id
               for i in range(4)]
        a, b, c, d = ids
        for conv in (a, b, c):
            await store.update_conversation(conv, labels=["vip", "billing"] if conv == b else ["vip"])
        assert await _labelled(core, store, "vip") == [c, b, a]
        await core.pipeline.ingest("webchat.site", "webchat", [inbound("o9", "q0")])  # a's person writes again
        assert await _labelled(core, store, "vip") == [a, c, b]
        await core.desk.reply(b, "an answer", author=Author(AuthorKind.AGENT, None, "A"))
        assert await _labelled(core, store, "vip") == [b, a, c]
        assert await _labelled(core, store, "billing") == [b]
        await core.pipeline.ingest("webchat.site", "webchat", [inbound("o8", "q3")])  # d carries no label
        await store.update_conversation(d, labels=["vip"])
        seen, cursor = [], None
        while True:  # a page at a time: the cursor follows the same order
            page = await store.list_conversations(ADMIN, ConversationFilter(status="all", label="vip"), 1, cursor)
            seen += [conv.id for conv in page.items]
            if (cursor := page.next_cursor) is None:
                break
        assert seen == [d, b, a, c]
        if store_url.startswith("postgresql"):
            copies = _activity_copies(store_url)
            assert len(copies) == 5 and all(copy == original for _, copy, original in copies), copies
            sql, args = store._list_query(ADMIN, ConversationFilter(label="vip"), 50, None)
            with psycopg.connect(store_url) as conn:  # whether the index serves it at all: the tables are tiny
                conn.execute("SET enable_seqscan = off")
                plan = " ".join(r[0] for r in conn.execute(("EXPLAIN " + sql).encode(), args))
            assert "conversation_labels_activity" in plan and "Sort" not in plan, plan  # in order, not sorted


async def test_a_label_is_found_as_written_whatever_it_holds(tmp_path: Path, store_url: str) -> None:
    """PostgreSQL writes the label into the statement's text (a plan for each label, kept): quotes,
    backslashes, placeholders and SQL in a label are found as the label they are, and find nothing else."""
    odd = ["o'brien", "back\\slash", "E'\\'", "%s", "{0}", "x') OR true --", "$1", "提现 vip", "a\u2028b"]
    async with running_core(tmp_path, url=store_url) as core:
        store = core.store
        ids = [(await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"o{i}", f"q{i}")]))[0].conversation.id
               for i in range(len(odd))]
        for conv_id, label in zip(ids, odd, strict=True):
            await store.update_conversation(conv_id, labels=[label, "plain"])
        for _ in range(6):  # past the uses after which psycopg prepares a statement
            for conv_id, label in zip(ids, odd, strict=True):
                assert await _labelled(core, store, label) == [conv_id], label
        assert await _labelled(core, store, "x') OR true") == []
        assert await _labelled(core, store, "'") == []
        assert len(await _labelled(core, store, "plain")) == len(odd)


async def test_sqlite_finds_the_same_page_by_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rare label is looked up in conversation_labels, a common one met scanning the list: same pages."""
    async with running_core(tmp_path) as core:
        store = core.store
        ids = [(await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"w{i}", f"q{i}")]))[0]
               .conversation.id for i in range(12)]
        for i, conv_id in enumerate(ids):
            await store.update_conversation(conv_id, labels=["even"] if i % 2 == 0 else ["odd", "x"])
        await store.update_conversation(ids[4], status="pending")
        cases = [ConversationFilter(status="all", label="even"), ConversationFilter(status="open", label="even"),
                 ConversationFilter(status="all", label="x"), ConversationFilter(status="all", label="none")]
        looked_up = [await store.list_conversations(ADMIN, flt, 2, None) for flt in cases]
        monkeypatch.setattr(sqlite_conversations, "LABEL_LOOKED_UP", sqlite_conversations.LABEL_SCANNED)
        scanned = [await store.list_conversations(ADMIN, flt, 2, None) for flt in cases]
        assert looked_up == scanned
        assert [c.id for c in looked_up[0].items] == [ids[10], ids[8]] and looked_up[0].next_cursor
        assert ids[4] not in {c.id for c in looked_up[1].items} and looked_up[3].items == []


def test_sqlite_looks_a_rare_label_up_and_scans_for_a_common_one() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE conversations (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE conversation_labels (label TEXT, conversation_id INTEGER,"
                 " PRIMARY KEY (label, conversation_id)) WITHOUT ROWID")
    conn.executemany("INSERT INTO conversations (id) VALUES (?)", [(i,) for i in range(1, 100_001)])
    conn.executemany("INSERT INTO conversation_labels VALUES (?, ?)",
                     [("common", i) for i in range(1, 100_001, 3)] + [("rare", i) for i in range(1, 100_001, 1000)]
                     + [("edge", i) for i in range(1, 895)] + [("over", i) for i in range(1, 896)])
    assert sqlite_conversations.label_clause(conn, "rare") == sqlite_conversations.LABEL_LOOKED_UP
    assert sqlite_conversations.label_clause(conn, "absent") == sqlite_conversations.LABEL_LOOKED_UP
    assert sqlite_conversations.label_clause(conn, "edge") == sqlite_conversations.LABEL_LOOKED_UP  # 894 = sqrt(8e5)
    assert sqlite_conversations.label_clause(conn, "over") == sqlite_conversations.LABEL_SCANNED
    assert sqlite_conversations.label_clause(conn, "common") == sqlite_conversations.LABEL_SCANNED


async def test_labels_given_before_the_upgrade_are_found_after_it(tmp_path: Path, postgres: Postgres) -> None:
    path = tmp_path / "old.db"
    conn = old_sqlite_store(path, 37)
    for conv_id, labels in ((1, '["vip", "billing"]'), (2, "[]"), (3, '["vip"]')):
        conn.execute("INSERT INTO conversations (id, inbox, channel, contact_id, identity_id, created_at,"
                     " last_activity_at, labels) VALUES (?, 'w.s', 'w', 1, 1, 0, ?, ?)", (conv_id, conv_id, labels))
    conn.close()
    url = postgres.new_database()
    old_pg = PostgresStore(url)
    await old_pg.open(upto=35)
    try:
        for i in range(3):
            conv = (await old_pg.ingest("webchat.site", "webchat", [PreparedInbound(inbound(f"u{i}", f"p{i}"), None)],
                                        None))[0].conversation
            await old_pg.update_conversation(conv.id, labels=["vip"] if i != 1 else [])
    finally:
        await old_pg.close()
    for new in (SqliteStore(path), PostgresStore(url)):
        await new.open()
        try:
            page = await new.list_conversations(ADMIN, ConversationFilter(status="all", label="vip"), 10, None)
            assert len(page.items) == 2 and {tuple(c.labels) for c in page.items} <= {("vip",), ("vip", "billing")}
            assert page.items[0].last_activity_at > page.items[1].last_activity_at  # newest first
        finally:
            await new.close()
