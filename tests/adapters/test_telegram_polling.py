"""Polling: every published update sample through getUpdates, and the offset rule."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from tpbridge.adapters.base import BadCredentials, ChannelState, Inbound, IngestResult

from tests.adapters.telegram_support import (
    file_bytes,
    fixture_updates,
    make_adapter,
    serve_files,
)
from tests.fakes.telegram_api import FakeTelegram, message_update
from tests.support.sink import RecordingSink, receiving


def by_id(records: Sequence[Inbound]) -> dict[str, Inbound]:
    return {r.external_id: r for r in records}


async def test_every_fixture_update_comes_out_right(tmp_path: Path) -> None:
    updates = fixture_updates()
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        serve_files(fake, updates)
        for update in updates:
            fake.push_update(update)
        last = updates[-1]["update_id"]
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            # Telegram hears the offset only on the poll after the batch was stored.
            await fake.wait_for(lambda: fake.confirmed_offset == last + 1)
        assert sink.checkpoint == str(last + 1)
        assert fake.pending == []
    r = by_id(sink.records)
    # 17 samples: the group message (#15) is ignored, everything else is a record.
    assert len(sink.records) == 16
    assert not any(k.startswith("-1001234567890") for k in r)

    start = r["424242:1"]
    assert start.text == "/start deposit_help"
    assert start.conversation_attrs == {"start_payload": "deposit_help"}
    assert start.sender.external_id == "424242"
    assert start.sender.handle == "@lilei"
    assert start.sender.language == "zh-hans"
    assert start.sender.name == "李 雷"
    assert start.sent_at.timestamp() == 1763870001

    text = r["424242:2"]
    assert text.text.startswith("你好,我的 USDT")
    assert text.extra["entities"] == [{"offset": 30, "length": 9, "type": "code"}]
    assert text.html is not None and "<code>" in text.html

    photo = r["424242:3"]
    assert photo.text == "转账截图 📎"
    [image] = photo.attachments
    assert (image.kind, image.mime) == ("image", "image/jpeg")
    assert image.data == file_bytes("AgACAgQAAxkBAAIB-l")  # the largest size

    [pdf] = r["424242:4"].attachments
    assert (pdf.kind, pdf.mime, pdf.filename) == ("file", "application/pdf", "账单-2026-11.pdf")
    assert pdf.data == file_bytes("BQACAgQAAxkBAAIC")

    [voice] = r["424242:5"].attachments
    assert (voice.kind, voice.mime) == ("voice", "audio/ogg")

    sticker = r["424242:6"]
    assert sticker.text == "😭"
    [webp] = sticker.attachments
    assert (webp.kind, webp.mime, webp.data) == ("sticker", "image/webp", file_bytes("CAACAgIAAxkBAAIE"))

    location = r["424242:7"]
    assert "31.230416" in location.text and "121.473701" in location.text
    assert location.extra["location"] == {"latitude": 31.230416, "longitude": 121.473701}

    venue = r["424242:8"]
    assert "深圳客服中心" in venue.text and "福田区深南大道 1 号" in venue.text
    assert venue.extra["venue"]["title"] == "深圳客服中心"

    contact = r["424242:9"]
    assert "+8613800138000" in contact.text and "李 雷" in contact.text
    assert contact.extra["contact"]["phone_number"] == "+8613800138000"

    media = ((10, "video", "video/mp4"), (11, "audio", "audio/mpeg"), (12, "video", "video/mp4"))
    for mid, kind, mime in media:
        [att] = r[f"424242:{mid}"].attachments
        assert (att.kind, att.mime) == (kind, mime)

    assert r["424242:13"].reply_to == "424242:2"

    edit = r["424242:2:edit:1763870100"]
    assert edit.edit_of == "424242:2"
    assert "TRC20" in edit.text
    assert edit.sent_at.timestamp() == 1763870100

    dice = r["424242:16"]
    assert dice.system is True
    assert dice.text == "Unsupported Telegram message kind: dice"

    blocked = next(x for x in sink.records if x.extra.get("kind") == "my_chat_member")
    assert blocked.system is True and blocked.text == "The user blocked the bot"
    assert ChannelState.CONNECTED in [s for s, _ in sink.states]


async def test_ignored_group_post_still_advances_the_checkpoint(tmp_path: Path) -> None:
    group = fixture_updates()[14]
    assert group["message"]["chat"]["type"] == "supergroup"
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        fake.push_update(group)
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            await fake.wait_for(lambda: fake.confirmed_offset == group["update_id"] + 1)
    assert sink.records == []
    assert sink.checkpoint == str(group["update_id"] + 1)


async def test_groups_are_conversations_when_the_inbox_allows_them(tmp_path: Path) -> None:
    group = fixture_updates()[14]
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        fake.push_update(group)
        async with receiving(make_adapter(fake, sink, tmp=tmp_path, allow_groups=True), sink):
            await sink.wait_for(1)
    [record] = sink.records
    assert record.external_id == "-1001234567890:77"
    assert record.sender.external_id == "-1001234567890"
    assert record.sender.name == "TP 用户群"
    assert record.extra["from"]["username"] == "lilei"


class GatedSink(RecordingSink):
    """A store that commits only when the test opens the gate (or fails when told to)."""

    def __init__(self, inbox: str) -> None:
        super().__init__(inbox)
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.fail = False

    async def ingest(self, batch: Sequence[Inbound], *, checkpoint: str | None = None) -> IngestResult:
        self.entered.set()
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database is locked")
        return await super().ingest(batch, checkpoint=checkpoint)


async def test_offset_is_confirmed_only_after_the_batch_is_stored(tmp_path: Path) -> None:
    sink = GatedSink("telegram.main")
    async with FakeTelegram() as fake:
        first = fake.push_update(message_update(1, text="hello"))
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            await asyncio.wait_for(sink.entered.wait(), 5)
            polls = len(fake.calls_of("getUpdates"))
            await asyncio.sleep(0.3)  # give a wrong implementation the chance to poll on
            assert len(fake.calls_of("getUpdates")) == polls
            assert fake.confirmed_offset < first["update_id"] + 1
            sink.gate.set()
            await fake.wait_for(lambda: fake.confirmed_offset == first["update_id"] + 1)
    assert [r.text for r in sink.records] == ["hello"]


async def test_store_failure_leaves_updates_with_telegram_and_a_restart_stores_them_once(
    tmp_path: Path,
) -> None:
    sink = GatedSink("telegram.main")
    sink.fail = True
    sink.gate.set()
    async with FakeTelegram() as fake:
        fake.push_update(message_update(1, text="one"))
        fake.push_update(message_update(2, text="two"))
        adapter = make_adapter(fake, sink, tmp=tmp_path)
        async with adapter:
            with pytest.raises(RuntimeError, match="database is locked"):
                await asyncio.wait_for(adapter.run(sink), 5)
            assert len(fake.pending) == 2  # nothing confirmed
            sink.fail = False
            task = asyncio.create_task(adapter.run(sink))  # what the supervisor does
            await sink.wait_for(2)
            await fake.wait_for(lambda: fake.pending == [])
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert [r.text for r in sink.records] == ["one", "two"]


async def test_restart_resumes_from_the_stored_checkpoint(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    sink.checkpoint = "700000005"
    async with FakeTelegram() as fake:
        fake.push_update(message_update(1, text="already stored", update_id=700000004))
        fake.push_update(message_update(2, text="new", update_id=700000005))
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            await sink.wait_for(1)
        first_poll = fake.calls_of("getUpdates")[0]
    assert int(first_poll.params["offset"]) == 700000005
    assert [r.text for r in sink.records] == ["new"]


async def test_revoked_token_at_start_raises_bad_credentials_with_telegrams_words(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        fake.revoke_token()
        with pytest.raises(BadCredentials, match="401 Unauthorized"):
            async with make_adapter(fake, sink, tmp=tmp_path):
                pass
    # Raised, not reported: the supervisor owns the inbox's health (tests/adapters/test_telegram_daemon.py).
    assert ChannelState.BAD_CREDENTIALS not in [s for s, _ in sink.states]


async def test_token_revoked_while_polling_stops_with_bad_credentials(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        adapter = make_adapter(fake, sink, tmp=tmp_path)
        async with adapter:
            fake.revoke_token()
            with pytest.raises(BadCredentials, match="401"):
                await asyncio.wait_for(adapter.run(sink), 5)
    assert ChannelState.BAD_CREDENTIALS not in [s for s, _ in sink.states]


async def test_server_error_on_poll_is_a_transient_disconnect(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        fake.fail_next("getUpdates", 502, "Bad Gateway")
        adapter = make_adapter(fake, sink, tmp=tmp_path)
        async with adapter:
            with pytest.raises(Exception, match="Bad Gateway"):
                await asyncio.wait_for(adapter.run(sink), 5)
    assert sink.states[-1] == (ChannelState.TRANSIENT_DISCONNECT, "Bad Gateway")


async def test_polling_removes_a_webhook_left_behind(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        fake.webhook = {"url": "https://old.example.com/hook", "secret_token": None, "allowed_updates": None}
        fake.push_update(message_update(1, text="hi"))
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            await sink.wait_for(1)
        assert fake.webhook is None


async def test_too_big_file_keeps_the_message_with_a_note(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    video = {"file_id": "BIG", "file_unique_id": "uBIG", "duration": 1, "width": 1, "height": 1,
             "file_size": 30 * 1024 * 1024}
    async with FakeTelegram() as fake:
        fake.push_update(message_update(1, video=video, caption="see video"))
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            await sink.wait_for(1)
        assert fake.calls_of("getFile") == []  # not even asked: over the Bot API's 20 MB
    [record] = sink.records
    assert record.attachments == ()
    assert record.text.startswith("see video\n[video not downloaded:")


async def test_downloads_go_through_api_base_url(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    doc = {"file_id": "DOC1", "file_unique_id": "uDOC1", "file_name": "a.txt", "mime_type": "text/plain"}
    async with FakeTelegram() as fake:
        fake.add_file("DOC1", b"hello file", "documents/file_7.txt")
        fake.push_update(message_update(1, document=doc))
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            await sink.wait_for(1)
        [get_file] = fake.calls_of("getFile")
        assert get_file.params["file_id"] == "DOC1"
    [att] = sink.records[0].attachments
    assert (att.data, att.filename, att.mime) == (b"hello file", "a.txt", "text/plain")


async def test_unreadable_update_is_quarantined_and_the_rest_of_the_batch_stored(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    async with FakeTelegram() as fake:
        fake.push_update(message_update(1, text="before"))
        broken = fake.push_update({"message": {"message_id": 2, "chat": {"id": 424242}}})  # no date, no type
        fake.push_update(message_update(3, text="after"))
        async with receiving(make_adapter(fake, sink, tmp=tmp_path), sink):
            await sink.wait_for(3)
            await fake.wait_for(lambda: fake.pending == [])
    assert [r.text for r in sink.records] == ["before", "after"]
    [q] = sink.quarantined
    assert q.external_id == f"update:{broken['update_id']}"
    assert "unreadable Telegram update" in q.reason
    assert b'"message_id": 2' in q.raw


async def test_a_file_that_keeps_failing_does_not_hold_up_the_inbox(tmp_path: Path) -> None:
    sink = RecordingSink("telegram.main")
    doc = {"file_id": "D9", "file_unique_id": "uD9", "file_name": "x.pdf", "mime_type": "application/pdf"}
    async with FakeTelegram() as fake:
        fake.add_file("D9", b"%PDF")
        fake.fail_next("getFile", 500, "Internal Server Error", times=10)
        fake.push_update(message_update(1, document=doc, caption="my statement"))
        fake.push_update(message_update(2, text="are you there?"))
        adapter = make_adapter(fake, sink, tmp=tmp_path)
        async with adapter:
            for _ in range(2):  # the supervisor restarts run after each transient failure
                with pytest.raises(Exception, match="Internal Server Error"):
                    await asyncio.wait_for(adapter.run(sink), 5)
                assert sink.records == []
            task = asyncio.create_task(adapter.run(sink))
            await sink.wait_for(2)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    first, second = sink.records
    assert first.attachments == ()
    assert first.text.startswith("my statement\n[document not downloaded: download failed 3 times")
    assert second.text == "are you there?"
