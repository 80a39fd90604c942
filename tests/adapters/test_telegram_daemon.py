"""End to end: the daemon as a subprocess against the fake Bot API (nothing lost, nothing twice)."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.telegram_support import SECRET, fixture_updates, serve_files
from tests.fakes.telegram_api import DEFAULT_TOKEN, Call, FakeTelegram, message_update
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow


def channels(fake: FakeTelegram, mode: str = "polling", **extra: Any) -> str:
    lines = [
        "[channels.telegram.main]",
        f'token = "{DEFAULT_TOKEN}"',
        f'mode = "{mode}"',
        f'api_base_url = "{fake.url}"',
        "poll_timeout = 2",
    ]
    if mode == "webhook":
        lines.append(f'webhook_secret = "{SECRET}"')
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    return "\n".join(lines) + "\n"


async def conversations(d: Daemon) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        path = "/api/v1/conversations?inbox=telegram.main&limit=200"
        if cursor:
            path += f"&cursor={cursor}"
        status, body = await d.api("GET", path)
        assert status == 200, body
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


async def inbound(d: Daemon) -> list[dict[str, Any]]:
    """Every inbound message of the Telegram inbox, through the REST API."""
    found: list[dict[str, Any]] = []
    for conv in await conversations(d):
        status, body = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        assert status == 200, body
        found += [m for m in body["items"] if m["direction"] == "in"]
    return found


def mixed_update(i: int) -> dict[str, Any]:
    """Update number i of a mixed stream: 25 users, every kind a support bot meets."""
    user = 5000 + i % 25
    mid = 100 + i
    size = {"file_size": 10}
    kinds: list[dict[str, Any]] = [
        {"text": f"question {i}"},
        {"photo": [{"file_id": f"P{i}", "file_unique_id": f"uP{i}", "width": 90, "height": 90, **size}],
         "caption": f"photo {i}"},
        {"document": {"file_id": f"D{i}", "file_unique_id": f"uD{i}", "file_name": f"f{i}.pdf",
                      "mime_type": "application/pdf", **size}},
        {"voice": {"file_id": f"V{i}", "file_unique_id": f"uV{i}", "duration": 1, "mime_type": "audio/ogg", **size}},
        {"sticker": {"file_id": f"S{i}", "file_unique_id": f"uS{i}", "width": 512, "height": 512,
                     "is_animated": False, "is_video": False, "type": "regular", "emoji": "👍", **size}},
        {"location": {"latitude": 31.2, "longitude": 121.4}},
        {"contact": {"phone_number": f"+86138{i:08d}", "first_name": "Li"}},
        {"text": f"reply {i}", "reply_to_message": {"message_id": mid - 25, "date": 1,  # same user
                                                    "chat": {"id": user, "type": "private"}}},
    ]
    return message_update(mid, user_id=user, **kinds[i % len(kinds)])


async def test_500_mixed_updates_survive_a_sigkill_between_storing_and_the_next_poll(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as fake:
        updates = [fake.push_update(mixed_update(i)) for i in range(500)]
        serve_files(fake, updates)
        first = updates[0]["update_id"]
        killed: list[int] = []
        polls_before_kill: list[int] = []
        daemon: list[Daemon] = []

        async def crash_before_confirming(offset: int | None) -> bool:
            # The daemon stored a batch and now confirms it: kill it before Telegram hears it.
            if offset is not None and offset > first and not killed:
                killed.append(offset)
                polls_before_kill.append(len(fake.calls_of("getUpdates")))
                result = daemon[0].kill()
                if inspect.isawaitable(result):
                    await result
                return True
            return False

        fake.on_get_updates = crash_before_confirming
        async with Daemon(tmp_path, channels(fake)) as d:
            daemon.append(d)
            await fake.wait_for(lambda: bool(killed), timeout=30)
            assert fake.confirmed_offset == 0  # Telegram never heard of the stored batch
            await d.start()

            async def all_in() -> bool:
                return len(await inbound(d)) >= 500 and not fake.pending

            await d.wait_for(all_in, timeout=60)
            messages = await inbound(d)
    ids = [m["external_id"] for m in messages]
    assert len(ids) == len(set(ids)) == 500
    assert set(ids) == {f"{5000 + i % 25}:{100 + i}" for i in range(500)}
    assert fake.confirmed_offset == updates[-1]["update_id"] + 1
    # After the restart the daemon resumed from its stored checkpoint, not from Telegram's.
    restart_poll = fake.calls_of("getUpdates")[polls_before_kill[0]]
    assert int(restart_poll.params["offset"]) == killed[0]


async def test_webhook_updates_delivered_twice_are_stored_once(tmp_path: Path) -> None:
    updates = fixture_updates()
    async with FakeTelegram() as fake:
        serve_files(fake, updates)
        async with Daemon(tmp_path, channels(fake, "webhook")) as d:
            await fake.wait_for(lambda: fake.webhook is not None, timeout=20)
            assert fake.webhook is not None
            assert fake.webhook["url"] == f"{d.url}/hooks/telegram/main"
            assert fake.webhook["secret_token"] == SECRET
            for update in updates:
                fake.push_update(update)
            await fake.wait_for(lambda: not fake.pending, timeout=30)
            first = await inbound(d)
            fake.redeliver(updates)  # Telegram missed our 200s and sends everything again
            await fake.wait_for(lambda: len(fake.webhook_deliveries) >= 2 * len(updates), timeout=30)
            second = await inbound(d)
    assert all(status == 200 for _, status in fake.webhook_deliveries)
    ids = [m["external_id"] for m in second]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(m["external_id"] for m in first)
    for mid in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16):
        assert f"424242:{mid}" in ids
    assert not any(i.startswith("-100") for i in ids)  # the group post is ignored


async def test_reply_meeting_429_is_sent_after_retry_after_and_recorded_once(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        fake.push_update(message_update(1, user_id=777, text="where is my money?"))
        async with Daemon(tmp_path, channels(fake)) as d:

            async def has_conversation() -> bool:
                return bool(await conversations(d))

            await d.wait_for(has_conversation, timeout=20)
            [conv] = await conversations(d)
            text = "Agent reply: it arrived"

            def is_reply(call: Call) -> bool:
                return call.params.get("text") == text

            fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 2", retry_after=2, when=is_reply)
            status, body = await d.api("POST", f"/api/v1/conversations/{conv['id']}/messages", json={"text": text})
            assert status == 202, body
            assert body["delivery"] == "queued"
            message_id = body["id"]

            async def delivered() -> bool:
                _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
                mine = [m for m in msgs["items"] if m["id"] == message_id]
                return bool(mine) and mine[0]["delivery"] != "queued"

            await d.wait_for(delivered, timeout=20)
            _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
    attempts = [c for c in fake.calls_of("sendMessage") if is_reply(c)]
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 2.0
    [sent] = [m for m in fake.sent if m.get("text") == text]
    [record] = [m for m in msgs["items"] if m["id"] == message_id]
    assert record["delivery"] == "sent"
    assert record["external_id"] == f"777:{sent['message_id']}"
    assert sum(1 for m in msgs["items"] if m["text"] == text) == 1


async def test_revoked_token_marks_only_the_telegram_inbox_unhealthy(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        fake.revoke_token()
        async with Daemon(tmp_path, channels(fake)) as d:

            async def unhealthy() -> bool:
                _, body = await d.api("GET", "/healthz")
                return body["channels"].get("telegram.main", {}).get("state") == "bad_credentials"

            start = time.monotonic()
            await d.wait_for(unhealthy, timeout=20)
            status, body = await d.api("GET", "/healthz")
            assert time.monotonic() - start < 20
    channel = body["channels"]["telegram.main"]
    assert "Unauthorized" in channel["reason"]
    # The daemon keeps serving: the API still answers, other inboxes are untouched.
    assert status in (200, 503)
    assert all(v["state"] != "bad_credentials" for k, v in body["channels"].items() if k != "telegram.main")


async def test_reply_to_a_user_who_blocked_the_bot_fails_with_telegrams_reason(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        fake.push_update(message_update(1, user_id=888, text="hello"))
        async with Daemon(tmp_path, channels(fake)) as d:

            async def one_conversation() -> list[dict[str, Any]]:
                return await conversations(d)

            [conv] = await d.wait_for(one_conversation, timeout=20)
            fake.blocked_chats.add(888)
            status, body = await d.api("POST", f"/api/v1/conversations/{conv['id']}/messages",
                                       json={"text": "Can you tell us more?"})
            assert status == 202, body

            async def failed() -> dict[str, Any] | None:
                _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
                mine = [m for m in msgs["items"] if m["id"] == body["id"] and m["delivery"] == "failed"]
                return mine[0] if mine else None

            record = await d.wait_for(failed, timeout=20)
            _, detail = await d.api("GET", f"/api/v1/conversations/{conv['id']}")
    assert record["error"] == "Forbidden: bot was blocked by the user"
    [identity] = detail["contact"]["identities"]
    assert identity["external_id"] == "888"
    assert identity["unreachable"]
