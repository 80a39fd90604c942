"""End to end with the daemon as a subprocess: QQ callbacks -> inbox -> agent replies -> OpenAPI v2."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.adapters.daemon_support import burst_until_killed, messages, reply, until_acked
from tests.fakes.qq_api import FakeQQ, QQPusher, c2c_message, group_message
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow

HOOK = "/hooks/qq/bot"
CONFIG = Path(__file__).resolve().parents[2] / "config"
ALICE = "E4F4AEA33253A2797FB897C50B81D7ED"
GROUP, MEMBER = "C9F778FE6ADF9D1D1DBE395BF744A33A", "0A1B2C3D4E5F60718293A4B5C6D7E8F9"


def channel_toml(fake: FakeQQ, extra: str = "") -> str:
    return f"""
[channels.qq.bot]
app_id = "{fake.app_id}"
app_secret = "env:TPB_QQ_SECRET"
api_base_url = "{fake.url}"
token_url = "{fake.url}/app/getAppAccessToken"
{extra}
"""


@asynccontextmanager
async def bridge(tmp_path: Path, extra: str = "", **fake_args: Any) -> AsyncIterator[tuple[Daemon, FakeQQ, QQPusher]]:
    async with FakeQQ(**fake_args) as fake:
        async with Daemon(tmp_path, channel_toml(fake, extra), env={"TPB_QQ_SECRET": fake.app_secret}) as daemon:
            await daemon.wait_for(lambda: state(daemon, "connected"))
            yield daemon, fake, QQPusher(fake.app_secret, fake.app_id, fake)


async def state(daemon: Daemon, wanted: str) -> bool:
    _, body = await daemon.api("GET", "/healthz")
    return body["channels"].get("qq.bot", {}).get("state") == wanted


async def post(daemon: Daemon, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(daemon.url + HOOK, data=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def dispatch(daemon: Daemon, pusher: QQPusher, event: str, d: dict[str, Any],
                   event_id: str | None = None) -> tuple[int, Any]:
    return await post(daemon, *pusher.dispatch(event, d, event_id))


async def conversation_of(daemon: Daemon, external_id: str) -> dict[str, Any] | None:
    """The conversation of one QQ identity (by its scene: QQ gives no names, so agents see no openids)."""
    status, body = await daemon.api("GET", "/api/v1/conversations?inbox=qq.bot&limit=100")
    assert status == 200, body
    for conv in body["items"]:
        attrs = conv["attrs"]
        if external_id.startswith("group:"):
            if attrs.get("qq_scene") == "group" and external_id.split(":")[1] == attrs.get("qq_group_openid"):
                return conv
        elif attrs.get("qq_scene") == "c2c":
            return conv
    return None


async def out_message(daemon: Daemon, conv_id: int, text: str, state: str) -> dict[str, Any] | None:
    for m in await messages(daemon, conv_id):
        if m["direction"] == "out" and m["text"] == text and m["delivery"] == state:
            return m
    return None


ACK = (200, {"op": 12, "d": 0})


async def test_validation_every_kind_of_callback_and_forgeries(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        # op 13 as documented: unsigned, answered with ed25519(event_ts + plain_token)
        status, body = await post(daemon, {"X-Bot-Appid": fake.app_id}, pusher.validation())
        assert status == 200 and body["plain_token"] == "Arq0D5A61EgUu4OxUvOp"
        assert len(bytes.fromhex(body["signature"])) == 64
        # ... but never as a signing oracle for a forged dispatch body
        forged = '{"op":0,"d":{},"t":"C2C_MESSAGE_CREATE"}'
        status, body = await post(daemon, {}, pusher.validation(plain_token=forged))
        assert status == 403 and body["error"]["code"] == "forbidden"

        _, signed = pusher.dispatch("C2C_MESSAGE_CREATE", c2c_message(ALICE, "伪造"))
        assert (await post(daemon, QQPusher("wrong-secret-wrong-secret").sign(signed), signed))[0] == 403
        assert (await post(daemon, {"Content-Type": "application/json"}, signed))[0] == 403
        assert (await post(daemon, pusher.sign(b"{oops"), b"{oops"))[0] == 400
        stale = pusher.sign(signed, timestamp=int(time.time()) - 3600)
        assert (await post(daemon, stale, signed))[0] == 403

        jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 500
        fake.files["pic.jpg"] = jpeg
        text = c2c_message(ALICE, "我的USDT提现还没到账")
        assert await dispatch(daemon, pusher, "FRIEND_ADD", {"openid": ALICE, "timestamp": int(time.time())}) == ACK
        assert await dispatch(daemon, pusher, "C2C_MESSAGE_CREATE", text) == ACK
        assert await dispatch(daemon, pusher, "C2C_MESSAGE_CREATE", text) == ACK  # QQ pushes it again
        image = c2c_message(ALICE, "", attachments=[{"content_type": "image/jpeg", "filename": "pic.jpg",
                                                     "height": 10, "width": 10, "size": len(jpeg),
                                                     "url": f"{fake.url}/media/pic.jpg"}])
        assert await dispatch(daemon, pusher, "C2C_MESSAGE_CREATE", image) == ACK
        assert await dispatch(daemon, pusher, "GROUP_AT_MESSAGE_CREATE",
                              group_message(GROUP, MEMBER, "机器人在吗")) == ACK
        assert await dispatch(daemon, pusher, "GUILD_MEMBER_ADD", {"x": 1}) == ACK  # not ours: ignored

        async def alice_all_in() -> list[dict[str, Any]] | None:
            conv = await conversation_of(daemon, ALICE)
            msgs = await messages(daemon, conv["id"]) if conv else []
            return msgs if len(msgs) >= 3 else None

        msgs = await daemon.wait_for(alice_all_in)
        assert len(msgs) == 3  # the re-push was stored once
        assert [m["text"] for m in msgs][:2] == ["Added the bot", "我的USDT提现还没到账"]
        assert msgs[1]["external_id"] == text["id"]
        [att] = msgs[2]["attachments"]
        assert (att["kind"], att["mime"], att["size"]) == ("image", "image/jpeg", len(jpeg))
        conv = await conversation_of(daemon, ALICE)
        assert conv is not None and conv["channel"] == "qq" and conv["attrs"]["qq_scene"] == "c2c"
        group_conv = await daemon.wait_for(lambda: conversation_of(daemon, f"group:{GROUP}:{MEMBER}"))
        assert group_conv["attrs"]["public"] is True
        assert [m["text"] for m in await messages(daemon, group_conv["id"])] == ["机器人在吗"]

        # The person's own data from their chat: asked, confirmed, answered with a link, all as passive replies
        ask = c2c_message(ALICE, "/mydata")
        assert await dispatch(daemon, pusher, "C2C_MESSAGE_CREATE", ask) == ACK
        [question] = await fake.wait_sent(1, within=20)
        assert question["msg_id"] == ask["id"] and ("YES" in question["content"] or "确认" in question["content"])
        yes = c2c_message(ALICE, "YES")
        assert await dispatch(daemon, pusher, "C2C_MESSAGE_CREATE", yes) == ACK
        [_, link] = await fake.wait_sent(2, within=20)
        assert link["msg_id"] == yes["id"] and f"{daemon.url}/" in link["content"]


async def test_passive_replies_images_group_answers_and_refusals(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, fake, pusher):
        first = c2c_message(ALICE, "怎么充值？")
        assert await dispatch(daemon, pusher, "C2C_MESSAGE_CREATE", first) == ACK
        conv = await daemon.wait_for(lambda: conversation_of(daemon, ALICE))

        fake.rate_limited = 1  # the first try meets a 429: retried, then delivered
        await reply(daemon, conv["id"], "请在钱包首页点击“充值”。")
        sent = await daemon.wait_for(lambda: out_message(daemon, conv["id"], "请在钱包首页点击“充值”。", "sent"))
        [one] = fake.sent
        assert (one["msg_id"], one["msg_seq"], one["msg_type"], one["target"]) == (first["id"], 1, 0, ALICE)
        assert sent["external_id"] == one["id"]

        png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
        form = aiohttp.FormData()
        form.add_field("file", png, filename="steps.png", content_type="image/png")
        async with daemon.session.post(daemon.url + f"/api/v1/conversations/{conv['id']}/messages",
                                       data=_multipart(form, "见截图"),
                                       headers={"Authorization": f"Bearer {daemon.token}"}) as resp:
            assert resp.status == 202, await resp.text()
        await daemon.wait_for(lambda: out_message(daemon, conv["id"], "见截图", "sent"))
        text_part, media_part = fake.sent[1:]
        assert (text_part["msg_seq"], media_part["msg_seq"]) == (2, 3)  # each part a new seq on the same msg_id
        assert media_part["msg_type"] == 7 and media_part["content"] == " "
        assert fake.uploads[media_part["media"]["file_info"]] == (1, png)

        group = group_message(GROUP, MEMBER, "群里问一下手续费")
        assert await dispatch(daemon, pusher, "GROUP_AT_MESSAGE_CREATE", group) == ACK
        group_conv = await daemon.wait_for(lambda: conversation_of(daemon, f"group:{GROUP}:{MEMBER}"))
        await reply(daemon, group_conv["id"], "手续费为0.1%")
        await daemon.wait_for(lambda: out_message(daemon, group_conv["id"], "手续费为0.1%", "sent"))
        last = fake.sent[-1]
        assert (last["scene"], last["target"], last["msg_id"]) == ("group", GROUP, group["id"])

        fake.received[first["id"]].at -= 2 * 3600  # QQ's view: the message is two hours old
        await reply(daemon, conv["id"], "还有其他问题吗？")
        failed = await daemon.wait_for(lambda: out_message(daemon, conv["id"], "还有其他问题吗？", "failed"))
        assert failed["error"] == "QQ refused the message: 回复的消息过期 (code 304027)"

        fake.received[group["id"]].replies = 5  # the five replies QQ allows per message are used
        await reply(daemon, group_conv["id"], "再补充一点")
        failed = await daemon.wait_for(lambda: out_message(daemon, group_conv["id"], "再补充一点", "failed"))
        assert failed["error"] == "QQ refused the message: msg limit exceed (code 22009)"

        contact_id = conv["contact"]["id"]
        status, export = await daemon.api("GET", f"/api/v1/contacts/{contact_id}/export")
        assert status == 200 and "怎么充值？" in str(export)
        assert ALICE in [i["external_id"] for i in export["identities"]]  # the openid is the identity
        status, _ = await daemon.api("DELETE", f"/api/v1/contacts/{contact_id}")
        assert status in (200, 204)
        assert await conversation_of(daemon, ALICE) is None
        assert fake.app_secret not in daemon.logs() and not any(t in daemon.logs() for t in fake.tokens)


def _multipart(form: aiohttp.FormData, text: str) -> aiohttp.FormData:
    form.add_field("text", text)
    return form


async def test_wrong_secret_shows_bad_credentials(tmp_path: Path) -> None:
    async with FakeQQ() as fake:
        async with Daemon(tmp_path, channel_toml(fake), env={"TPB_QQ_SECRET": "not-the-secret"}) as daemon:
            await daemon.wait_for(lambda: state(daemon, "bad_credentials"))
            _, body = await daemon.api("GET", "/healthz")
            assert "invalid appid or secret" in body["channels"]["qq.bot"]["reason"]


async def test_kill_9_mid_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    async with FakeQQ() as fake:
        pusher = QQPusher(fake.app_secret, fake.app_id)
        users = [f"{i:032X}" for i in range(12)]
        bursts = [pusher.dispatch("C2C_MESSAGE_CREATE", c2c_message(u, f"消息 {u[-2:]} #{n}"))
                  for n in range(10) for u in users]
        async with Daemon(tmp_path, channel_toml(fake), env={"TPB_QQ_SECRET": fake.app_secret}) as daemon:
            await daemon.wait_for(lambda: state(daemon, "connected"))

            async def send(push: tuple[dict[str, str], bytes]) -> int:
                return (await post(daemon, *push))[0]

            acked = await burst_until_killed(daemon, bursts, send, kill_after=40)
            assert 40 <= len(acked) < len(bursts)
            await daemon.start()
            await daemon.wait_for(lambda: state(daemon, "connected"))
            stored = set(await inbound_ids(daemon))
            assert {json.loads(b)["d"]["id"] for _, b in acked} <= stored  # every acknowledged one survived
            again = await asyncio.gather(*(until_acked(p, send) for p in bursts))  # QQ pushes the rest again
            assert set(again) == {200}
            ids = await inbound_ids(daemon)
        assert sorted(ids) == sorted(json.loads(b)["d"]["id"] for _, b in bursts)


async def inbound_ids(daemon: Daemon) -> list[str]:
    status, body = await daemon.api("GET", "/api/v1/conversations?inbox=qq.bot&limit=100")
    assert status == 200, body
    ids: list[str] = []
    for conv in body["items"]:
        ids += [m["external_id"] for m in await messages(daemon, conv["id"]) if m["direction"] == "in"]
    return ids


async def test_automation_answers_in_private_points_groups_to_a_dm_and_routing_follows_teams(tmp_path: Path) -> None:
    config = CONFIG
    extra = f"""
