"""Every kind of WeChat push becomes the right Inbound: messages, media, events."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.adapters.test_wechat import AES_KEY, OPENID, fake, text_xml, webhook
from tests.fakes.wechat_api import FakeWechatApi, push_xml

__all__ = ["fake"]  # the fixture, shared with test_wechat.py

# ---------------------------------------------------------------- message kinds


async def test_safe_mode_text_message_lands_with_reply_window(fake: FakeWechatApi, tmp_path: Path) -> None:
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY) as hook:
        now = int(time.time())
        status, body = await hook.post(text_xml("退款什么时候到账？", msg_id=7001, create_time=now))
        assert (status, body) == (200, "success")
    [record] = hook.sink.records
    assert record.inbox == "wechat.official"
    assert record.text == "退款什么时候到账？"
    assert record.external_id == f"{OPENID}:7001"
    assert record.sender.external_id == OPENID
    assert not record.system
    assert record.reply_window_ends_at == datetime.fromtimestamp(now, UTC) + timedelta(hours=48)


async def test_image_is_downloaded_with_media_get(fake: FakeWechatApi, tmp_path: Path) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"JFIF-bytes" * 100
    fake.add_media("media-img-1", "image/jpeg", jpeg)
    xml = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=int(time.time()),
        MsgType="image",
        PicUrl="http://mmbiz.qpic.cn/mmbiz/abc/0",
        MediaId="media-img-1",
        MsgId=7002,
    )
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY) as hook:
        assert await hook.post(xml) == (200, "success")
    [record] = hook.sink.records
    [att] = record.attachments
    assert (att.kind, att.mime, att.data) == ("image", "image/jpeg", jpeg)
    assert record.extra["pic_url"] == "http://mmbiz.qpic.cn/mmbiz/abc/0"
    assert record.extra["media_id"] == "media-img-1"


async def test_voice_keeps_recognition_and_audio(fake: FakeWechatApi, tmp_path: Path) -> None:
    fake.add_media("media-voice", "audio/amr", b"#!AMR\n" + b"\x00" * 50)
    xml = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=int(time.time()),
        MsgType="voice",
        MediaId="media-voice",
        Format="amr",
        Recognition="我想改一下收货地址",
        MsgId=7003,
    )
    async with webhook(fake, tmp_path) as hook:
        assert await hook.post(xml) == (200, "success")
    [record] = hook.sink.records
    assert record.text == "我想改一下收货地址"
    assert [(a.kind, a.mime) for a in record.attachments] == [("voice", "audio/amr")]
    assert record.extra["format"] == "amr"


@pytest.mark.parametrize("msg_type", ["video", "shortvideo"])
async def test_video_follows_the_video_url(fake: FakeWechatApi, tmp_path: Path, msg_type: str) -> None:
    fake.add_media("media-vid", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + b"v" * 500)
    xml = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=int(time.time()),
        MsgType=msg_type,
        MediaId="media-vid",
        ThumbMediaId="thumb-1",
        MsgId=7004,
    )
    async with webhook(fake, tmp_path) as hook:
        assert await hook.post(xml) == (200, "success")
    [record] = hook.sink.records
    [att] = record.attachments
    assert (att.kind, att.mime) == ("video", "video/mp4")
    assert att.data.startswith(b"\x00\x00\x00\x18ftyp")
    assert record.extra["thumb_media_id"] == "thumb-1"


async def test_slow_media_download_does_not_delay_the_answer(fake: FakeWechatApi, tmp_path: Path) -> None:
    """WeChat retries after 5 s: a slow media/get is cut at media_timeout, the file follows later."""
    png = b"\x89PNG\r\n\x1a\n" + b"p" * 64
    fake.add_media("media-slow", "image/png", png)
    fake.slow_next("get", 2.0)
    xml = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=int(time.time()),
        MsgType="image",
        PicUrl="http://mmbiz.qpic.cn/x",
        MediaId="media-slow",
        MsgId=7005,
    )
    async with webhook(fake, tmp_path, media_timeout=0.3) as hook:
        started = time.monotonic()
        assert await hook.post(xml) == (200, "success")
        assert time.monotonic() - started < 1.5
        first = hook.sink.records[0]  # stored before the answer
        assert first.attachments == ()
        assert "media_id media-slow" in first.text
        assert first.extra["media_error"] == "timeout"
        # run() fetches it again in the background and stores it as a follow-up
        _, follow_up = await hook.sink.wait_for(2)
    assert follow_up.external_id == f"{OPENID}:7005:media"
    assert follow_up.reply_to == f"{OPENID}:7005"
    assert [(a.kind, a.data) for a in follow_up.attachments] == [("image", png)]
    assert follow_up.sender == first.sender


async def test_missing_media_is_stored_with_the_reason(fake: FakeWechatApi, tmp_path: Path) -> None:
    xml = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=int(time.time()),
        MsgType="image",
        PicUrl="http://mmbiz.qpic.cn/x",
        MediaId="expired-media",
        MsgId=7006,
    )
    async with webhook(fake, tmp_path) as hook:
        with capture_logs() as logs:
            assert await hook.post(xml) == (200, "success")
    [record] = hook.sink.records
    assert "invalid media_id (errcode 40007)" in record.text
    assert [e["retry_later"] for e in logs if e["event"] == "media.download_failed"] == [False]
    assert len(hook.sink.records) == 1  # a refused media_id is not retried


async def test_location_and_link(fake: FakeWechatApi, tmp_path: Path) -> None:
    now = int(time.time())
    location = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=now,
        MsgType="location",
        Location_X="23.134521",
        Location_Y="113.358803",
        Scale=20,
        Label="广州市天河区",
        MsgId=1,
    )
    link = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=now,
        MsgType="link",
        Title="订单截图",
        Description="看这里",
        Url="https://example.com/o/1",
        MsgId=2,
    )
    async with webhook(fake, tmp_path) as hook:
        assert await hook.post(location) == (200, "success")
        assert await hook.post(link) == (200, "success")
    loc, lnk = hook.sink.records
    assert loc.text == "📍 广州市天河区 (23.134521, 113.358803)"
    assert (loc.extra["latitude"], loc.extra["longitude"]) == ("23.134521", "113.358803")
    assert lnk.text == "订单截图\n看这里\nhttps://example.com/o/1"
    assert lnk.extra["url"] == "https://example.com/o/1"


EVENTS = [
    # (fields, text, subscribe attrs, opens window)
    (
        {"Event": "subscribe", "EventKey": "qrscene_123123", "Ticket": "TICKET"},
        "Subscribed by scanning QR code (scene 123123)",
        {"wechat_subscribed": True, "wechat_subscribe_scene": "qrcode:123123"},
        True,
    ),
    (
        {"Event": "subscribe"},
        "Subscribed to the official account",
        {"wechat_subscribed": True, "wechat_subscribe_scene": "other"},
        True,
    ),
    ({"Event": "unsubscribe"}, "Unsubscribed from the official account", {"wechat_subscribed": False}, False),
    ({"Event": "SCAN", "EventKey": "123123", "Ticket": "TICKET"}, "Scanned QR code (scene 123123)", {}, True),
    ({"Event": "CLICK", "EventKey": "V1001_TODAY_MUSIC"}, "Clicked menu item V1001_TODAY_MUSIC", {}, True),
    ({"Event": "VIEW", "EventKey": "https://www.qq.com/"}, "Opened menu link https://www.qq.com/", {}, False),
]


@pytest.mark.parametrize(("fields", "text", "attrs", "opens"), EVENTS, ids=lambda x: None)
async def test_events_become_system_notes(
    fake: FakeWechatApi, tmp_path: Path, fields: dict[str, str], text: str, attrs: dict[str, Any], opens: bool
) -> None:
    now = int(time.time())
    xml = push_xml(ToUserName="gh_1", FromUserName=OPENID, CreateTime=now, MsgType="event", **fields)
    async with webhook(fake, tmp_path, encoding_aes_key=AES_KEY) as hook:
        assert await hook.post(xml) == (200, "success")
    [record] = hook.sink.records
    assert record.system
    assert record.text == text
    assert record.external_id == f"{OPENID}:{now}:{fields['Event']}"
    assert record.sender.external_id == OPENID
    for key, value in attrs.items():
        assert record.conversation_attrs[key] == value
    window = record.reply_window_ends_at
    if opens:
        assert window == datetime.fromtimestamp(now, UTC) + timedelta(hours=48)
    elif fields["Event"] == "unsubscribe":
        assert window == datetime.fromtimestamp(now, UTC)  # closed: 43004 from now on
    else:
        assert window is None  # a VIEW click does not open the customer-service window


@pytest.mark.parametrize("event", ["TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH", "LOCATION"])
async def test_broadcast_receipts_and_location_reports_are_not_conversations(
    fake: FakeWechatApi, tmp_path: Path, event: str
) -> None:
    xml = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=int(time.time()),
        MsgType="event",
        Event=event,
        Status="success",
        Latitude="23.1",
        Longitude="113.3",
        Precision="65.0",
    )
    async with webhook(fake, tmp_path) as hook:
        assert await hook.post(xml) == (200, "success")
    assert hook.sink.records == []


async def test_unknown_message_type_is_kept_as_a_note(fake: FakeWechatApi, tmp_path: Path) -> None:
    xml = push_xml(
        ToUserName="gh_1",
        FromUserName=OPENID,
        CreateTime=int(time.time()),
        MsgType="miniprogrampage",
        Title="商品",
        AppId="wxapp",
        MsgId=123,
    )
    async with webhook(fake, tmp_path) as hook:
        assert await hook.post(xml) == (200, "success")
    [record] = hook.sink.records
    assert record.system and "miniprogrampage" in record.text
    assert record.external_id == f"{OPENID}:123"
