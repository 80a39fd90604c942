"""Roles and teams, enforced in the API and the event stream (not only hidden in the page); search."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from tpbridge.bridge.model import Author, AuthorKind, Priority, Role

from tests.web.support import WebApp, web_app


async def _teams(w: WebApp) -> None:
    await w.core.store.ensure_team("alpha", ["webchat.site"])
    await w.core.store.ensure_team("beta", ["email.support"])
    await w.agent("root@example.com", "Root", Role.ADMIN)
    await w.agent("ann@example.com", "Ann", teams=("alpha",))
    await w.agent("bea@example.com", "Bea", teams=("beta",))


async def _events(resp: ClientResponse, until: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Read SSE frames until a conversation id `until` shows up (a marker published last)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data: "):
                event = json.loads(line[6:])
                seen.append(event)
                if event["conversation"]["id"] == until:
                    return seen
    return seen


async def test_team_a_agent_gets_404_for_team_b_conversation_everywhere(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await _teams(w)
        a_conv = await w.say("w1", "visitor", "hello from the web", inbox="webchat.site")
        b_conv = await w.say("e1", "x@example.com", "my invoice", inbox="email.support")
        await w.core.desk.reply(b_conv.id, "note", author=Author(AuthorKind.SYSTEM), private=True)
        for path in (f"/api/v1/conversations/{b_conv.id}", f"/api/v1/conversations/{b_conv.id}/messages"):
            status, body = await w.api("GET", path, "ann@example.com")
            assert status == 404 and body["error"]["code"] == "not_found"
        for path, payload in ((f"/api/v1/conversations/{b_conv.id}/messages", {"text": "hi"}),
                              (f"/api/v1/conversations/{b_conv.id}/status", {"status": "resolved"}),
                              (f"/api/v1/conversations/{b_conv.id}/assign", {"agent": "ann@example.com"})):
            assert (await w.api("POST", path, "ann@example.com", payload))[0] == 404
        assert (await w.api("GET", f"/api/v1/contacts/{b_conv.contact_id}/conversations", "ann@example.com"))[0] == 404
        # Nor can Ann write first to team beta's person (the answer says no more than that they are unknown).
        status, body = await w.api("POST", "/api/v1/conversations", "ann@example.com",
                                   {"inbox": "email.support", "contact_id": b_conv.contact_id, "text": "hello"})
        assert status == 404 and body["error"]["code"] == "not_found"
        _, mine = await w.api("GET", "/api/v1/conversations?status=all", "ann@example.com")
        assert [c["id"] for c in mine["items"]] == [a_conv.id]
        _, theirs = await w.api("GET", "/api/v1/conversations?status=all", "bea@example.com")
        assert [c["id"] for c in theirs["items"]] == [b_conv.id]
        _, everything = await w.api("GET", "/api/v1/conversations?status=all", "root@example.com")
        assert {c["id"] for c in everything["items"]} == {a_conv.id, b_conv.id}
        # Assigning a webchat conversation to team beta moves it out of Ann's sight.
        assert (await w.api("POST", f"/api/v1/conversations/{a_conv.id}/assign", "root@example.com",
                            {"team": "beta"}))[0] == 200
        assert (await w.api("GET", f"/api/v1/conversations/{a_conv.id}", "ann@example.com"))[0] == 404
        assert (await w.api("GET", f"/api/v1/conversations/{a_conv.id}", "bea@example.com"))[0] == 200


async def test_the_event_stream_carries_only_what_the_agent_may_see(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await _teams(w)
        resp = await w.client.get("/api/v1/events", headers={"Authorization": f"Bearer {w.tokens['ann@example.com']}"})
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        await resp.content.readline()  # ": connected" — subscribed from here on
        b_conv = await w.say("e1", "x@example.com", "secret invoice 秘密", inbox="email.support")
        await w.core.desk.reply(b_conv.id, "answer", author=Author(AuthorKind.AGENT, 1, "Root"))
        a_conv = await w.say("w1", "visitor", "hello", inbox="webchat.site")
        seen = await _events(resp, until=a_conv.id)
        resp.close()
        assert seen and {e["conversation"]["id"] for e in seen} == {a_conv.id}
        assert "秘密" not in json.dumps(seen, ensure_ascii=False)


async def test_search_finds_chinese_two_character_words_and_english_words(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        zh = await w.say("w1", "v1", "我的提现还没到账")
        en = await w.say("w2", "v2", "Where is my refund?")
        await w.say("w3", "v3", "unrelated")
        for q, expected in (("提现", [zh.id]), ("到账", [zh.id]), ("refund", [en.id]), ("REFUN", [en.id]),
                            ("提款", [])):
            status, page = await w.api("GET", f"/api/v1/conversations?q={q}", "root@example.com")
            assert status == 200
            assert [c["id"] for c in page["items"]] == expected, q


async def test_filters_combine_and_the_newest_activity_comes_first(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        root = await w.agent("root@example.com", "Root", Role.ADMIN)
        first = await w.say("w1", "v1", "one")
        second = await w.say("t1", "9", "two", inbox="telegram.main")
        third = await w.say("w3", "v3", "three")
        await w.core.desk.assign(first.id, agent_id=root.id)
        await w.core.desk.set_labels(second.id, ["vip"])
        await w.core.desk.update(third.id, priority=Priority.URGENT)

        async def ids(query: str) -> list[int]:
            status, page = await w.api("GET", "/api/v1/conversations?" + query, "root@example.com")
            assert status == 200, page
            return [c["id"] for c in page["items"]]

        assert await ids("") == [third.id, second.id, first.id]
        assert await ids("assignee=me") == [first.id]
        assert await ids("assignee=unassigned") == [third.id, second.id]
        assert await ids("channel=telegram") == [second.id]
        assert await ids("inbox=webchat.site") == [third.id, first.id]
        assert await ids("label=vip") == [second.id]
        assert await ids("priority=urgent") == [third.id]
        assert await ids("priority=normal") == [second.id, first.id]
        _, page = await w.api("GET", "/api/v1/conversations", "root@example.com")
        assert all(c["unread"] == 1 for c in page["items"])
        assert [c["priority"] for c in page["items"]] == ["urgent", "normal", "normal"]
        for bad in ("3", "URGENT", "critical"):
            status, body = await w.api("GET", "/api/v1/conversations?priority=" + bad, "root@example.com")
            assert status == 400 and "low, normal, high, urgent" in body["error"]["message"], body


async def test_attachments_download_only_for_agents_who_may_see_the_conversation(tmp_path: Path) -> None:
    from tpbridge.adapters.base import InboundAttachment

    async with web_app(tmp_path) as w:
        await _teams(w)
        conv = await w.say("e1", "x@example.com", "invoice attached", inbox="email.support",
                           attachments=(InboundAttachment("file", "application/pdf", b"%PDF-1.4 x", "invoice.pdf"),))
        _, msgs = await w.api("GET", f"/api/v1/conversations/{conv.id}/messages", "bea@example.com")
        url = msgs["items"][0]["attachments"][0]["url"]
        ok = await w.client.get(url, headers={"Authorization": f"Bearer {w.tokens['bea@example.com']}"})
        assert ok.status == 200 and await ok.read() == b"%PDF-1.4 x"
        assert ok.headers["Content-Disposition"].startswith("attachment")
        denied = await w.client.get(url, headers={"Authorization": f"Bearer {w.tokens['ann@example.com']}"})
        assert denied.status == 404
        assert (await w.client.get(url)).status == 401


async def test_channel_facts_are_typed_fields_of_a_conversation(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        mention = await w.say("x1", "42", "@desk help", inbox="x.main", conversation_attrs={"public": True})
        chat = await w.say("wx1", "openid-1", "你好", inbox="wechat.main",
                           conversation_attrs={"reply_window_ends_at": "2099-01-01T00:00:00+00:00"})
        plain = await w.say("w1", "v1", "hello")
        _, page = await w.api("GET", "/api/v1/conversations", "root@example.com")
        facts = {c["id"]: (c["public"], c["reply_window_ends_at"]) for c in page["items"]}
        assert facts == {mention.id: (True, None), chat.id: (False, "2099-01-01T00:00:00.000Z"),
                         plain.id: (False, None)}
