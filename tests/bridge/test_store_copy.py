"""`tpbridge store copy`: a populated SQLite store into PostgreSQL, interrupted, resumed, every table compared."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from tpbridge.adapters.base import InboundAttachment, Quarantined
from tpbridge.bridge.model import Author, AuthorKind, Role
from tpbridge.bridge.store import copy as store_copy
from tpbridge.bridge.store.copy import SKIP, PostgresEnd, SqliteEnd
from tpbridge.bridge.store.protocol import ConversationFilter

from tests.fakes.postgres import Postgres
from tests.support.core import ADMIN, inbound, running_core, sqlite_url


async def populate(tmp_path: Path, first: int, count: int) -> None:
    async with running_core(tmp_path, url=sqlite_url(tmp_path)) as core:  # the source is SQLite
        for i in range(first, first + count):
            att = (InboundAttachment("file", "text/plain", f"file {i}".encode(), f"f{i}.txt"),) if i % 5 == 0 else ()
            item = (await core.pipeline.ingest("webchat.site", "webchat", [
                inbound(f"m{i}", f"u{i % 7}", f"我的提现还没到账 {i}" if i % 2 else f"deposit {i}", attachments=att)],
                f"cp-{i}"))[0]
            conv = item.conversation
            assert conv is not None
            await core.desk.reply(conv.id, f"answer {i}", author=Author(AuthorKind.AGENT, None, "A"))
            if i % 3 == 0:
                await core.desk.set_labels(conv.id, ["vip", f"l{i}"])
                await core.store.bot_event(conv.id, "webchat.site", "webchat", "zh", answered=True)
                await core.store.start_cycle(conv.id, "webchat.site", "webchat", None, None, "zh", 1, "handoff", 1,
                                             1000.0 + i)
        if first == 0:
            agent = await core.store.add_agent("a@example.com", "A", Role.ADMIN, "hash", ["support"], ["zh"])
            await core.store.add_token(agent.id, "t" * 64, "cli")
            await core.store.add_canned("hi", "Hello!", agent.id)
            await core.store.kv_set("webchat.site:visitor_secret", "s3cret", None)
            await core.pipeline.quarantine("webchat.site", Quarantined("webchat.site", "bad", "no From", b"x"), None)
            await core.audit.record("login", agent_id=agent.id, agent="a@example.com", address="127.0.0.1")
            await core.audit.record("contact_export", agent_id=agent.id, object="contact:1")
            gone = (await core.pipeline.ingest("webchat.site", "webchat", [inbound("bye", "leaver")]))[0]
            await core.store.forget_contact(gone.conversation.contact_id)  # type: ignore[union-attr]


def copy(tmp_path: Path, src: str, dst: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "tpbridge.bridge", "store", "copy", src, dst], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def tables(src: SqliteEnd, dst: PostgresEnd) -> dict[str, tuple[list[object], list[object]]]:
    out = {}
    for table in (set(src.tables()) & set(dst.tables())) - SKIP:
        cols = [c for c in src.columns(table) if c in dst.columns(table)]
        key = dst.key(table) or cols
        out[table] = (src.read(table, cols, key, None, 10**6), dst.read(table, cols, key, None, 10**6))
    return out


class Interrupted(Exception):
    pass


def stop_in_messages(table: str, done: int, total: int) -> None:
    if table == "messages" and done >= 20:
        raise Interrupted  # as a Ctrl-C or a lost connection halfway through the biggest table


async def test_a_populated_sqlite_store_copies_to_postgresql_table_for_table_and_resumes(
    tmp_path: Path, postgres: Postgres
) -> None:
    await populate(tmp_path, 0, 24)
    src_url, dst_url = f"sqlite:///{tmp_path}/data/tpbridge.db", postgres.new_database()
    with pytest.raises(Interrupted):
        await asyncio.to_thread(store_copy.copy, src_url, dst_url, tmp_path, stop_in_messages, batch=10)
    src, dst = SqliteEnd(tmp_path / "data" / "tpbridge.db"), PostgresEnd(dst_url)
    try:
        assert 0 < dst.count("messages") < src.count("messages") and dst.count("outbox") == 0
        out = copy(tmp_path, src_url, dst_url)  # started again: continues where it stopped
        assert "messages" in out and "[##############################]" in out
        compared = tables(src, dst)
        for name in ("contacts", "messages", "outbox", "audit_log", "erased_conversations", "automation_cycles"):
            assert compared[name][0], f"{name} was not populated"
        for name, (want, got) in compared.items():
            assert got == want, name
        pairs = ["label", "conversation_id"]  # not copied: the copy's triggers made them from the labels
        labelled = src.read("conversation_labels", pairs, pairs, None, 10**6)
        assert len(labelled) >= 2 and dst.read("conversation_labels", pairs, pairs, None, 10**6) == labelled
    finally:
        src.close()
        dst.close()
    assert "copied 0 rows" in copy(tmp_path, src_url, dst_url)  # nothing left
    async with running_core(tmp_path / "pg", url=dst_url) as core:  # the copy works as a store
        page = await core.store.list_conversations(ADMIN, ConversationFilter(q="提现 15"), 100, None)
        assert [c.contact_id for c in page.items] == [2]  # sender u1 (15 % 7), the second contact: reindexed
        conv = page.items[0]
        msg = await core.desk.reply(conv.id, "after the move", author=Author(AuthorKind.AGENT, None, "A"))
        assert msg.id > 48  # the id sequences continue after the copied rows
        entry = await core.audit.record("login", agent="a@example.com")
        assert entry.id == 3  # the audit chain continues from the copied head
