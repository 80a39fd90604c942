"""Two instances on one PostgreSQL: what one erases (a person's erasure, retention) leaves the other's screens.

Two in-process cores share a database; the second runs the relay (bridge/relay.py) as its daemon
does, and its event bus is what an agent's SSE stream reads (`subscribe(remote=True)`).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from tpbridge.bridge.core import Core
from tpbridge.bridge.events import CONVERSATION_DELETED, CONVERSATION_UPDATED, Event, Subscription
from tpbridge.bridge.model import Role, Viewer
from tpbridge.bridge.privacy.retention import sweep
from tpbridge.bridge.relay import relay
from tpbridge.bridge.web import auth
from tpbridge.bridge.web.app import build_app

from tests.fakes.postgres import Postgres
from tests.support.core import inbound, running_core


async def _next(sub: Subscription, kind: str, timeout: float = 15.0, changes: tuple[str, ...] | None = None) -> Event:
    async with asyncio.timeout(timeout):
        while True:
            event = await sub.get(timeout)
            assert event is not None
            if event.kind == kind and changes in (None, event.changes):
                return event


async def _relaying(a: Core, sub: Subscription, conversation_id: int) -> None:
    """The other instance LISTENs once its relay has connected: touch a conversation on `a` until `sub` sees it."""
    for n in range(50):
        await a.desk.set_labels(conversation_id, [f"probe{n}"])
        try:
            await _next(sub, CONVERSATION_UPDATED, timeout=0.3)
            return
        except TimeoutError:
            continue
    raise AssertionError("the relay never delivered")


async def test_erased_conversations_reach_every_instances_screens(tmp_path: Path, postgres: Postgres) -> None:
    url = postgres.new_database()
    raw = {"privacy": {"retain_days": 30}}
    async with running_core(tmp_path / "a", dict(raw), url=url) as a, \
            running_core(tmp_path / "b", dict(raw), url=url) as b:
        relaying = asyncio.create_task(relay(b))
        try:
            items = await a.pipeline.ingest("webchat.site", "webchat", [
                inbound("m1", "forgets", "erase me please", name="Ada"),
                inbound("m2", "old", "an old question"),
                inbound("m3", "recent", "a recent question"),
            ])
            forgotten, old, recent = (item.conversation for item in items)
            assert forgotten is not None and old is not None and recent is not None
            with b.bus.subscribe(remote=True) as on_b:
                await _relaying(a, on_b, recent.id)

                assert await a.desk.forget(forgotten.contact_id) == 1
                event = await _next(on_b, CONVERSATION_DELETED)
                assert event.remote and event.conversation.id == forgotten.id
                assert event.conversation.inbox == "webchat.site" and event.conversation.subject is None
                agent = Viewer(agent_id=7, role=Role.AGENT, teams=(), team_inboxes=("webchat.site",))
                assert agent.may_see(event.conversation)  # an agent of that inbox's team is shown it

                await a.desk.merge(recent.contact_id, old.contact_id)  # a person's change shows there too
                merged = await _next(on_b, CONVERSATION_UPDATED, changes=("contact",))
                assert merged.remote and merged.conversation.contact_id in (old.contact_id, recent.contact_id)

                for conv in (old, recent):
                    await a.desk.set_status(conv.id, "resolved")
                with a.bus.subscribe(remote=True) as on_a:
                    assert await sweep(a, now=time.time() + 40 * 86400) == 2
                    local = {(await _next(on_a, CONVERSATION_DELETED)).conversation.id for _ in range(2)}
                remote = {(await _next(on_b, CONVERSATION_DELETED)).conversation.id for _ in range(2)}
                assert local == remote == {old.id, recent.id}
                assert await b.store.get_conversation(old.id) is None
        finally:
            relaying.cancel()


async def test_an_agent_on_the_other_instance_sees_the_erasure_in_the_event_stream(
    tmp_path: Path, postgres: Postgres
) -> None:
    url = postgres.new_database()
    raw = {"channels": {"webchat": {"site": {}}}}
    async with running_core(tmp_path / "a", dict(raw), url=url) as a, \
            running_core(tmp_path / "b", dict(raw), url=url) as b:
        relaying = asyncio.create_task(relay(b))
        client = TestClient(TestServer(build_app(b)))
        await client.start_server()
        try:
            agent = await b.store.add_agent("ann@example.com", "Ann", Role.AGENT, None, ("support",), ())
            await b.store.set_team_inboxes("support", ["webchat.site"])
            token = auth.new_token()
            await b.store.add_token(agent.id, auth.digest(token), "test")
            items = await a.pipeline.ingest("webchat.site", "webchat", [inbound("m1", "u1", "erase me")])
            conv = items[0].conversation
            assert conv is not None
            with b.bus.subscribe(remote=True) as on_b:
                await _relaying(a, on_b, conv.id)
            resp = await client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
            assert (await resp.content.readline()).startswith(b": connected")
            await a.desk.forget(conv.contact_id)
            async with asyncio.timeout(15):
                kind = None
                async for line in resp.content:
                    text = line.decode().strip()
                    if text.startswith("event: "):
                        kind = text[7:]
                    elif text.startswith("data: ") and kind == "conversation.deleted":
                        assert json.loads(text[6:])["conversation"]["id"] == conv.id
                        break
            resp.close()
        finally:
            b.bus.close()
            await client.close()
            relaying.cancel()
