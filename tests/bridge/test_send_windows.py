"""Send pacing and a channel's pauses, shared by every instance on one store (bridge/send_windows.py).

With several instances on one PostgreSQL each would otherwise send at the full rate, and a 429
one of them met would not hold the others back.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from tests.fakes.postgres import Postgres
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, message_update
from tests.support.core import running_core
from tests.support.daemon import Daemon


async def test_slots_are_paced_and_a_pause_reserves_nothing(tmp_path: Path, store_url: str) -> None:
    async with running_core(tmp_path, url=store_url) as core:
        store = core.store
        waits = [(await store.send_slot("t.main:", 1.0, 3.0)).wait for _ in range(6)]
        # three at once (the burst), then one a second
        assert waits[:3] == [0.0, 0.0, 0.0]
        assert [round(w) for w in waits[3:]] == [1, 2, 3]
        assert (await store.send_slot("t.main:chat:1", 1.0, 1.0)).wait == 0.0  # keys are separate
        await store.pause_sends("t.main:", 5.0)
        assert 4.0 < await store.sends_paused("t.main:") <= 5.0
        slot = await store.send_slot("t.main:", 10.0, 3.0)
        assert slot.paused and 4.0 < slot.wait <= 5.0
        assert (await store.send_slot("t.main:", None, 1.0)).paused
        await store.pause_sends("t.main:", 1.0)  # a shorter pause never shortens a longer one
        assert await store.sends_paused("t.main:") > 4.0
        assert await store.sends_paused("t.other:") == 0.0


async def test_instances_share_one_window(tmp_path: Path, postgres: Postgres) -> None:
    url = postgres.new_database()
    async with running_core(tmp_path / "a", url=url) as a, running_core(tmp_path / "b", url=url) as b:
        due = []
        for n in range(10):  # ten slots asked for by two instances in turn: two now, then one every 0.05 s
            asked = time.time()
            slot = await (a if n % 2 else b).store.send_slot("t.main:", 20.0, 2.0)
            due.append(asked + slot.wait)
        gaps = [round(later - earlier, 2) for earlier, later in itertools.pairwise(due[1:])]
        assert all(0.03 <= gap <= 0.07 for gap in gaps), gaps
        assert due[-1] - due[0] > 0.35
        await a.store.pause_sends("t.main:", 3.0)
        assert (await b.store.send_slot("t.main:", 20.0, 2.0)).paused


def channels(fake: FakeTelegram) -> str:
    return (f'[channels.telegram.main]\ntoken = "{DEFAULT_TOKEN}"\nmode = "polling"\n'
            f'api_base_url = "{fake.url}"\npoll_timeout = 2\nrate_global = {RATE}\nrate_per_chat = 1\n')


RATE = 4  # messages per second for the bot (the burst is as many)
CHATS = 40  # far more than one instance claims at once (16): whichever claims first, the other sends too


@pytest.mark.slow
async def test_two_instances_send_at_the_bots_rate_together_and_both_honour_a_429(
    tmp_path: Path, postgres: Postgres
) -> None:
    url = postgres.new_database()
    async with FakeTelegram() as fake:
        ds = [Daemon(tmp_path / name, channels(fake), store_url=url) for name in ("a", "b")]
        await ds[0].start()
        ds[1].token = ds[0].token  # one agent, one database
        await ds[1].start()
        try:
            for n in range(CHATS):
                fake.push_update(message_update(n + 1, user_id=5000 + n, text=f"help {n}"))

            async def conversations() -> list[int] | None:
                _, page = await ds[0].api("GET", "/api/v1/conversations?limit=100")
                ids = [c["id"] for c in page["items"]]
                return ids if len(ids) == CHATS else None

            convs = await ds[0].wait_for(conversations, timeout=30)
            fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
            await asyncio.gather(*(ds[n % 2].api("POST", f"/api/v1/conversations/{conv}/messages",
                                                 {"text": f"r{n}"}) for n, conv in enumerate(convs)))
            await fake.wait_for(lambda: len(fake.calls_of("sendMessage")) == CHATS + 1, timeout=60)


            async def both_sent() -> bool:  # both instances sent some (each logs what it sent)
                return all(d.logs().count('"reply.sent"') for d in ds)

            await ds[0].wait_for(both_sent, timeout=30)
        finally:
            for d in ds:
                await d.__aexit__()
    calls = fake.calls_of("sendMessage")
    refused_at = calls[0].at
    sent = sorted(c.at for c in calls[1:])
    # Nothing but what was already on its way beside the refused one (the rest of the burst) goes out before
    # the retry_after is over, from either instance
    early = [t for t in sent if t < refused_at + 3 - 0.1]
    assert all(t < refused_at + 0.5 for t in early) and len(early) < RATE, [round(t - refused_at, 2) for t in sent]
    # Together, never faster than the bot's rate: at most RATE at once, then RATE a second
    late = [t for t in sent if t >= refused_at + 0.5]
    for i in range(len(late)):
        for j in range(i + 1, len(late)):
            assert j - i + 1 <= RATE + RATE * (late[j] - late[i]) + 0.5, [round(t - refused_at, 2) for t in late]
    assert late[-1] - late[0] >= (len(late) - RATE) / RATE - 0.2
