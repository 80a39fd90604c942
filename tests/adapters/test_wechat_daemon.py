"""End to end with the daemon as a subprocess: WeChat push -> inbox -> agent reply -> custom/send."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.adapters.daemon_support import messages
from tests.fakes.wechat_api import FakeWechatApi, WechatPusher, push_xml
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow

TOKEN = "e2e-callback-token"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
OPENID = "oE2E_user_0123456789abcdefgh"
HOOK = "/hooks/wechat/official"


@asynccontextmanager
async def bridge(tmp_path: Path) -> AsyncIterator[tuple[Daemon, FakeWechatApi, WechatPusher]]:
    async with FakeWechatApi(strict_windows=True) as fake:
        channels = f"""
[channels.wechat.official]
app_id = "{fake.app_id}"
app_secret = "env:TPB_WECHAT_SECRET"
token = "env:TPB_WECHAT_TOKEN"
encoding_aes_key = "env:TPB_WECHAT_AES_KEY"
api_base_url = "{fake.url}"
"""
        env = {"TPB_WECHAT_SECRET": fake.app_secret, "TPB_WECHAT_TOKEN": TOKEN, "TPB_WECHAT_AES_KEY": AES_KEY}
        async with Daemon(tmp_path, channels, env=env) as daemon:
            await daemon.wait_for(lambda: connected(daemon))  # the webhook answers 503 until then
            yield daemon, fake, WechatPusher(TOKEN, fake.app_id, AES_KEY)


async def connected(daemon: Daemon) -> bool:
    status, body = await daemon.api("GET", "/healthz")
    return status == 200 and body["channels"].get("wechat.official", {}).get("state") == "connected"


async def push(daemon: Daemon, pusher: WechatPusher, xml: str) -> tuple[int, str]:
    params, body = pusher.push(xml)
    async with aiohttp.ClientSession() as http, http.post(daemon.url + HOOK, params=params, data=body) as resp:
        return resp.status, await resp.text()


def text_xml(content: str, msg_id: int, sender: str = OPENID) -> str:
    return push_xml(
        ToUserName="gh_e2e",
        FromUserName=sender,
        CreateTime=int(time.time()),
        MsgType="text",
        Content=content,
        MsgId=msg_id,
    )


async def conversation_of(daemon: Daemon, openid: str) -> dict[str, Any] | None:
    status, body = await daemon.api("GET", "/api/v1/conversations?inbox=wechat.official")
    assert status == 200, body
    for conv in body["items"]:
        if any(i["external_id"] == openid for i in conv["contact"]["identities"]):
            return conv
    return None


async def test_push_lands_in_the_inbox_and_the_agent_reply_reaches_the_user(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        fake.open_window(OPENID)
        assert await push(daemon, pusher, text_xml("我的快递到哪了？", 61001)) == (200, "success")
        assert await push(daemon, pusher, text_xml("我的快递到哪了？", 61001)) == (200, "success")  # retry

        async def arrived() -> bool:
            return await conversation_of(daemon, OPENID) is not None

        await daemon.wait_for(arrived)
        conv = await conversation_of(daemon, OPENID)
        assert conv is not None
        assert conv["channel"] == "wechat"
        assert "reply_window_ends_at" in conv["attrs"]  # the agent sees the window's end
        inbound = [m for m in await messages(daemon, conv["id"]) if m["direction"] == "in"]
        assert [m["text"] for m in inbound] == ["我的快递到哪了？"]

        status, body = await daemon.api(
            "POST",
            f"/api/v1/conversations/{conv['id']}/messages",
            json={"text": "您好，包裹已到达本地网点，明天派送。"},
        )
        assert status == 202, body

        async def delivered() -> bool:
            return any(m.get("text", {}).get("content") == "您好，包裹已到达本地网点，明天派送。" for m in fake.sent)

        await daemon.wait_for(delivered)
        assert all(m["touser"] == OPENID for m in fake.sent)

        async def marked_sent() -> bool:
            return any(
                m["direction"] == "out"
                and m["delivery"] == "sent"
                and m["text"] == "您好，包裹已到达本地网点，明天派送。"
                for m in await messages(daemon, conv["id"])
            )

        await daemon.wait_for(marked_sent)
        logs = daemon.logs()
        assert "wechat.token_fetched" in logs and "webhook.stored" in logs
        for secret in (fake.app_secret, AES_KEY, TOKEN, *fake.tokens):
            assert secret not in logs


async def test_reply_after_the_48_hour_window_fails_with_wechats_reason(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        late = "oE2E_late_user_0123456789abc"
        assert await push(daemon, pusher, text_xml("还在吗", 62001, sender=late)) == (200, "success")

        async def arrived() -> bool:
            return await conversation_of(daemon, late) is not None

        await daemon.wait_for(arrived)
        conv = await conversation_of(daemon, late)
        assert conv is not None
        fake.windows.pop(late, None)  # WeChat's view: the user's last message is older than 48 h
        status, body = await daemon.api(
            "POST", f"/api/v1/conversations/{conv['id']}/messages", json={"text": "抱歉久等了"}
        )
        assert status == 202, body

        async def failed() -> list[dict[str, Any]]:
            return [
                m
                for m in await messages(daemon, conv["id"])
                if m["direction"] == "out" and m["text"] == "抱歉久等了" and m["delivery"] == "failed"
            ]

        await daemon.wait_for(failed)
        [msg] = await failed()
        assert msg["error"] == "response out of time limit or subscription is canceled (errcode 45015)"
        assert not any(m.get("text", {}).get("content") == "抱歉久等了" for m in fake.sent)


async def test_forged_push_is_refused_and_an_image_lands_with_its_file(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        forger = WechatPusher("not-the-token", fake.app_id, AES_KEY)
        assert (await push(daemon, forger, text_xml("伪造", 63001)))[0] == 403

        jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 300
        fake.add_media("media-e2e", "image/jpeg", jpeg)
        image = push_xml(
            ToUserName="gh_e2e",
            FromUserName=OPENID,
            CreateTime=int(time.time()),
            MsgType="image",
            PicUrl="http://mmbiz.qpic.cn/e2e",
            MediaId="media-e2e",
            MsgId=63002,
        )
        assert await push(daemon, pusher, image) == (200, "success")

        async def arrived() -> dict[str, Any] | None:
            return await conversation_of(daemon, OPENID)

        conv = await daemon.wait_for(arrived)
        [msg] = await messages(daemon, conv["id"])  # the forged push left nothing
        assert msg["external_id"] == f"{OPENID}:63002"
        [att] = msg["attachments"]
        assert (att["kind"], att["mime"], att["size"]) == ("image", "image/jpeg", len(jpeg))
        async with daemon.session.get(
            daemon.url + att["url"], headers={"Authorization": f"Bearer {daemon.token}"}
        ) as resp:
            assert resp.status == 200
            assert await resp.read() == jpeg


async def test_a_burst_with_retries_is_answered_in_time_and_stored_once(tmp_path: Path) -> None:
    """300 pushes (20 users x 5 messages, each delivered 3 times) all answered well within 5 s."""
    async with bridge(tmp_path) as (daemon, _fake, pusher):
        users = [f"oBurst_user_{i:02d}_0123456789ab" for i in range(20)]
        pushes = [text_xml(f"第{n}条消息", 64000 + n, sender=user) for user in users for n in range(5)] * 3
        latencies: list[float] = []
        # Encrypted and signed before the clock starts, sent on one client with no connection limit: the
        # latency is the daemon's answer, not this process's own work on 300 pushes (on a busy machine that
        # alone took a second).
        signed = [pusher.push(xml) for xml in pushes]

        async def timed(http: aiohttp.ClientSession, params: dict[str, str], body: bytes) -> tuple[int, str]:
            started = time.monotonic()
            async with http.post(daemon.url + HOOK, params=params, data=body) as resp:
                result = resp.status, await resp.text()
            latencies.append(time.monotonic() - started)
            return result

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            results = await asyncio.gather(*(timed(http, params, body) for params, body in signed))
        assert set(results) == {(200, "success")}
        assert max(latencies) < 3.0  # WeChat's deadline is 5 s

        async def all_stored() -> bool:
            status, body = await daemon.api("GET", "/api/v1/conversations?inbox=wechat.official&limit=100")
            return status == 200 and len(body["items"]) == 20

        await daemon.wait_for(all_stored)
        _, body = await daemon.api("GET", "/api/v1/conversations?inbox=wechat.official&limit=100")
        for conv in body["items"]:
            inbound = [m for m in await messages(daemon, conv["id"]) if m["direction"] == "in"]
            assert sorted(m["text"] for m in inbound) == [f"第{n}条消息" for n in range(5)]
