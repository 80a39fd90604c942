"""U+0000 in whatever a channel hands the store, on both stores: SQLite keeps it, PostgreSQL (whose text and jsonb
cannot hold it) writes U+FFFD — never a database error that would turn a channel's delivery into a 503 retried
forever, or stop a `tpbridge store copy`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tpbridge.adapters.base import ThreadHint
from tpbridge.bridge.store import copy as store_copy
from tpbridge.bridge.store.copy import PostgresEnd
from tpbridge.bridge.store.protocol import ConversationFilter

from tests.fakes.postgres import Postgres
from tests.support.core import ADMIN, inbound, running_core, sqlite_url

NUL = "a\x00b"
SHOWN = {"a\x00b", "a\ufffdb"}  # as written on SQLite, as PostgreSQL keeps it

# Each is a look-up as well as a value: threading by key, joining by reference, the quoted message, the edited one.
HINTS: dict[str, dict[str, Any]] = {
    "thread key": {"thread": ThreadHint(key=NUL)},
    "references": {"thread": ThreadHint(references=(NUL,), per_thread=True)},
    "reply to": {"reply_to": NUL},
    "edit of": {"edit_of": NUL},
    "conversation attrs": {"conversation_attrs": {"k": NUL, NUL: [NUL]}},
    "message extra": {"extra": {"k": NUL}},
}


@pytest.mark.parametrize("hint", list(HINTS))
async def test_a_record_with_u0000_where_the_store_looks_it_up_is_stored(
        tmp_path: Path, store_url: str, hint: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        first = (await core.pipeline.ingest("webchat.site", "webchat", [inbound(NUL, NUL, "first")]))[0]
        item = (await core.pipeline.ingest("webchat.site", "webchat", [inbound("x", NUL, "hi", **HINTS[hint])]))[0]
        assert item.message_id is not None and item.conversation is not None
        if hint == "thread key":  # a key is found again as it was stored
            again = (await core.pipeline.ingest("webchat.site", "webchat", [inbound("y", "other", "too",
                                                                                    **HINTS[hint])]))[0]
            assert again.conversation.id == item.conversation.id  # type: ignore[union-attr]
        if hint == "conversation attrs":
            conv = await core.store.get_conversation(item.conversation.id)
            assert conv is not None and conv.attrs["k"] in SHOWN
        assert first.message_id is not None
        assert await core.store.known("webchat.site", [NUL]) == {NUL}  # the id asked for, as the caller wrote it


async def test_channel_look_ups_and_settings_with_u0000_answer_on_both_stores(tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        assert await core.store.known("webchat.site", [NUL]) == set()
        await core.store.kv_set(NUL, NUL, None)
        assert await core.store.kv_get(NUL) in SHOWN
        assert await core.store.mark_failed_by_external_id("webchat.site", NUL, NUL) is None
        assert await core.store.identity_messages("webchat.site", NUL, 10) == []
        await core.pipeline.ingest("webchat.site", "webchat", [inbound("c1", "u1", "hi")], NUL)
        assert await core.store.checkpoint("webchat.site") in SHOWN
        conv = (await core.pipeline.ingest("webchat.site", "webchat", [inbound("c2", "u1", "hi")]))[0].conversation
        assert conv is not None
        updated = await core.store.update_conversation(conv.id, attrs={"note": NUL}, labels=[NUL, "vip"])
        assert updated.attrs["note"] in SHOWN and set(updated.labels) & SHOWN


async def test_a_sqlite_store_holding_u0000_copies_to_postgresql(tmp_path: Path, postgres: Postgres) -> None:
    async with running_core(tmp_path, url=sqlite_url(tmp_path)) as core:
        item = (await core.pipeline.ingest("webchat.site", "webchat", [inbound(NUL, NUL, f"text {NUL}")], NUL))[0]
        assert item.conversation is not None
        await core.store.update_conversation(item.conversation.id, attrs={"k": NUL}, labels=[NUL])
    dst_url = postgres.new_database()
    await asyncio.to_thread(store_copy.copy, sqlite_url(tmp_path), dst_url, tmp_path)
    dst = PostgresEnd(dst_url)
    try:
        assert dst.read("messages", ["text", "external_id"], ["id"], None, 10) == [("text a\ufffdb", "a\ufffdb")]
        assert dst.read("conversation_labels", ["label"], ["label"], None, 10) == [("a\ufffdb",)]  # read as jsonb
    finally:
        dst.close()
    async with running_core(tmp_path / "pg", url=dst_url) as core:  # its JSON is read as jsonb alike
        conv = (await core.store.list_conversations(ADMIN, ConversationFilter(label="a\ufffdb"), 10, None)).items[0]
        assert conv.attrs["k"] == "a\ufffdb" and list(conv.labels) == ["a\ufffdb"]
