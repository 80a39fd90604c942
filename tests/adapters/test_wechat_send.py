"""Replies through WeChat's customer-service API, against the fake API server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from tpbridge.adapters.base import (
    AdapterContext,
    BadCredentials,
    ChannelState,
    Outbound,
    OutboundAttachment,
    Rejected,
    Retry,
)
from tpbridge.adapters.wechat import Settings, WechatAdapter

from tests.fakes.wechat_api import FakeWechatApi
from tests.support.sink import RecordingSink

OPENID = "oUser_0123456789abcdefghijk"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWechatApi]:
    async with FakeWechatApi(strict_windows=True) as api:
        api.open_window(OPENID)
        yield api


def adapter_for(fake: FakeWechatApi, sink: RecordingSink, tmp: Path, **overrides: Any) -> WechatAdapter:
    settings = Settings(
        **{
            "app_id": fake.app_id,
            "app_secret": fake.app_secret,
            "token": "cb",
            "api_base_url": fake.url,
            "http_timeout": 2.0,
            **overrides,
        }
    )
    ctx = AdapterContext(sink, "https://support.example", tmp, "/hooks/wechat/official")
    return WechatAdapter("wechat.official", settings, ctx)


@asynccontextmanager
async def entered(
    fake: FakeWechatApi, tmp: Path, sink: RecordingSink | None = None, **overrides: Any
) -> AsyncIterator[WechatAdapter]:
    async with adapter_for(fake, sink or RecordingSink("wechat.official"), tmp, **overrides) as adapter:
        yield adapter


def reply(text: str = "您好，已为您查询，包裹明天送达。", message_id: int = 501, **kw: Any) -> Outbound:
    return Outbound(
        inbox="wechat.official", message_id=message_id, conversation_id=42, recipient=OPENID, text=text, **kw
    )


async def test_text_reply_goes_out_as_utf8_json(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with entered(fake, tmp_path) as adapter:
        sent = await adapter.send(reply())
    assert sent.external_id == "cs:501"
    assert fake.sent == [
        {"touser": OPENID, "msgtype": "text", "text": {"content": "您好，已为您查询，包裹明天送达。"}}
    ]
    assert "您好".encode() in fake.raw_sends[0]  # not \\u-escaped


async def test_token_is_cached_in_the_store_and_shared(fake: FakeWechatApi, tmp_path: Path) -> None:
    """Two daemon instances on one store (one kv) use one token instead of invalidating each other's."""
    sink = RecordingSink("wechat.official")
    async with entered(fake, tmp_path, sink) as one, entered(fake, tmp_path, sink) as two:
        await asyncio.gather(*(a.send(reply(message_id=i)) for i, a in enumerate([one, two, one, two])))
    assert fake.token_fetches == 1
    assert len(fake.sent) == 4
    assert await sink.kv_get(f"wechat.access_token:{fake.app_id}") in fake.tokens


async def test_concurrent_senders_fetch_one_token(fake: FakeWechatApi, tmp_path: Path) -> None:
    fake.fail_next("token", -1)  # no token at start ("system error"), so the sends below find none
    async with entered(fake, tmp_path) as adapter:
        fake.delays["token"] = 0.2
        await asyncio.gather(*(adapter.send(reply(message_id=i)) for i in range(5)))
    assert fake.token_fetches == 2  # the failed one at start, then ONE for five concurrent sends
    assert len(fake.sent) == 5


async def test_token_ttl_leaves_a_margin(fake: FakeWechatApi, tmp_path: Path) -> None:
    fake.expires_in = 7200
    sink = RecordingSink("wechat.official")
    async with entered(fake, tmp_path, sink, token_refresh_margin=300):
        _, expires_at = sink._kv[f"wechat.access_token:{fake.app_id}"]
    assert expires_at is not None and 6890 < expires_at - time.time() <= 6900


