"""The daemon as a subprocess: the web chat round trip, crashes, restarts, shutdown, logs."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow


async def read_sse(resp: aiohttp.ClientResponse, events: asyncio.Queue[tuple[str, Any]]) -> None:
    kind = None
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            await events.put((kind or "message", json.loads(line[6:])))


async def next_event(events: asyncio.Queue[tuple[str, Any]], want: str, pred: Any = lambda e: True) -> Any:
    async with asyncio.timeout(10):
        while True:
            kind, data = await events.get()
            if kind == want and pred(data):
                return data


async def test_visitor_writes_agent_answers_visitor_sees_it(tmp_path: Path, store_url: str) -> None:
    async with Daemon(tmp_path, store_url=store_url) as d:
        agent_events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        visitor_events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        async with d.session.get(d.url + "/api/v1/events", headers={"Authorization": f"Bearer {d.token}"}) as sse:
            agent_reader = asyncio.create_task(read_sse(sse, agent_events))
            v = await Visitor(d).start()
            status, body = await v.say("你好，我的提现还没到账", client_id="first", name="小明")
            assert status == 201 and body["duplicate"] is False and body["client_id"] == "first"
            # the page's retry after a lost answer: stored once, answered as a duplicate
            again = await v.say("你好，我的提现还没到账", client_id="first", name="小明")
            assert again == (200, {"id": None, "client_id": "first", "duplicate": True})
            created = await next_event(agent_events, "message.created")
            conv_id = created["conversation"]["id"]
            assert created["message"]["text"] == "你好，我的提现还没到账"
            status, listed = await d.api("GET", "/api/v1/conversations?inbox=webchat.site")
            assert status == 200 and listed["items"][0]["id"] == conv_id
            assert listed["items"][0]["contact"]["name"] == "小明" and listed["items"][0]["unread"] == 1
            async with d.session.get(f"{v.base}/api/events?token={v.token}") as vsse:
                visitor_reader = asyncio.create_task(read_sse(vsse, visitor_events))
                status, msg = await d.api("POST", f"/api/v1/conversations/{conv_id}/messages",
                                          {"text": "We are checking your withdrawal now."})
                assert status == 202 and msg["delivery"] == "queued"
                seen = await next_event(visitor_events, "message")
                assert seen["text"] == "We are checking your withdrawal now."
                sent = await next_event(agent_events, "message.updated", lambda e: e["message"]["id"] == msg["id"])
                assert sent["message"]["delivery"] == "sent"
                visitor_reader.cancel()
            agent_reader.cancel()
        history = await v.history()
        assert [m["direction"] for m in history] == ["in", "out"]
        status, after = await d.api("GET", f"/api/v1/conversations/{conv_id}")
        assert after["unread"] == 0 and after["first_response_at"] is not None


async def test_crash_midway_keeps_every_acknowledged_message_exactly_once(tmp_path: Path, store_url: str) -> None:
    d = Daemon(tmp_path, store_url=store_url)
    await d.start()
    visitors = [await Visitor(d).start() for _ in range(40)]
    acked: set[str] = set()
    total = 2000
    enough = asyncio.Event()

    async def post(i: int) -> None:
        v = visitors[i % len(visitors)]
        try:
            status, _ = await v.say(f"message {i}", client_id=f"c{i}")
        except (TimeoutError, aiohttp.ClientError):
            return
        if 200 <= status < 300:
            acked.add(f"{v.token.split('.')[1]}:c{i}")
            if len(acked) >= 300:
                enough.set()

    tasks = [asyncio.create_task(post(i)) for i in range(total)]
    await asyncio.wait_for(enough.wait(), 60)  # kill once a good part is through, many still in flight
    d.kill()
    await asyncio.gather(*tasks)
    assert 300 <= len(acked) < total
    await d.start()
    try:
        stored: dict[str, int] = {}
        cursor = ""
        while True:
            _, page = await d.api("GET", f"/api/v1/conversations?limit=200&status=all{cursor}")
            for conv in page["items"]:
                _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
                for m in msgs["items"]:
                    stored[m["external_id"]] = stored.get(m["external_id"], 0) + 1
            if not page["next_cursor"]:
                break
            cursor = f"&cursor={page['next_cursor']}"
        missing = acked - set(stored)
        assert not missing, f"{len(missing)} acknowledged messages lost"
        assert all(n == 1 for n in stored.values())
    finally:
        await d.__aexit__()


async def test_sigterm_stops_cleanly_within_ten_seconds(tmp_path: Path) -> None:
    d = Daemon(tmp_path)
    await d.start()
    v = await Visitor(d).start()
    await v.say("hello")
    started = time.monotonic()
    assert await d.stop() == 0
    assert time.monotonic() - started < 10
    lines = [json.loads(line) for line in d.logs().splitlines() if line.startswith("{")]
    assert any(e["event"] == "daemon.stopped" for e in lines)


async def test_logs_are_json_lines_with_conversation_and_inbox_and_no_secrets(tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        v = await Visitor(d).start()
        await v.say("hi")
        _, listed = await d.api("GET", "/api/v1/conversations")
        conv_id = listed["items"][0]["id"]
        await d.api("POST", f"/api/v1/conversations/{conv_id}/messages", {"text": "hello back"})
        await d.wait_for(lambda: _delivered(d, conv_id))
    text = d.logs()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    about_messages = [e for e in lines if e["event"] in ("message.received", "reply.queued", "reply.sent")]
    assert {e["event"] for e in about_messages} == {"message.received", "reply.queued", "reply.sent"}
    assert all(e["conversation_id"] == conv_id and e["inbox"] == "webchat.site" for e in about_messages)
    assert d.token not in text and v.token not in text


async def _delivered(d: Daemon, conv_id: int) -> bool:
    _, msgs = await d.api("GET", f"/api/v1/conversations/{conv_id}/messages")
    return all(m["delivery"] == "sent" for m in msgs["items"] if m["direction"] == "out")


async def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    async with Daemon(tmp_path / "a") as first:
        second = Daemon(tmp_path / "b")
        second.config_path.write_text(second.config_path.read_text().replace(str(second.port), str(first.port)))
        second.token = "unused"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tpbridge.bridge", "-c", str(second.config_path), "run",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 1
        assert f"http.listen: 127.0.0.1:{first.port} is already in use" in err.decode()
        assert "Traceback" not in err.decode()


async def test_a_crashing_adapter_is_restarted_and_never_takes_the_others_down(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    toml = '[channels.testchannel.broken]\napi_base_url = "http://127.0.0.1:9"\ncrash = true\n'
    async with Daemon(tmp_path, toml, env=plugin_env) as d:
        async def crashed_twice() -> bool:
            return d.logs().count('"event": "adapter.crashed"') >= 2

        await d.wait_for(crashed_twice, timeout=15)
        crash = next(json.loads(line) for line in d.logs().splitlines() if '"adapter.crashed"' in line)
        assert crash["inbox"] == "testchannel.broken"
        assert "RuntimeError: the test channel crashed on purpose" in crash["exception"]  # the traceback
        async with d.session.get(d.url + "/healthz") as resp:
            health = await resp.json()
        assert health["channels"]["testchannel.broken"]["state"] in ("transient_disconnect", "connecting")
        assert health["channels"]["webchat.site"]["state"] == "connected"
        v = await Visitor(d).start()
        status, _ = await v.say("still working?")
        assert status == 201
