"""Webhook mode: setWebhook at start, the secret header, store before 200, redelivery once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port
from tpbridge.adapters.base import BadCredentials, ChannelState, HasWebhooks
from tpbridge.adapters.telegram import Settings, TelegramAdapter

from tests.adapters.telegram_support import SECRET, fixture_updates, make_adapter, serve_files
from tests.fakes.telegram_api import FakeTelegram, message_update
from tests.support.sink import RecordingSink

HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def mounted(adapter: TelegramAdapter, port: int | None = None) -> TestServer:
    """What the core does: mount routes() on its app before entering the adapter."""
    assert isinstance(adapter, HasWebhooks)
    app = web.Application()
    app.add_routes(adapter.routes())
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return server


def webhook_adapter(fake: FakeTelegram, sink: RecordingSink, tmp: Path, public_url: str) -> TelegramAdapter:
    return make_adapter(fake, sink, tmp=tmp, public_url=public_url, mode="webhook", webhook_secret=SECRET)


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_every_fixture_update_through_the_webhook_is_stored_once(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    updates = fixture_updates()
    serve_files(fake, updates)
    sink = RecordingSink("telegram.main")
    # The route is served by the core's app; its address is the public URL here.
    port = unused_port()
    public = f"http://127.0.0.1:{port}"
    adapter = webhook_adapter(fake, sink, tmp_path, public)
    server = await mounted(adapter, port)
    try:
        async with adapter:
            assert fake.webhook == {
                "url": f"{public}/hooks/telegram/main",
                "secret_token": SECRET,
                "allowed_updates": ["message", "edited_message", "channel_post", "edited_channel_post",
                                    "my_chat_member"],
                "max_connections": 40,
            }
            for update in updates:
                fake.push_update(update)
            await fake.wait_for(lambda: not fake.pending, timeout=10)
            assert len(sink.records) == 16
            # Telegram delivers again when it missed our 200: nothing is stored twice.
            fake.redeliver(updates)
            await fake.wait_for(lambda: len(fake.webhook_deliveries) >= 2 * len(updates))
        assert all(status == 200 for _, status in fake.webhook_deliveries)
    finally:
        await server.close()
    ids = [r.external_id for r in sink.records]
    assert len(ids) == len(set(ids)) == 16
    by_id = {r.external_id: r for r in sink.records}
    assert by_id["424242:1"].conversation_attrs == {"start_payload": "deposit_help"}
    assert by_id["424242:2:edit:1763870100"].edit_of == "424242:2"
    assert by_id["424242:16"].text == "Unsupported Telegram message kind: dice"
    assert sink.checkpoint is None  # webhooks need no offset


async def test_request_without_the_secret_gets_401_and_stores_nothing(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    sink = RecordingSink("telegram.main")
    adapter = webhook_adapter(fake, sink, tmp_path, "http://127.0.0.1:9")
    server = await mounted(adapter)
    url = str(server.make_url("/hooks/telegram/main"))
    body = json.dumps({"update_id": 1, **message_update(5, text="sneaky")}).encode()
    try:
        # Mounted but not entered yet: the core's app is up before the adapter is.
        assert await post(url, body, {HEADER: SECRET}) == 503
        async with adapter:
            assert await post(url, body, {}) == 401
            assert await post(url, body, {HEADER: "wrong"}) == 401
            assert sink.records == []
            assert await post(url, b"{not json", {HEADER: SECRET}) == 400
            assert await post(url, b'{"no_update_id": 1}', {HEADER: SECRET}) == 400
            assert await post(url, body, {HEADER: SECRET}) == 200
    finally:
        await server.close()
    assert [r.text for r in sink.records] == ["sneaky"]


async def test_attachment_fetch_failing_answers_non_2xx_so_telegram_retries(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    sink = RecordingSink("telegram.main")
    doc = {"file_id": "D1", "file_unique_id": "uD1", "file_name": "a.pdf", "mime_type": "application/pdf"}
    fake.add_file("D1", b"%PDF-1.4", "documents/a.pdf")
    fake.fail_next("getFile", 500, "Internal Server Error")
    adapter = webhook_adapter(fake, sink, tmp_path, "http://127.0.0.1:9")
    server = await mounted(adapter)
    url = str(server.make_url("/hooks/telegram/main"))
    body = json.dumps({"update_id": 9, **message_update(5, document=doc)}).encode()
    try:
        async with adapter:
            assert await post(url, body, {HEADER: SECRET}) == 503
            assert sink.records == []
            assert await post(url, body, {HEADER: SECRET}) == 200
    finally:
        await server.close()
    [record] = sink.records
    assert record.attachments[0].data == b"%PDF-1.4"


def test_webhook_mode_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="webhook_secret is required"):
        Settings(token="1:x", mode="webhook")


async def test_unreadable_update_by_webhook_is_quarantined_and_acknowledged(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    sink = RecordingSink("telegram.main")
    adapter = webhook_adapter(fake, sink, tmp_path, "http://127.0.0.1:9")
    server = await mounted(adapter)
    url = str(server.make_url("/hooks/telegram/main"))
    try:
        async with adapter:
            body = b'{"update_id": 12, "message": "not an object"}'
            assert await post(url, body, {HEADER: SECRET}) == 200
    finally:
        await server.close()
    assert sink.records == []
    [q] = sink.quarantined
    assert (q.external_id, q.raw) == ("update:12", body)


async def test_webhook_watch_notices_revoked_token_removed_webhook_and_delivery_errors(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    sink = RecordingSink("telegram.main")
    adapter = make_adapter(fake, sink, tmp=tmp_path, public_url="http://127.0.0.1:9", mode="webhook",
                           webhook_secret=SECRET, webhook_check_interval=0.05)
    async with adapter:
        task = asyncio.create_task(adapter.run(sink))
        try:
            # Someone pointed the bot elsewhere (or deleted the webhook): it is set again.
            fake.webhook = None
            await fake.wait_for(lambda: fake.webhook is not None)
            assert fake.webhook["url"] == "http://127.0.0.1:9/hooks/telegram/main"
            # Telegram cannot reach us (nothing listens on port 9): shown in health with its words.
            fake.push_update(message_update(1, text="lost?"))
            await fake.wait_for(lambda: fake.webhook_error is not None)
            await fake.wait_for(lambda: len(fake.calls_of("getWebhookInfo")) >= 4)
            assert (ChannelState.TRANSIENT_DISCONNECT,
                    "Telegram cannot deliver to the webhook: Connection refused") in sink.states
            fake.revoke_token()
            with pytest.raises(BadCredentials):
                await asyncio.wait_for(task, 5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, BadCredentials):
                await task
    assert ChannelState.BAD_CREDENTIALS not in [s for s, _ in sink.states]  # the supervisor reports it
