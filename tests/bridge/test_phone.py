"""The phone hotline with the daemon as a subprocess: calls found again by number, callbacks queued and done."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow

HOTLINE = """
[channels.phone.hotline]
number = "+86 10 8888 8888"
region = "CN"
callback_lead_minutes = 0
"""


async def _call(d: Daemon, **body: Any) -> tuple[int, Any]:
    return await d.api("POST", "/api/v1/calls", {"inbox": "phone.hotline", **body})


async def test_a_call_is_logged_and_found_again_by_number_across_channels(tmp_path: Path) -> None:
    async with Daemon(tmp_path, HOTLINE) as d:
        status, first = await _call(d, number="+86 138 0013 8000", direction="in", duration_s=95,
                                    notes="asked about a withdrawal", outcome="callback", name="Li Wei")
        assert status == 201, first
        assert first["inbox"] == "phone.hotline" and first["channel"] == "phone"
        assert first["contact"]["identities"][0]["external_id"] == "+8613800138000"
        assert first["attrs"]["callback"]["status"] == "due"
        # The same number typed as a local one (region CN) finds the same conversation.
        status, again = await _call(d, number="138 0013 8000", direction="out", duration_s=30, notes="",
                                    outcome="resolved")
        assert status == 201 and again["id"] == first["id"] and again["status"] == "resolved"
        status, msgs = await d.api("GET", f"/api/v1/conversations/{first['id']}/messages")
        texts = [m["text"] for m in msgs["items"]]
        assert "Incoming call, 1:35" in texts[0] and "asked about a withdrawal" in texts[0]
        assert "Outgoing call, 0:30" in texts[1]
        assert msgs["items"][0]["extra"]["call"]["duration_s"] == 95

        # The caller also wrote in the web chat: an agent merges the two, like any identity.
        visitor = await Visitor(d).start()
        await visitor.say("I called you earlier about my withdrawal")
        status, convs = await d.api("GET", "/api/v1/conversations?inbox=webchat.site")
        web_contact = convs["items"][0]["contact"]["id"]
        status, _ = await d.api("POST", f"/api/v1/contacts/{first['contact']['id']}/merge", {"contact": web_contact})
        assert status in (200, 201), _
        status, contact = await d.api("GET", f"/api/v1/contacts/{first['contact']['id']}")
        assert {i["inbox"] for i in contact["identities"]} == {"phone.hotline", "webchat.site"}
        assert {i["link"] for i in contact["identities"]} == {None, "unverified"}  # an agent's merge
        # The next call from that number still lands with the caller (a new conversation: the last was resolved
        # and reopens) and its contact shows both channels.
        status, third = await _call(d, number="+8613800138000", direction="in", duration_s=5, notes="",
                                    outcome="no_answer")
        assert third["contact"]["id"] == first["contact"]["id"]
        assert {i["inbox"] for i in third["contact"]["identities"]} == {"phone.hotline", "webchat.site"}

        # Bad input is a clear 4xx.
        for body, code in (({"number": "12"}, 422), ({"number": "+8613800138000", "direction": "up"}, 400),
                           ({"number": "+8613800138000", "duration_s": -1}, 400)):
            status, err = await _call(d, **body)
            assert status == code and "message" in err["error"], (body, err)
        status, err = await d.api("POST", "/api/v1/calls", {"inbox": "webchat.site", "number": "+8613800138000"})
        assert status == 422 and "phone inbox" in err["error"]["message"]


async def test_a_callback_requested_in_the_web_chat_is_queued_and_done(tmp_path: Path) -> None:
    async with Daemon(tmp_path, HOTLINE) as d:
        later = (datetime.now(UTC) + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)
        sooner = later - timedelta(hours=17)
        visitor = await Visitor(d).start()
        await visitor.say("Can someone call me?")
        auth = {"Authorization": f"Bearer {visitor.token}"}
        async with d.session.post(d.url + "/chat/api/callback", headers=auth, json={
                "number": "+86 139 1234 5678", "preferred_at": later.isoformat(), "note": "after 9 please",
                "language": "en"}) as resp:
            assert resp.status == 201, await resp.text()
            answer = await resp.json()
        assert answer["number"] == "+8613912345678" and answer["status"] == "requested"
        async with d.session.post(d.url + "/chat/api/callback", headers=auth, json={"number": "call me"}) as resp:
            assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid"
        async with d.session.post(d.url + "/chat/api/callback", json={"number": "+8613912345678"}) as resp:
            assert resp.status == 401

        async def queued() -> list[dict[str, Any]]:
            status, body = await d.api("GET", "/api/v1/callbacks")
            assert status == 200, body
            return list(body["items"])

        items = await d.wait_for(queued)
        assert len(items) == 1
        task = items[0]
        assert task["inbox"] == "phone.hotline" and task["callback"]["due_at"].startswith(f"{later:%Y-%m-%dT%H:%M}")
        assert task["callback"]["number"] == "+8613912345678" and task["callback"]["note"] == "after 9 please"
        # The visitor is told when to expect the call, in the chat.
        history = await d.wait_for(lambda: _bot_said(visitor, "We will call you around"))
        assert f"{later:%Y-%m-%d %H:%M}" in history

        # An earlier callback requested by phone comes first in the queue.
        _status, _ = await _call(d, number="+8613800138000", direction="in", duration_s=10, notes="",
                                outcome="callback", callback_at=sooner.isoformat())
        assert [i["callback"]["number"] for i in await queued()] == ["+8613800138000", "+8613912345678"]

        # The agent calls back and logs it: done, off the queue.
        _status, done = await _call(d, number="+8613912345678", direction="out", duration_s=200,
                                   notes="explained the review", outcome="resolved")
        assert done["id"] == task["id"] and done["attrs"]["callback"]["status"] == "done"
        assert [i["callback"]["number"] for i in await queued()] == ["+8613800138000"]


async def _bot_said(visitor: Visitor, words: str) -> str | None:
    for item in await visitor.history():
        if item["direction"] == "out" and words in item["text"]:
            return str(item["text"])
    await asyncio.sleep(0)
    return None


async def test_with_automation_a_callback_is_routed_to_the_phone_team_and_an_online_agent(tmp_path: Path) -> None:
    routing = '[automation]\nenabled = true\n\n[teams.voice]\ninboxes = ["phone.hotline"]\n'
    async with Daemon(tmp_path, HOTLINE, extra_toml=routing) as d:
        token = d.add_agent("ann@example.com", "Ann", teams=("voice",))
        status, _ = await d.api("PATCH", "/api/v1/me", {"presence": "online"}, token=token)
        assert status == 200
        visitor = await Visitor(d).start()
        async with d.session.post(d.url + "/chat/api/callback", json={"number": "+8613912345678"},
                                  headers={"Authorization": f"Bearer {visitor.token}"}) as resp:
            assert resp.status == 201

        async def routed() -> dict[str, Any] | None:
            _status, body = await d.api("GET", "/api/v1/callbacks")
            items = body["items"]
            return items[0] if items and items[0]["assignee"] else None

        task = await d.wait_for(routed, timeout=15)
        assert task["team"] == "voice" and task["assignee"]["name"] == "Ann"
        # Ann sees it in her own list, like any conversation routed to her.
        _status, mine = await d.api("GET", "/api/v1/conversations?assignee=me", token=token)
        assert [c["id"] for c in mine["items"]] == [task["id"]]


def test_a_callback_is_promised_inside_the_hotline_hours() -> None:
    from zoneinfo import ZoneInfo

    from tpbridge.adapters.phone import PhoneAdapter, PhoneSettings
    from tpbridge.bridge.phone import Phone

    shanghai = ZoneInfo("Asia/Shanghai")
    line = PhoneAdapter("phone.hotline", PhoneSettings(  # type: ignore[arg-type]
        number="+86 10 8888 8888", hours={"mon-fri": "09:00-18:00"}, timezone="Asia/Shanghai",
        callback_lead_minutes=0), None)
    phone = Phone.__new__(Phone)  # `expected` needs only the line
    today = datetime.now(shanghai).date() + timedelta(days=7)
    saturday = today + timedelta(days=(5 - today.weekday()) % 7)
    asked = datetime(saturday.year, saturday.month, saturday.day, 10, 0, tzinfo=shanghai)
    promised = phone.expected(line, asked).astimezone(shanghai)
    assert (promised.weekday(), promised.hour, promised.minute) == (0, 9, 0)  # Monday at opening
    wednesday = asked + timedelta(days=4)
    assert phone.expected(line, wednesday) == wednesday  # open then: as asked
