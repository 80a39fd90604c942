"""Conversion of the less common update shapes (the published samples are in test_telegram_polling)."""

from __future__ import annotations

from typing import Any

from telegram import Bot, Update
from tpbridge.adapters.base import Inbound
from tpbridge.adapters.telegram.convert import start_payload, update_to_inbound

from tests.fakes.telegram_api import message_update

BOT = Bot("123456:TEST-fake-bot-token")


async def convert(data: dict[str, Any], **allow: bool) -> Inbound | None:
    async def fetch(file_id: str, size: int | None) -> bytes:
        return f"bytes of {file_id}".encode()

    update = Update.de_json({"update_id": 1, **data}, BOT)
    return await update_to_inbound(
        update, inbox="telegram.main", fetch=fetch,
        allow_groups=allow.get("groups", False), allow_channels=allow.get("channels", False),
    )


def test_start_payload_forms() -> None:
    assert start_payload("/start abc") == "abc"
    assert start_payload("/start@tp_support_bot vip-42") == "vip-42"
    assert start_payload("/start") is None
    assert start_payload("/started later") is None
    assert start_payload("hello /start x") is None


async def test_caption_entities_become_html() -> None:
    record = await convert(message_update(
        4, photo=[{"file_id": "P", "file_unique_id": "uP", "width": 1, "height": 1}],
        caption="see bold", caption_entities=[{"offset": 4, "length": 4, "type": "bold"}],
    ))
    assert record is not None
    assert record.text == "see bold"
    assert record.html == "see <b>bold</b>"


async def test_gif_animation_is_a_video_attachment_not_a_document() -> None:
    animation = {"file_id": "A", "file_unique_id": "uA", "width": 1, "height": 1, "duration": 1,
                 "mime_type": "video/mp4", "file_name": "fun.gif.mp4"}
    record = await convert(message_update(5, animation=animation, document=dict(animation)))
    assert record is not None
    [att] = record.attachments
    assert (att.kind, att.mime, att.filename, att.data) == ("video", "video/mp4", "fun.gif.mp4", b"bytes of A")


async def test_forwarded_message_keeps_its_origin() -> None:
    origin = {"type": "hidden_user", "sender_user_name": "Someone", "date": 1763870000}
    record = await convert(message_update(6, text="look at this", forward_origin=origin))
    assert record is not None
    assert record.extra["forward_origin"]["sender_user_name"] == "Someone"


async def test_channel_posts_only_when_allowed() -> None:
    post = {"channel_post": {"message_id": 9, "date": 1763870000, "text": "news",
                             "chat": {"id": -100777, "type": "channel", "title": "TP News"}}}
    assert await convert(post) is None
    record = await convert(post, channels=True)
    assert record is not None
    assert (record.external_id, record.sender.name, record.text) == ("-100777:9", "TP News", "news")


async def test_service_message_and_newer_fields_are_named_not_dropped() -> None:
    pinned = await convert(message_update(7, pinned_message={"message_id": 1, "date": 0,
                                                             "chat": {"id": 424242, "type": "private"}}))
    assert pinned is not None and pinned.system
    assert pinned.text == "Unsupported Telegram message kind: pinned_message"
    future = await convert(message_update(8, hologram={"id": "x"}))
    assert future is not None and future.text == "Unsupported Telegram message kind: hologram"


async def test_user_restarting_the_bot_is_a_note() -> None:
    user = {"id": 424242, "is_bot": False, "first_name": "Ann"}
    bot = {"id": 1, "is_bot": True, "first_name": "Support"}
    record = await convert({"my_chat_member": {
        "chat": {"id": 424242, "type": "private", "first_name": "Ann"}, "from": user, "date": 1763870000,
        "old_chat_member": {"user": bot, "status": "kicked", "until_date": 0},
        "new_chat_member": {"user": bot, "status": "member"}}})
    assert record is not None and record.system
    assert record.text == "The user started the bot again"
