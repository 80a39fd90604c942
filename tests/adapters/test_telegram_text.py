"""The read of private text messages straight from JSON agrees with python-telegram-bot's full path.

Its HTML is written in the sanitiser's own output form and stored without a sanitiser pass: so both
paths agree once the full path's HTML is sanitised, and sanitising the fast path's changes nothing."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Update
from tpbridge.adapters.base import Inbound, SanitisedHtml
from tpbridge.adapters.telegram.convert import update_to_inbound
from tpbridge.adapters.telegram.text import text_record
from tpbridge.bridge.sanitize import clean_html

from tests.adapters.telegram_support import fixture_updates

INBOX = "telegram.main"


async def never_fetch(file_id: str, size: int | None) -> bytes:
    raise AssertionError("a text message downloads nothing")


async def full_path(data: dict[str, Any]) -> Inbound | None:
    update = Update.de_json(copy.deepcopy(data), None)
    return await update_to_inbound(update, inbox=INBOX, fetch=never_fetch, allow_groups=True, allow_channels=True)


async def assert_same_as_full_path(record: Inbound, data: dict[str, Any]) -> None:
    full = await full_path(data)
    assert full is not None
    if record.html is not None:  # stored as it is: it must be exactly what the sanitiser gives
        assert type(record.html) is SanitisedHtml and clean_html(record.html) == record.html
    assert replace(record, html=clean_html(record.html)) == replace(full, html=clean_html(full.html))


def text_update(text: str, entities: list[dict[str, Any]] | None = None, *, update_id: int = 1,
                chat: dict[str, Any] | None = None, user: dict[str, Any] | None = None) -> dict[str, Any]:
    user = user if user is not None else {"id": 42, "is_bot": False, "first_name": "Wei", "last_name": "Zhang 张",
                                          "username": "wei_z", "language_code": "zh-hans"}
    chat = chat if chat is not None else {"id": 42, "first_name": "Wei", "last_name": "Zhang 张",
                                          "username": "wei_z", "type": "private"}
    message: dict[str, Any] = {"message_id": 7, "from": user, "chat": chat, "date": 1764633600, "text": text}
    if entities is not None:
        message["entities"] = entities
    return {"update_id": update_id, "message": message}


async def test_every_fixture_update_reads_the_same_on_both_paths() -> None:
    fast = 0
    for data in fixture_updates():
        record = text_record(INBOX, data)
        if record is None:
            continue
        fast += 1
        await assert_same_as_full_path(record, data)
    assert fast >= 2  # the fixture's plain text messages take the JSON path


CASES = [
    text_update("我的提现还没到账"),
    text_update("/start campaign-42"),
    text_update("😀 emoji before **bold** & <tags> \"quoted\"",
                [{"type": "bold", "offset": 3, "length": 5}, {"type": "code", "offset": 16, "length": 8}]),
    text_update("see @acme_support and #withdrawal https://example.com/x?a=1&b=2",
                [{"type": "mention", "offset": 4, "length": 13}, {"type": "hashtag", "offset": 22, "length": 11},
                 {"type": "url", "offset": 34, "length": 29}]),
    text_update("spoiler and quote", [{"type": "spoiler", "offset": 0, "length": 7},
                                      {"type": "blockquote", "offset": 12, "length": 5}]),
    text_update("no last name", chat={"id": 9, "first_name": "Ann", "type": "private"},
                user={"id": 9, "is_bot": False, "first_name": "Ann"}),
]


async def test_crafted_text_messages_read_the_same_on_both_paths() -> None:
    for data in CASES:
        record = text_record(INBOX, data)
        assert record is not None, data
        await assert_same_as_full_path(record, data)


async def test_everything_else_takes_the_full_path() -> None:
    nested = text_update("bold italic", [{"type": "bold", "offset": 0, "length": 11},
                                         {"type": "italic", "offset": 5, "length": 6}])
    link = text_update("a link", [{"type": "text_link", "offset": 2, "length": 4, "url": "https://example.com"}])
    group = text_update("hi", chat={"id": -100, "title": "Group", "type": "group"})
    reply = text_update("hi")
    reply["message"]["reply_to_message"] = copy.deepcopy(reply["message"])
    edited = {"update_id": 2, "edited_message": text_update("hi")["message"] | {"edit_date": 1764633700}}
    photo = text_update("")
    del photo["message"]["text"]
    photo["message"]["photo"] = [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]
    split_surrogate = text_update("😀x", [{"type": "bold", "offset": 1, "length": 2}])
    for data in (nested, link, group, reply, edited, photo, split_surrogate):
        assert text_record(INBOX, data) is None, data


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def text_messages(draw: st.DrawFn) -> dict[str, Any]:
    # any character, and often the ones HTML escapes or its parser rewrites
    special = st.sampled_from("&<>\"'\xa0\r\n\x00\x0c\t ")
    text = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)) | special, min_size=1, max_size=80))
    units = len(text.encode("utf-16-le")) // 2
    cuts = sorted(draw(st.lists(st.integers(0, units), max_size=6, unique=True)))
    kinds = ["bold", "italic", "underline", "strikethrough", "code", "pre", "spoiler", "mention", "url"]
    entities = [{"type": draw(st.sampled_from(kinds)), "offset": a, "length": b - a}
                for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
    first = draw(names)
    chat = {"id": draw(st.integers(1, 2**40)), "first_name": first, "type": "private"}
    if draw(st.booleans()):
        chat["username"] = "u" + str(chat["id"])
    return text_update(text, entities or None, chat=chat, user={"id": chat["id"], "is_bot": False, "first_name": first})


@settings(max_examples=400, deadline=None)
@given(text_messages())
async def test_any_private_text_message_reads_the_same_on_both_paths(data: dict[str, Any]) -> None:
    record = text_record(INBOX, data)
    if record is not None:  # an entity that splits a surrogate pair, say, takes the full path
        await assert_same_as_full_path(record, data)
