"""A burst larger than the automation's queue: every message is still seen (bridge/events.py, `spill`).

Before, the automation's subscription was dropped when its queue filled, and since the end could not be
queued either, it waited on an empty queue for good: no message after a burst was classified, answered or
recognised as a security incident until the daemon restarted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tpbridge.bridge.events import MESSAGE_CREATED, Event
from tpbridge.bridge.model import Priority

from tests.automation.harness import harness
from tests.support.core import inbound

BURST = 30
TEAMS = {"support": {"languages": ["zh", "en"]}}


async def test_a_burst_past_the_queue_still_makes_every_stolen_fund_report_an_urgent_incident(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        sub = h.core.bus.subscribe(4, spill=True)  # the automation's queue, made tiny
        consumer = asyncio.create_task(h.a._consume(sub))
        items = await h.core.pipeline.ingest("webchat.site", "webchat", [
            inbound(f"burst-{i}", f"victim-{i}", "我的钱被盗了") for i in range(BURST)])  # published in one go
        assert len(sub.spilled) >= BURST - 4  # what did not fit was kept as ids, in order
        conv_ids = [i.conversation.id for i in items]  # type: ignore[union-attr]
        async with asyncio.timeout(20):
            while True:  # each incident publishes more events (replies, notes, updates): wait for all of them
                convs = [await h.core.store.get_conversation(c) for c in conv_ids]
                if all(c is not None and c.priority == Priority.URGENT for c in convs) and not sub.spilled \
                        and sub.queue.empty():
                    break
                await asyncio.sleep(0.05)
        for conv_id in conv_ids:
            conv = await h.core.store.get_conversation(conv_id)
            assert conv is not None and conv.category == "security", conv_id
            assert len(await h.bot_texts(conv_id)) == 1, conv_id  # one safety reply each, none twice
        consumer.cancel()
        sub.close()


async def test_a_dropped_subscriber_is_told_so_even_with_a_full_queue(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        sub = h.core.bus.subscribe(2)
        conv = (await h.core.pipeline.ingest("webchat.site", "webchat", [inbound("d1", "u", "hi")]))[0].conversation
        assert conv is not None
        for _ in range(3):  # the third does not fit: this subscriber is dropped
            h.core.bus.publish(Event(MESSAGE_CREATED, conv))
        seen = [event async for event in sub]  # ends: it did not wait for an event that never comes
        assert len(seen) <= 2
