"""The QQ adapter at the wire, without the daemon: the fake on one side, a recording sink on the other."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from tpbridge.adapters.base import AdapterContext, Outbound, OutboundAttachment, Rejected
from tpbridge.adapters.qq import QQAdapter, Settings

from tests.fakes.qq_api import FakeQQ, QQPusher, Received, c2c_message
from tests.support.sink import RecordingSink

USER = "E4F4AEA33253A2797FB897C50B81D7ED"


@asynccontextmanager
async def adapter(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[QQAdapter, FakeQQ, RecordingSink]]:
    async with FakeQQ() as fake:
        settings = Settings.model_validate({
            "app_id": fake.app_id, "app_secret": fake.app_secret, "api_base_url": fake.url,
            "token_url": f"{fake.url}/app/getAppAccessToken", **overrides,
        })
        sink = RecordingSink("qq.bot")
        qq = QQAdapter("qq.bot", settings, AdapterContext(sink, "https://support.example", tmp_path, "/hooks/qq/bot"))
        async with qq:
            yield qq, fake, sink


def reply(text: str, reply_to: str | None = "m1", *, message_id: int = 1, window_left: float = 600,
          attachments: tuple[OutboundAttachment, ...] = ()) -> Outbound:
    ends = datetime.now(UTC) + timedelta(seconds=window_left)
    return Outbound(inbox="qq.bot", message_id=message_id, conversation_id=1, recipient=USER, text=text,
                    reply_to=reply_to, reply_window_ends_at=ends, attachments=attachments)


async def test_a_reply_whose_answer_was_lost_is_not_sent_twice(tmp_path: Path) -> None:
    async with adapter(tmp_path) as (qq, fake, sink):
        fake.received["m1"] = Received("c2c", USER, time.time())
        first = await qq.send(reply("您好"))
        # The process died after QQ sent it but before the part was recorded as done:
        sink._kv = {k: v for k, v in sink._kv.items() if not k.startswith("qq.sent:")}
        again = await qq.send(reply("您好"))
        assert len(fake.sent) == 1 and fake.sent[0]["msg_seq"] == 1
        assert first.external_id == fake.sent[0]["id"] and again.external_id.startswith("qq:")
        await qq.send(reply("还有别的问题吗", message_id=2))  # the next reply takes the next seq
        assert fake.sent[1]["msg_seq"] == 2


async def test_markdown_where_allowed_and_qqs_refusal_where_not(tmp_path: Path) -> None:
    async with adapter(tmp_path, markdown=True) as (qq, fake, _sink):
        fake.received["m1"] = Received("c2c", USER, time.time())
        with pytest.raises(Rejected, match=r"不允许发送 markdown content \(code 50056\)"):
            await qq.send(reply("**加粗**"))
        fake.markdown_allowed = True
        await qq.send(reply("**加粗**", message_id=2))
        assert fake.sent[0]["msg_type"] == 2 and fake.sent[0]["markdown"] == {"content": "**加粗**"}


async def test_after_the_window_an_active_message_only_where_allowed(tmp_path: Path) -> None:
    async with adapter(tmp_path, active_messages=True) as (qq, fake, _sink):
        fake.received["m1"] = Received("c2c", USER, time.time() - 7200)
        fake.active_quota = 1
        await qq.send(reply("我们已处理完毕", window_left=-60))
        assert "msg_id" not in fake.sent[0] and "msg_seq" not in fake.sent[0]
        with pytest.raises(Rejected, match=r"msg limit exceed \(code 22009\)"):  # the monthly quota is spent
            await qq.send(reply("再次提醒", message_id=2, window_left=-60))


async def test_unsupported_files_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    doc = tmp_path / "a.pdf"
    doc.write_bytes(b"%PDF")
    att = OutboundAttachment("file", "application/pdf", "a.pdf", 4, doc)
    async with adapter(tmp_path) as (qq, fake, _sink):
        fake.received["m1"] = Received("c2c", USER, time.time())
        with pytest.raises(Rejected, match="not application/pdf"):
            await qq.send(reply("见附件", attachments=(att,)))
        assert fake.sent == [] and fake.uploads == {}


async def test_an_expired_token_is_fetched_again_once(tmp_path: Path) -> None:
    async with adapter(tmp_path) as (qq, fake, _sink):
        fake.received["m1"] = Received("c2c", USER, time.time())
        fake.tokens.clear()  # QQ no longer knows the cached token
        await qq.send(reply("您好"))
        assert fake.token_fetches == 2 and len(fake.sent) == 1


async def test_a_callback_sent_in_chunks_is_read_whole(tmp_path: Path) -> None:
    async with adapter(tmp_path) as (qq, fake, sink):
        app = web.Application()
        app.add_routes(qq.routes())
        pusher = QQPusher(fake.app_secret, fake.app_id)
        headers, body = pusher.dispatch("C2C_MESSAGE_CREATE", c2c_message(USER, "分块" * 3000))

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 1000):
                yield body[i:i + 1000]

        async with TestClient(TestServer(app)) as client:
            resp = await client.post("/hooks/qq/bot", data=chunks(), headers=headers)
            assert resp.status == 200, await resp.text()
        [record] = sink.records
        assert record.text == "分块" * 3000


async def test_an_attachment_that_cannot_be_fetched_leaves_a_note_not_a_loss(tmp_path: Path) -> None:
    async with adapter(tmp_path) as (qq, fake, sink):
        app = web.Application()
        app.add_routes(qq.routes())
        pusher = QQPusher(fake.app_secret, fake.app_id)
        gone = f"{fake.url}/media/gone.jpg"
        msg = c2c_message(USER, "看图", attachments=[{"content_type": "image/jpeg", "filename": "gone.jpg",
                                                    "size": 10, "url": gone}])
        headers, body = pusher.dispatch("C2C_MESSAGE_CREATE", msg)
        async with TestClient(TestServer(app)) as client:
            resp = await client.post("/hooks/qq/bot", data=body, headers=headers)
            assert resp.status == 200 and await resp.json() == {"op": 12, "d": 0}
        [record] = sink.records
        assert record.text.startswith("看图\n[image not downloaded: attachment download answered HTTP 404]")
        assert record.attachments == () and record.extra["attachment_urls"] == [gone]