[automation]
enabled = true
faq_dir = "{config / 'faq'}"
templates_dir = "{config / 'templates'}"
classify_rules = "{config / 'classify.toml'}"

[automation.inboxes."qq.bot"]
bot = "always"

[teams.qq-desk]
inboxes = ["qq.bot"]
languages = ["zh"]

[teams.mail-desk]
inboxes = ["email.support"]
"""
    async with FakeQQ() as fake, Daemon(tmp_path, channel_toml(fake), env={"TPB_QQ_SECRET": fake.app_secret},
                                        extra_toml=extra) as daemon:
        await daemon.wait_for(lambda: state(daemon, "connected"))
        pusher = QQPusher(fake.app_secret, fake.app_id, fake)
        question = c2c_message(ALICE, "手续费是多少")
        assert await dispatch(daemon, pusher, "C2C_MESSAGE_CREATE", question) == ACK
        [answer] = await fake.wait_sent(1, within=20)  # the FAQ bot answers, as a passive reply
        assert (answer["scene"], answer["target"], answer["msg_id"]) == ("c2c", ALICE, question["id"])
        assert "提现收取网络手续费" in answer["content"]
        in_group = group_message(GROUP, MEMBER, "手续费是多少")
        assert await dispatch(daemon, pusher, "GROUP_AT_MESSAGE_CREATE", in_group) == ACK
        [_, pointer] = await fake.wait_sent(2, within=20)  # in a group, only the pointer to a private chat
        assert (pointer["scene"], pointer["target"], pointer["msg_id"]) == ("group", GROUP, in_group["id"])
        assert "私信" in pointer["content"] and "手续费" not in pointer["content"]

        qq_agent = daemon.add_agent("qq@example.com", "QQ Agent", teams=("qq-desk",))
        mail_agent = daemon.add_agent("mail@example.com", "Mail Agent", teams=("mail-desk",))
        _, seen = await daemon.api("GET", "/api/v1/conversations?status=all", token=qq_agent)
        assert {c["inbox"] for c in seen["items"]} == {"qq.bot"}
        _, unseen = await daemon.api("GET", "/api/v1/conversations?status=all", token=mail_agent)
        assert unseen["items"] == []
