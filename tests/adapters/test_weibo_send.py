"""The Weibo adapter at the wire, without the daemon: the fake on one side, a recording sink on the other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from tpbridge.adapters.base import AdapterContext, BadCredentials, Outbound, OutboundAttachment, Rejected, Retry
from tpbridge.adapters.weibo import Settings, WeiboAdapter

from tests.fakes.weibo_api import FakeWeibo, WeiboPusher, push_body
from tests.support.sink import RecordingSink

USER = "2489518277"


@asynccontextmanager
async def adapter(tmp_path: Path, fake: FakeWeibo, **overrides: Any) -> AsyncIterator[WeiboAdapter]:
    settings = Settings.model_validate({"app_key": "1", "app_secret": "s", "access_token": fake.access_token,
                                        "api_base_url": fake.url, **overrides})
    ctx = AdapterContext(RecordingSink("weibo.official"), "https://support.example", tmp_path,
                         "/hooks/weibo/official")
    async with WeiboAdapter("weibo.official", settings, ctx) as weibo:
        yield weibo


def reply(text: str, *, attachments: tuple[OutboundAttachment, ...] = ()) -> Outbound:
    return Outbound(inbox="weibo.official", message_id=7, conversation_id=1, recipient=USER, text=text,
                    attachments=attachments)


async def test_a_long_reply_is_split_and_a_retry_skips_the_parts_delivered(tmp_path: Path) -> None:
    async with FakeWeibo() as fake, adapter(tmp_path, fake, text_limit=10) as weibo:
        fake.open_window(USER)
        assert weibo.webhook.uid == str(fake.uid)  # learnt from the token
        text = "第一段内容写在这里\n第二段内容也在这里"
        fake.rate_limit_call = 2  # the second part meets Weibo's rate limit
        with pytest.raises(Retry, match="10023"):
            await weibo.send(reply(text))
        sent = await weibo.send(reply(text))  # the outbox's retry: the first part is not sent again
        assert [m["data"]["text"] for m in fake.sent] == ["第一段内容写在这里", "第二段内容也在这里"]
        assert fake.calls.count("reply") == 3
        assert sent.external_id == str(fake._next_id - 1)  # the first part's id


async def test_files_are_refused_and_a_revoked_token_is_bad_credentials(tmp_path: Path) -> None:
    pic = tmp_path / "a.png"
    pic.write_bytes(b"\x89PNG")
    async with FakeWeibo() as fake, adapter(tmp_path, fake) as weibo:
        fake.open_window(USER)
        with pytest.raises(Rejected, match="text only"):
            await weibo.send(reply("见图", attachments=(OutboundAttachment("image", "image/png", "a.png", 4, pic),)))
        fake.access_token = "revoked"
        with pytest.raises(BadCredentials, match="invalid_access_token"):
            await weibo.send(reply("您好"))
        assert fake.sent == []


async def test_a_token_of_another_account_is_refused_at_start(tmp_path: Path) -> None:
    async with FakeWeibo() as fake:
        with pytest.raises(BadCredentials, match="belongs to uid"):
            async with adapter(tmp_path, fake, uid="1234"):
                pass


async def test_a_push_for_another_account_is_refused_and_a_missing_image_leaves_a_note(tmp_path: Path) -> None:
    async with FakeWeibo() as fake, adapter(tmp_path, fake) as weibo:
        app = web.Application()
        app.add_routes(weibo.routes())
        pusher = WeiboPusher("s")
        async with TestClient(TestServer(app)) as client:
            other = push_body("text", 42, "hi", receiver_id=999)
            resp = await client.post("/hooks/weibo/official", params=pusher.params(), data=other)
            assert resp.status == 403 and (await resp.json())["error"]["message"] == "push for another account"
            image = push_body("image", 42, "发了一张图片", {"vfid": 1, "tovfid": 777}, receiver_id=fake.uid)
            resp = await client.post("/hooks/weibo/official", params=pusher.params(), data=image)
            assert resp.status == 200 and await resp.text() == ""
        [record] = weibo.sink.records  # type: ignore[attr-defined]
        assert record.text.startswith("[image not downloaded: parameter (fid)'s value invalid")
        assert record.extra["tovfid"] == "777" and record.attachments == ()
