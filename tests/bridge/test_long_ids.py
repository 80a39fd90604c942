"""A channel's id longer than the stores keep (a message's, a person's, a thread's): the record is quarantined with
the reason, on both stores alike — PostgreSQL's indexes refuse a row over ~2,700 bytes, so storing it was a
database error the channel would have retried forever (a mailbox stuck behind one hostile mail)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tpbridge.adapters.base import ThreadHint
from tpbridge.bridge.pipeline import MAX_CHANNEL_ID

from tests.support.core import inbound, running_core
from tests.support.texts import incompressible

# Incompressible (PostgreSQL compresses an index entry first): ~9,000 bytes of CJK that never repeats nearby.
LONG = incompressible()

STORED_KEYS: dict[str, dict[str, Any]] = {
    "message id": {"external_id": LONG},
    "sender id": {"sender": LONG},
    "thread key": {"thread": ThreadHint(key=LONG)},
}


@pytest.mark.parametrize("key", list(STORED_KEYS))
async def test_a_record_with_an_overlong_key_is_quarantined_and_its_neighbours_stored(
        tmp_path: Path, store_url: str, key: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        kw = dict(STORED_KEYS[key])
        hostile = inbound(kw.pop("external_id", "h1"), kw.pop("sender", "u1"), "hi", **kw)
        for attempt in (1, 2):  # redelivered: quarantined once, never stored
            items = await core.pipeline.ingest("webchat.site", "webchat", [
                inbound(f"before{attempt}", "u2", "one"), hostile, inbound(f"after{attempt}", "u3", "two")],
                f"cp-{attempt}")
            assert [i.message_id is not None for i in items] == [True, False, True]
        assert await core.store.checkpoint("webchat.site") == "cp-2"
        quarantined = await core.store.list_quarantine()
        assert len(quarantined) == 1 and f"{key} is" in quarantined[0].reason, quarantined
        assert len(quarantined[0].external_id) <= MAX_CHANNEL_ID
        kept = await asyncio.to_thread(Path(quarantined[0].path).read_bytes)
        assert len(kept) == quarantined[0].size > 0  # kept, never dropped


async def test_overlong_ids_only_looked_up_are_no_error(tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        for i, kw in enumerate(({"reply_to": LONG}, {"edit_of": LONG},
                                {"thread": ThreadHint(references=(LONG,), per_thread=True)})):
            item = (await core.pipeline.ingest("webchat.site", "webchat", [inbound(f"m{i}", "u1", "hi", **kw)]))[0]
            assert item.message_id is not None
        assert await core.store.known("webchat.site", [LONG]) == set()
        assert await core.store.mark_failed_by_external_id("webchat.site", LONG, "gone") is None
        assert await core.store.identity_messages("webchat.site", LONG, 10) == []