@pytest.mark.parametrize("errcode", [40001, 42001, 40014])
async def test_rejected_token_is_refreshed_once_and_the_reply_still_goes_out(
    fake: FakeWechatApi, tmp_path: Path, errcode: int
) -> None:
    async with entered(fake, tmp_path) as adapter:
        assert fake.token_fetches == 1
        if errcode == 42001:
            fake.expire_tokens()  # the real thing: the cached token has expired on WeChat's side
        else:
            fake.fail_next("send", errcode)
        with capture_logs() as logs:
            await adapter.send(reply())
    assert fake.token_fetches == 2
    assert len(fake.sent) == 1
    assert [e["errcode"] for e in logs if e["event"] == "wechat.token_rejected"] == [errcode]


async def test_token_rejected_again_after_refresh_is_retry_not_a_loop(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    """wechatpy's client retries 40001 without limit; we refresh exactly once."""
    async with entered(fake, tmp_path) as adapter:
        fake.fail_next("send", 40001, times=50)
        with pytest.raises(Retry, match="40001"):
            await adapter.send(reply())
    assert fake.token_fetches == 2
    assert fake.sent == []


async def test_token_refreshed_by_another_instance_is_reused(fake: FakeWechatApi, tmp_path: Path) -> None:
    sink_a, sink_b = RecordingSink("wechat.official"), RecordingSink("wechat.official")
    sink_b._kv = sink_a._kv  # one store
    async with entered(fake, tmp_path, sink_a) as a, entered(fake, tmp_path, sink_b) as b:
        fake.expire_tokens()
        await a.send(reply(message_id=1))  # a refreshes
        fetches = fake.token_fetches
        await b.send(reply(message_id=2))  # b finds the fresh token in the store
    assert fake.token_fetches == fetches
    assert len(fake.sent) == 2


async def test_closed_48_hour_window_fails_permanently_with_wechats_reason(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    fake.windows.clear()  # the user last wrote more than 48 hours ago
    async with entered(fake, tmp_path) as adapter:
        with pytest.raises(Rejected) as info:
            await adapter.send(reply())
    assert info.value.reason == "response out of time limit or subscription is canceled (errcode 45015)"
    assert not info.value.unreachable


async def test_reply_quota_used_up_fails_permanently(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with entered(fake, tmp_path) as adapter:
        for i in range(5):
            await adapter.send(reply(message_id=i))
        with pytest.raises(Rejected, match="out of response count limit \\(errcode 45047\\)"):
            await adapter.send(reply(message_id=99))


async def test_unsubscribed_user_is_unreachable(fake: FakeWechatApi, tmp_path: Path) -> None:
    fake.unsubscribed.add(OPENID)
    async with entered(fake, tmp_path) as adapter:
        with pytest.raises(Rejected) as info:
            await adapter.send(reply())
    assert info.value.unreachable and "43004" in info.value.reason


@pytest.mark.parametrize(("errcode", "status"), [(45009, 200), (-1, 200), (None, 502), (None, 503)])
async def test_transient_failures_are_retry(
    fake: FakeWechatApi, tmp_path: Path, errcode: int | None, status: int
) -> None:
    async with entered(fake, tmp_path) as adapter:
        fake.fail_next("send", errcode, status=status)
        with pytest.raises(Retry) as info:
            await adapter.send(reply())
        assert info.value.after is not None or errcode is None
        await adapter.send(reply())  # and the next attempt goes out
    assert len(fake.sent) == 1


async def test_network_failure_is_retry(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with entered(fake, tmp_path) as adapter:
        await fake.stop()
        with pytest.raises(Retry, match="unreachable"):
            await adapter.send(reply())


async def test_timeout_is_retry(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with entered(fake, tmp_path, http_timeout=0.3) as adapter:
        fake.fail_next("send", -1, delay=1.0)
        with pytest.raises(Retry, match="TimeoutError"):
            await adapter.send(reply())


@pytest.mark.parametrize("bad", ["appid", "secret", "ip"])
async def test_bad_app_credentials_are_bad_credentials(fake: FakeWechatApi, tmp_path: Path, bad: str) -> None:
    sink = RecordingSink("wechat.official")
    overrides = (
        {"app_id": "wx-wrong"} if bad == "appid" else {"app_secret": "wrong"} if bad == "secret" else {}
    )
    if bad == "ip":
        fake.fail_next("token", 40164)
    with capture_logs() as logs:
        with pytest.raises(BadCredentials, match={"appid": "40013", "secret": "40125", "ip": "40164"}[bad]):
            async with entered(fake, tmp_path, sink, **overrides):
                pass
    assert ChannelState.BAD_CREDENTIALS not in [s for s, _ in sink.states]  # raised; the supervisor reports it
    logged = json.dumps(logs, default=str)
    assert fake.app_secret not in logged and "wrong" not in logged


async def test_unreachable_api_at_start_keeps_the_webhook_up(tmp_path: Path) -> None:
    fake = FakeWechatApi()
    await fake.start()
    await fake.stop()  # a port nobody listens on any more
    adapter = adapter_for(fake, RecordingSink("wechat.official"), tmp_path)
    async with adapter:
        with pytest.raises(Retry):
            await adapter.send(reply())


async def test_secrets_never_reach_the_logs(fake: FakeWechatApi, tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with entered(fake, tmp_path) as adapter:
            fake.expire_tokens()
            await adapter.send(reply())
            fake.fail_next("send", None, status=502)
            with pytest.raises(Retry):
                await adapter.send(reply(message_id=2))
    logged = json.dumps(logs, default=str)
    assert fake.app_secret not in logged
    assert not any(token in logged for token in fake.tokens)
    assert logs and all(e.get("inbox") == "wechat.official" for e in logs)


# ---------------------------------------------------------------- long text and media


async def test_long_text_is_split_and_a_retry_skips_parts_already_sent(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    text = "\n".join(f"第{i}行：您的退款申请已经提交，预计三到五个工作日到账。" for i in range(80))
    async with entered(fake, tmp_path) as adapter:
        fake.windows[OPENID] = (fake.windows[OPENID][0], -10)  # room for every part
        fake.fail_next("send", -1, after=1)  # the second part hits "system error"
        with pytest.raises(Retry):
            await adapter.send(reply(text))
        await adapter.send(reply(text))  # the outbox's retry
    contents = [m["text"]["content"] for m in fake.sent]
    assert all(len(c.encode()) <= 2048 for c in contents)
    assert len(contents) > 2
    assert "\n".join(contents) == text
    assert len(contents) == len(set(contents))  # nothing delivered twice


async def test_image_reply_is_uploaded_then_sent(fake: FakeWechatApi, tmp_path: Path) -> None:
    png = tmp_path / "receipt.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    att = OutboundAttachment(kind="image", mime="image/png", filename="receipt.png", size=208, source=png)
    async with entered(fake, tmp_path) as adapter:
        await adapter.send(reply("收据如下", attachments=(att,)))
    text, image = fake.sent
    assert text["text"]["content"] == "收据如下"
    assert image["msgtype"] == "image"
    kind, mime, data = fake.uploads[image["image"]["media_id"]]
    assert (kind, mime, data) == ("image", "image/png", png.read_bytes())


async def test_unsupported_attachment_is_rejected_before_anything_is_sent(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    att = OutboundAttachment(kind="file", mime="application/pdf", filename="invoice.pdf", size=8, source=pdf)
    async with entered(fake, tmp_path) as adapter:
        with pytest.raises(Rejected, match="application/pdf"):
            await adapter.send(reply("发票", attachments=(att,)))
    assert fake.sent == []


async def test_ip_whitelist_error_on_send_is_bad_credentials_and_the_retry_goes_out(
    fake: FakeWechatApi, tmp_path: Path
) -> None:
    sink = RecordingSink("wechat.official")
    async with entered(fake, tmp_path, sink) as adapter:
        fake.fail_next("send", 40164)
        with pytest.raises(BadCredentials, match="40164"):
            await adapter.send(reply(message_id=1))
        await adapter.send(reply(message_id=1))  # the outbox retries once the whitelist is fixed
    assert len(fake.sent) == 1
    # The outbox, not the adapter, marks the inbox unhealthy and healthy again (tests/bridge/test_outbox.py).
    assert ChannelState.BAD_CREDENTIALS not in [s for s, _ in sink.states]
