"""End to end with the daemon as a subprocess: Weibo push -> inbox -> agent reply -> messages/reply.json."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.adapters.daemon_support import burst_until_killed, messages, reply, until_acked
from tests.fakes.weibo_api import WINDOW_CLOSED, FakeWeibo, WeiboPusher, push_body
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow

SECRET = "e2e-weibo-app-secret"
HOOK = "/hooks/weibo/official"
ALICE, BOB = 1902538057, 2489518277


def channel_toml(fake: FakeWeibo) -> str:
    return f"""
[channels.weibo.official]
app_key = "1234567890"
app_secret = "env:TPB_WEIBO_SECRET"
access_token = "env:TPB_WEIBO_TOKEN"
api_base_url = "{fake.url}"
rate_limit_delay = 0.2
media_timeout = 4.0
"""


@asynccontextmanager
async def bridge(tmp_path: Path) -> AsyncIterator[tuple[Daemon, FakeWeibo, WeiboPusher]]:
    async with FakeWeibo(users={str(ALICE): "小明同学", str(BOB): "bob_wallet"}) as fake:
        env = {"TPB_WEIBO_SECRET": SECRET, "TPB_WEIBO_TOKEN": fake.access_token}
        async with Daemon(tmp_path, channel_toml(fake), env=env) as daemon:
            await daemon.wait_for(lambda: connected(daemon))
            yield daemon, fake, WeiboPusher(SECRET)


async def connected(daemon: Daemon) -> bool:
    status, body = await daemon.api("GET", "/healthz")
    return status == 200 and body["channels"].get("weibo.official", {}).get("state") == "connected"


async def push(daemon: Daemon, pusher: WeiboPusher, body: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(
        daemon.url + HOOK, params=pusher.params(), data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        return resp.status, await resp.text()


async def conversation_of(daemon: Daemon, uid: int) -> dict[str, Any] | None:
    """The uid's conversation. A contact whose screen-name look-up missed its budget (a loaded machine)
    has no name yet and is shown as an anonymous visitor, without the uid: then the inbox's only one."""
    status, body = await daemon.api("GET", "/api/v1/conversations?inbox=weibo.official&limit=100")
    assert status == 200, body
    for conv in body["items"]:
        if any(i["external_id"] == str(uid) for i in conv["contact"]["identities"]):
            return conv
    if len(body["items"]) == 1 and body["items"][0]["contact"]["anonymous"]:
        return body["items"][0]
    return None


async def delivery_of(daemon: Daemon, conv_id: int, text: str, state: str) -> dict[str, Any] | None:
    for m in await messages(daemon, conv_id):
        if m["direction"] == "out" and m["text"] == text and m["delivery"] == state:
            return m
    return None


