"""Outbound: splitting, replies, multipart uploads, rate limits and every failure class."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tpbridge.adapters.base import (
    BadCredentials,
    ChannelState,
    Outbound,
    OutboundAttachment,
    Rejected,
    Retry,
)
from tpbridge.adapters.telegram import TelegramAdapter
from tpbridge.adapters.telegram.send import split_text

from tests.adapters.telegram_support import make_adapter
from tests.fakes.telegram_api import FakeTelegram
from tests.support.sink import RecordingSink

CHAT = 424242
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


def reply(text: str = "Hello from support", *, message_id: int = 1, recipient: int = CHAT,
          **kw: Any) -> Outbound:
    return Outbound(inbox="telegram.main", message_id=message_id, conversation_id=7,
                    recipient=str(recipient), text=text, **kw)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        fake.known_chats.update({CHAT, 1, 2, 3, 4, 5})
        yield fake


@pytest.fixture
async def sink() -> RecordingSink:
    return RecordingSink("telegram.main")


@pytest.fixture
async def adapter(fake: FakeTelegram, sink: RecordingSink, tmp_path: Path) -> AsyncIterator[TelegramAdapter]:
    async with make_adapter(fake, sink, tmp=tmp_path, rate_per_chat=1000, rate_global=1000) as adapter:
        yield adapter


async def test_text_reply_is_sent_and_threaded_to_the_user_message(
    adapter: TelegramAdapter, fake: FakeTelegram
) -> None:
    sent = await adapter.send(reply("Your deposit arrived", reply_to=f"{CHAT}:13", quote=True))
    [message] = fake.sent
    assert message["text"] == "Your deposit arrived"
    assert message["reply_parameters"] == {"message_id": 13, "allow_sending_without_reply": True}
    assert sent.external_id == f"{CHAT}:{message['message_id']}"


async def test_reply_to_without_quote_is_not_threaded(adapter: TelegramAdapter, fake: FakeTelegram) -> None:
    # The core fills reply_to with the message being answered; only an explicit pick quotes it.
    await adapter.send(reply("Thanks!", reply_to=f"{CHAT}:13"))
    assert fake.sent[0]["reply_parameters"] is None


async def test_long_text_is_split_at_4096_in_order(adapter: TelegramAdapter, fake: FakeTelegram) -> None:
    text = "\n".join(f"line {i:05d} " + "x" * 80 for i in range(120))  # ~ 11 000 characters
    sent = await adapter.send(reply(text, reply_to=f"{CHAT}:3", quote=True))
    parts = [m["text"] for m in fake.sent]
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert "\n".join(p.rstrip("\n") for p in parts) == text
    # Only the first part quotes the user's message.
    assert [m["reply_parameters"] is not None for m in fake.sent] == [True, False, False]
    assert sent.extra["message_ids"] == [m["message_id"] for m in fake.sent]


def test_split_counts_utf16_units_and_never_breaks_a_character() -> None:
    text = "😀" * 5000  # 10 000 UTF-16 code units
    parts = split_text(text)
    assert "".join(parts) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert split_text("short") == ["short"]
    assert split_text("a" * 4096) == ["a" * 4096]


async def test_image_and_file_are_uploaded_as_multipart(
    adapter: TelegramAdapter, fake: FakeTelegram, tmp_path: Path
) -> None:
    png = tmp_path / "screen.png"
    png.write_bytes(PNG)
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4 invoice")
    attachments = (
        OutboundAttachment("image", "image/png", "screen.png", len(PNG), png),
        OutboundAttachment("file", "application/pdf", "invoice.pdf", pdf.stat().st_size, pdf),
    )
    await adapter.send(reply("See attached", attachments=attachments))
    assert [m["method"] for m in fake.sent] == ["sendMessage", "sendPhoto", "sendDocument"]
    photo_call, doc_call = fake.calls_of("sendPhoto")[0], fake.calls_of("sendDocument")[0]
    assert photo_call.content_type == doc_call.content_type == "multipart/form-data"
    assert photo_call.files["photo"][2] == PNG
    assert doc_call.files["document"][0] == "invoice.pdf"
    assert doc_call.files["document"][2] == b"%PDF-1.4 invoice"


async def test_429_becomes_retry_after_telegrams_delay(adapter: TelegramAdapter, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2)
    with pytest.raises(Retry) as caught:
        await adapter.send(reply())
    assert caught.value.after == 2
    assert fake.sent == []
    await adapter.send(reply())
    assert len(fake.sent) == 1


async def test_server_errors_and_network_errors_are_transient(
    fake: FakeTelegram, sink: RecordingSink, tmp_path: Path
) -> None:
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    fake.fail_next("sendMessage", 502, "Bad Gateway")
    async with make_adapter(fake, sink, tmp=tmp_path) as adapter:
        for _ in range(2):
            with pytest.raises(Retry) as caught:
                await adapter.send(reply())
            assert caught.value.after is None
        await fake.__aexit__()  # the server goes away: connection refused
        with pytest.raises(Retry, match="network"):
            await adapter.send(reply())


@pytest.mark.parametrize(
    ("status", "description"),
    [(403, "Forbidden: bot was blocked by the user"), (400, "Bad Request: chat not found")],
)
async def test_blocked_or_unknown_chat_is_a_permanent_failure_with_telegrams_reason(
    adapter: TelegramAdapter, fake: FakeTelegram, status: int, description: str
) -> None:
    fake.fail_next("sendMessage", status, description)
    with pytest.raises(Rejected) as caught:
        await adapter.send(reply())
    assert caught.value.reason == description
    assert caught.value.unreachable is True


async def test_the_fake_itself_knows_blocked_and_unknown_chats(
    adapter: TelegramAdapter, fake: FakeTelegram
) -> None:
    fake.blocked_chats.add(CHAT)
    with pytest.raises(Rejected, match="Forbidden: bot was blocked by the user"):
        await adapter.send(reply())
    with pytest.raises(Rejected, match="Bad Request: chat not found") as caught:
        await adapter.send(reply(recipient=999))
    assert caught.value.unreachable


async def test_other_bad_request_is_permanent_but_not_unreachable(
    adapter: TelegramAdapter, fake: FakeTelegram
) -> None:
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    with pytest.raises(Rejected) as caught:
        await adapter.send(reply())
    assert caught.value.unreachable is False


async def test_revoked_token_on_send_is_bad_credentials(
    adapter: TelegramAdapter, fake: FakeTelegram, sink: RecordingSink
) -> None:
    fake.revoke_token()
    with pytest.raises(BadCredentials, match="401"):
        await adapter.send(reply())
    assert ChannelState.BAD_CREDENTIALS not in [s for s, _ in sink.states]  # the outbox reports it


async def test_retry_after_a_partial_send_does_not_repeat_the_parts_already_sent(
    adapter: TelegramAdapter, fake: FakeTelegram
) -> None:
    text = "a" * 4000 + "\n" + "b" * 4000 + "\n" + "c" * 100
    fake.fail_next("sendMessage", 500, "Internal Server Error", skip=1)  # the 2nd part fails
    with pytest.raises(Retry):
        await adapter.send(reply(text, message_id=6))
    assert [m["text"][0] for m in fake.sent] == ["a"]
    sent = await adapter.send(reply(text, message_id=6, attempt=2))
    assert [m["text"][0] for m in fake.sent] == ["a", "b", "c"]
    assert sent.external_id == f"{CHAT}:{fake.sent[0]['message_id']}"


async def test_per_chat_rate_limit_spaces_messages_to_one_chat_only(
    fake: FakeTelegram, sink: RecordingSink, tmp_path: Path
) -> None:
    async with make_adapter(fake, sink, tmp=tmp_path, rate_per_chat=5, rate_global=1000) as adapter:
        start = time.monotonic()
        for chat in (1, 2, 3, 4, 5):
            await adapter.send(reply(recipient=chat))
        assert time.monotonic() - start < 0.4  # different chats: no waiting (one chat would need 0.8 s)
        for _ in range(4):
            await adapter.send(reply(recipient=CHAT))
    stamps = [m["at"] for m in fake.sent if m["chat"]["id"] == CHAT]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # 0.2 s apart when they leave (5 a second); as the fake receives them, give or take the loops' jitter on a
    # busy machine (a late arrival shortens the gap after it: 0.14 s was seen with three agents' suites
    # running). The span of the four is jitter-proof but for its two ends; unthrottled, gaps are milliseconds.
    assert stamps[-1] - stamps[0] >= 0.5 and all(gap >= 0.08 for gap in gaps), gaps


async def test_global_rate_limit_spaces_messages_across_chats(
    fake: FakeTelegram, sink: RecordingSink, tmp_path: Path
) -> None:
    async with make_adapter(fake, sink, tmp=tmp_path, rate_per_chat=1000, rate_global=20) as adapter:
        start = time.monotonic()
        for i in range(30):
            await adapter.send(reply(recipient=1 + i % 5))
        # 20 saved up, then 20/s: the last 10 need about half a second.
        assert time.monotonic() - start >= 0.45
