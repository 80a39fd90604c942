"""The fake Bot API keeps Telegram's documented wire behaviour (so adapter tests mean something)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, message_update


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def call(fake: FakeTelegram, method: str, *, token: str = DEFAULT_TOKEN, json_body: Any = None,
               form: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        url = f"{fake.url}/bot{token}/{method}"
        async with http.post(url, json=json_body, data=form) as resp:
            return resp.status, await resp.json()


async def test_envelopes_ok_and_error(fake: FakeTelegram) -> None:
    assert await call(fake, "getMe") == (200, {"ok": True, "result": {
        "id": 123456, "is_bot": True, "first_name": "Support", "username": "tp_support_bot",
        "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}})
    assert await call(fake, "getMe", token="1:wrong") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert await call(fake, "noSuchMethod") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    fake.known_chats.add(1)
    assert await call(fake, "sendMessage", json_body={"chat_id": 1, "text": "x"}) == (429, {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7}})


async def test_get_updates_offset_confirms_and_limit_pages(fake: FakeTelegram) -> None:
    ids = [fake.push_update(message_update(i, text=str(i)))["update_id"] for i in range(5)]
    _, body = await call(fake, "getUpdates", json_body={"limit": 2})
    assert [u["update_id"] for u in body["result"]] == ids[:2]
    # Without a higher offset nothing is confirmed: the same updates come again.
    _, body = await call(fake, "getUpdates", form={"limit": "2"})
    assert [u["update_id"] for u in body["result"]] == ids[:2]
    _, body = await call(fake, "getUpdates", form={"offset": str(ids[2])})
    assert [u["update_id"] for u in body["result"]] == ids[2:]
    assert fake.confirmed_offset == ids[2]
    _, body = await call(fake, "getUpdates", json_body={"offset": -1})
    assert [u["update_id"] for u in body["result"]] == ids[-1:]


async def test_long_poll_waits_for_timeout_or_returns_on_a_new_update(fake: FakeTelegram) -> None:
    start = time.monotonic()
    _, body = await call(fake, "getUpdates", json_body={"timeout": 1})
    assert body == {"ok": True, "result": []}
    assert time.monotonic() - start >= 0.9
    poll = asyncio.create_task(call(fake, "getUpdates", json_body={"timeout": 10}))
    await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) == 2)
    start = time.monotonic()
    fake.push_update(message_update(1, text="wake up"))
    _, body = await poll
    assert time.monotonic() - start < 1
    assert body["result"][0]["message"]["text"] == "wake up"


async def test_second_poller_terminates_the_first_and_webhook_blocks_polling(fake: FakeTelegram) -> None:
    first = asyncio.create_task(call(fake, "getUpdates", json_body={"timeout": 10}))
    await fake.wait_for(lambda: len(fake.calls_of("getUpdates")) == 1)
    second = asyncio.create_task(call(fake, "getUpdates", json_body={"timeout": 0}))
    status, body = await first
    assert status == 409 and body["description"].startswith("Conflict: terminated by other getUpdates")
    assert (await second)[0] == 200
    hook = {"url": "http://127.0.0.1:9/hook"}
    assert await call(fake, "setWebhook", form=hook) == (200, {"ok": True, "result": True})
    status, body = await call(fake, "getUpdates")
    assert status == 409 and "webhook is active" in body["description"]
    await call(fake, "deleteWebhook")
    assert (await call(fake, "getUpdates"))[0] == 200


async def test_get_file_and_download_path(fake: FakeTelegram) -> None:
    fake.add_file("F1", b"\x89PNG...", "photos/file_1.jpg")
    _, body = await call(fake, "getFile", form={"file_id": "F1"})
    assert body["result"]["file_path"] == "photos/file_1.jpg"
    assert body["result"]["file_size"] == 7
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.url}/file/bot{DEFAULT_TOKEN}/photos/file_1.jpg") as resp:
            assert (resp.status, await resp.read()) == (200, b"\x89PNG...")
        async with http.get(f"{fake.url}/file/bot1:wrong/photos/file_1.jpg") as resp:
            assert resp.status == 401
    assert await call(fake, "getFile", form={"file_id": "nope"}) == (
        400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"})


async def test_send_message_rules(fake: FakeTelegram) -> None:
    fake.known_chats.add(5)
    status, body = await call(fake, "sendMessage", form={
        "chat_id": "5", "text": "hi", "reply_parameters": json.dumps({"message_id": 3})})
    assert status == 200
    assert body["result"]["text"] == "hi" and body["result"]["reply_to_message"]["message_id"] == 3
    assert (await call(fake, "sendMessage", json_body={"chat_id": 5, "text": "x" * 4097}))[1]["description"] == (
        "Bad Request: message is too long")
    assert (await call(fake, "sendMessage", json_body={"chat_id": 6, "text": "x"}))[1]["description"] == (
        "Bad Request: chat not found")
    fake.blocked_chats.add(5)
    assert await call(fake, "sendMessage", json_body={"chat_id": 5, "text": "x"}) == (
        403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
    # A URL would make Telegram fetch from us: the fake refuses it, like an unreachable URL.
    fake.blocked_chats.clear()
    status, body = await call(fake, "sendPhoto", json_body={"chat_id": 5, "photo": "http://127.0.0.1:1/x.png"})
    assert status == 400


async def test_webhook_delivery_retries_until_2xx_with_the_secret_header(fake: FakeTelegram) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    seen: list[tuple[str | None, int]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), body["update_id"]))
        return web.Response(status=500 if len(seen) == 1 else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await call(fake, "setWebhook", form={"url": str(server.make_url("/hook")), "secret_token": "abc"})
        update = fake.push_update(message_update(1, text="x"))
        await fake.wait_for(lambda: not fake.pending)
    finally:
        await server.close()
    assert seen == [("abc", update["update_id"]), ("abc", update["update_id"])]
    assert [s for _, s in fake.webhook_deliveries] == [500, 200]