async def test_url_check_every_kind_of_push_and_a_forged_one(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        async with aiohttp.ClientSession() as http:
            async with http.get(daemon.url + HOOK, params=pusher.verification("echo-123")) as resp:
                assert (resp.status, await resp.text()) == (200, "echo-123")
            async with http.get(daemon.url + HOOK, params=WeiboPusher("wrong").verification()) as resp:
                assert resp.status == 403
            async with http.post(daemon.url + HOOK, params=WeiboPusher("wrong").params(),
                                 data=push_body("text", ALICE, "伪造的消息")) as resp:
                assert resp.status == 403
            async with http.post(daemon.url + HOOK, params=pusher.params(), data=b"{not json") as resp:
                assert resp.status == 400
                assert (await resp.json())["error"]["code"] == "bad_push"

        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
        fake.files["821804469"] = ("image/png", png)
        pushes = [
            push_body("event", ALICE, "事件消息", {"subtype": "follow", "key": ""}, at=1_790_000_000),
            push_body("text", ALICE, "提币一直在审核中怎么办？", at=1_790_000_001),
            push_body("image", ALICE, "发了一张图片", {"vfid": 821804459, "tovfid": 821804469}, at=1_790_000_002),
            push_body("position", ALICE, "我在这里: http://t.cn/zQgLLYO",
                      {"longitude": "116.308586", "latitude": "39.982525"}, at=1_790_000_003),
            push_body("event", ALICE, "事件消息", {"subtype": "click", "key": "MENU_FAQ"}, at=1_790_000_004),
            push_body("voice", ALICE, "发了一个语音消息", {"vfid": 1, "tovfid": 404}, at=1_790_000_005),
            push_body("text", ALICE, "第二条，同一秒", at=1_790_000_005),
        ]
        for body in pushes:
            assert await push(daemon, pusher, body) == (200, "")
        assert await push(daemon, pusher, pushes[1]) == (200, "")  # Weibo's retry of the same push

        async def all_in() -> list[dict[str, Any]] | None:
            conv = await conversation_of(daemon, ALICE)
            if conv is None:
                return None
            msgs = await messages(daemon, conv["id"])
            return msgs if len(msgs) >= len(pushes) else None

        msgs = await daemon.wait_for(all_in)
        conv = await conversation_of(daemon, ALICE)
        assert conv is not None and conv["channel"] == "weibo"
        assert conv["contact"]["name"] == "小明同学"
        assert "reply_window_ends_at" in conv["attrs"]
        assert len(msgs) == len(pushes)  # the retry was stored once; two in one second both kept
        by_text = {m["text"]: m for m in msgs}
        assert "提币一直在审核中怎么办？" in by_text and "第二条，同一秒" in by_text
        assert any(t.startswith("Followed the account") for t in by_text)
        assert any(t.startswith("Clicked menu item (MENU_FAQ)") for t in by_text)
        assert any(t.startswith("📍 39.982525, 116.308586") for t in by_text)
        [image] = [m for m in msgs if m["attachments"]]
        assert (image["attachments"][0]["mime"], image["attachments"][0]["size"]) == ("image/png", len(png))
        [voice] = [m for m in msgs if "voice not downloaded" in m["text"]]  # unknown fid: a note, not a loss
        assert "404" in voice["text"]


async def test_reply_delivered_then_refused_when_the_window_closed(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        fake.open_window(str(BOB))
        assert await push(daemon, pusher, push_body("text", BOB, "你好，在吗")) == (200, "")
        conv = await daemon.wait_for(lambda: conversation_of(daemon, BOB))
        fake.rate_limited = 1  # the first try meets Weibo's rate limit: retried, then delivered
        await reply(daemon, conv["id"], "您好，请问有什么可以帮您？")
        sent = await daemon.wait_for(lambda: delivery_of(daemon, conv["id"], "您好，请问有什么可以帮您？", "sent"))
        assert sent["external_id"] == str(fake._next_id)
        [out] = fake.sent
        assert (out["receiver_id"], out["type"]) == (str(BOB), "text")
        assert out["data"] == {"text": "您好，请问有什么可以帮您？"}
        assert fake.calls.count("reply") == 2

        fake.windows.pop(str(BOB))  # Weibo's view: the user's last action is older than 48 hours
        await reply(daemon, conv["id"], "抱歉久等了")
        failed = await daemon.wait_for(lambda: delivery_of(daemon, conv["id"], "抱歉久等了", "failed"))
        assert failed["error"].startswith("Weibo refused the reply: receiver has no reply quota")
        assert f"error_code {WINDOW_CLOSED}" in failed["error"]
        assert len(fake.sent) == 1

        status, body = await daemon.api("POST", f"/api/v1/conversations/{conv['id']}/messages",
                                        json={"text": "", "attachments": []})
        assert status in (400, 422), body
        logs = daemon.logs()
        assert SECRET not in logs and fake.access_token not in logs


async def test_export_and_forget_a_weibo_contact(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        assert await push(daemon, pusher, push_body("text", BOB, "请删除我的数据")) == (200, "")
        conv = await daemon.wait_for(lambda: conversation_of(daemon, BOB))
        contact_id = conv["contact"]["id"]
        status, export = await daemon.api("GET", f"/api/v1/contacts/{contact_id}/export")
        assert status == 200
        assert "请删除我的数据" in str(export) and str(BOB) in str(export)
        # ... and erased from their own chat: asked, confirmed, a last message, then nothing is left
        fake.open_window(str(BOB))
        assert await push(daemon, pusher, push_body("text", BOB, "/forget")) == (200, "")
        [question] = await fake.wait_sent(1, within=20)
        assert "YES" in question["data"]["text"] or "确认" in question["data"]["text"]
        assert await push(daemon, pusher, push_body("text", BOB, "确认")) == (200, "")
        await fake.wait_sent(2, within=20)

        async def erased() -> bool:
            return await conversation_of(daemon, BOB) is None

        await daemon.wait_for(erased, timeout=90)


async def test_kill_9_mid_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    async with FakeWeibo() as fake:
        env = {"TPB_WEIBO_SECRET": SECRET, "TPB_WEIBO_TOKEN": fake.access_token}
        pusher = WeiboPusher(SECRET)
        fake_uids = [3_000_000_000 + i for i in range(20)]
        bodies = [push_body("text", uid, f"消息 {uid} #{n}", at=1_790_000_000 + n)
                  for n in range(10) for uid in fake_uids]
        async with Daemon(tmp_path, channel_toml(fake).replace("\nrate_limit_delay", "\nfetch_profiles = false"
                                                               "\nrate_limit_delay"), env=env) as daemon:
            await daemon.wait_for(lambda: connected(daemon))

            async def send(body: bytes) -> int:
                return (await push(daemon, pusher, body))[0]

            acked = await burst_until_killed(daemon, bodies, send, kill_after=60)
            assert 60 <= len(acked) < len(bodies)
            await daemon.start()
            await daemon.wait_for(lambda: connected(daemon))
            stored = await inbound_texts(daemon)
            for body in acked:  # every acknowledged push survived the kill
                assert body.decode().split('"text": "')[1].split('"')[0] in stored
            again = await asyncio.gather(*(until_acked(b, send) for b in bodies))  # Weibo retries the rest
            assert set(again) == {200}
            texts = await inbound_texts(daemon)
        assert sorted(texts) == sorted(f"消息 {uid} #{n}" for n in range(10) for uid in fake_uids)


async def inbound_texts(daemon: Daemon) -> list[str]:
    status, body = await daemon.api("GET", "/api/v1/conversations?inbox=weibo.official&limit=100")
    assert status == 200, body
    texts: list[str] = []
    for conv in body["items"]:
        texts += [m["text"] for m in await messages(daemon, conv["id"]) if m["direction"] == "in"]
    return texts
