"""End to end: the daemon as a subprocess, the X webhook in, an agent's reply out to the fake X API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.x_api import FakeXApi, activity_signature, dumps
from tests.support.daemon import Daemon

pytestmark = pytest.mark.slow

ALICE = "2001"
SECRET = "consumer-secret"


@pytest.fixture
async def fake() -> AsyncIterator[FakeXApi]:
    async with FakeXApi(consumer_secret=SECRET) as api:
        api.add_user(ALICE, "alice", "Alice")
        yield api


def channel_toml(fake: FakeXApi) -> str:
    return (
        "[channels.x.main]\n"
        'consumer_key = "ck"\n'
        'consumer_secret = "env:TPB_TEST_X_SECRET"\n'
        'access_token = "at"\n'
        'access_token_secret = "ats"\n'
        'bearer_token = "bt"\n'
        'mode = "webhook"\n'
        f'api_base_url = "{fake.base_url}"\n'
    )


async def connected(d: Daemon) -> bool:
    async with d.session.get(d.url + "/healthz") as resp:
        body = await resp.json()
    return (body.get("channels") or {}).get("x.main", {}).get("state") == "connected"


async def started(d: Daemon) -> Daemon:
    """READY comes before the adapters are entered: wait for the inbox to be connected."""
    await d.wait_for(lambda: connected(d))
    return d


async def deliver(d: Daemon, payload: dict, *, secret: str = SECRET) -> int:
    body = dumps(payload)
    async with d.session.post(d.url + "/hooks/x/main", data=body, headers={
        "x-twitter-webhooks-signature": activity_signature(body, secret), "content-type": "application/json",
    }) as resp:
        return resp.status


async def conversations(d: Daemon) -> list[dict[str, Any]]:
    status, body = await d.api("GET", "/api/v1/conversations?inbox=x.main")
    assert status == 200, body
    return body["items"]


async def delivered(d: Daemon, conversation_id: int, text: str) -> dict[str, Any] | None:
    status, body = await d.api("GET", f"/api/v1/conversations/{conversation_id}/messages")
    assert status == 200, body
    for message in body["items"]:
        if message["direction"] == "out" and message["text"] == text and message["delivery"] in ("sent", "failed"):
            return message
    return None


async def test_dm_by_webhook_is_answered_by_dm(fake: FakeXApi, tmp_path: Path) -> None:
    async with Daemon(tmp_path, channel_toml(fake), env={"TPB_TEST_X_SECRET": SECRET}) as d:
        await started(d)
        async with d.session.get(d.url + "/hooks/x/main", params={"crc_token": "abc"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["response_token"].startswith("sha256=")

        forged = fake.activity_dm(ALICE, "forged message")
        assert await deliver(d, forged, secret="wrong") == 403
        payload = fake.activity_dm(ALICE, "My card was charged twice")
        assert await deliver(d, payload) == 200
        assert await deliver(d, payload) == 200  # X redelivers: stored once

        (conv,) = await d.wait_for(lambda: conversations(d))
        status, body = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        inbound = [m for m in body["items"] if m["direction"] == "in"]
        assert [m["text"] for m in inbound] == ["My card was charged twice"]
        assert inbound[0]["external_id"] == f"dm:{payload['direct_message_events'][0]['id']}"

        reply = "Sorry about that, refunding the second charge now."
        status, body = await d.api("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": reply})
        assert status == 202, body
        message = await d.wait_for(lambda: delivered(d, conv["id"], reply))
        assert message["delivery"] == "sent", message
        sent = [c for c in fake.calls("POST /2/dm_conversations/with/{id}/messages") if c.json["text"] == reply]
        assert len(sent) == 1 and sent[0].path == f"/2/dm_conversations/with/{ALICE}/messages"
        (event,) = [e for e in fake.dm_events if e["text"] == reply and e["sender_id"] == fake.me_id]
        assert message["external_id"] == f"dm:{event['id']}"

        # Our DM comes back through the webhook (sender == for_user_id): not a new inbound message.
        echo = fake.activity_dm(fake.me_id, reply, recipient_id=ALICE)
        assert await deliver(d, echo) == 200
        status, body = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        assert [m["text"] for m in body["items"] if m["direction"] == "in"] == ["My card was charged twice"]
        assert "forged message" not in d.logs()


async def test_mention_by_webhook_is_answered_in_public(fake: FakeXApi, tmp_path: Path) -> None:
    async with Daemon(tmp_path, channel_toml(fake), env={"TPB_TEST_X_SECRET": SECRET}) as d:
        await started(d)
        payload = fake.activity_tweet(ALICE, "@acme_help the app logs me out every hour")
        tweet_id = payload["tweet_create_events"][0]["id_str"]
        assert await deliver(d, payload) == 200
        (conv,) = await d.wait_for(lambda: conversations(d))

        reply = "Thanks for flagging! A fix ships tomorrow."
        status, body = await d.api("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": reply})
        assert status == 202, body
        message = await d.wait_for(lambda: delivered(d, conv["id"], reply))
        assert message["delivery"] == "sent", message
        (post,) = [c for c in fake.calls("POST /2/tweets") if c.json.get("text") == reply]
        assert post.json["reply"] == {"in_reply_to_tweet_id": tweet_id}
        assert message["external_id"] == f"tweet:{next(t['id'] for t in fake.tweets.values() if t['text'] == reply)}"
        assert all(c.json.get("text") != reply for c in fake.calls("POST /2/dm_conversations/with/{id}/messages"))


async def test_bad_signature_stores_nothing(fake: FakeXApi, tmp_path: Path) -> None:
    async with Daemon(tmp_path, channel_toml(fake), env={"TPB_TEST_X_SECRET": SECRET}) as d:
        await started(d)
        assert await deliver(d, fake.activity_dm(ALICE, "forged"), secret="nope") == 403
        async with aiohttp.ClientSession() as s, s.post(d.url + "/hooks/x/main", data=b"{}") as resp:
            assert resp.status == 403
        assert await conversations(d) == []


async def inbound_texts(d: Daemon) -> list[str]:
    texts: list[str] = []
    for conv in await conversations(d):
        _, body = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        texts += [m["text"] for m in body["items"] if m["direction"] == "in"]
    return sorted(texts)


async def test_polling_survives_a_crash_without_duplicates(fake: FakeXApi, tmp_path: Path) -> None:
    fake.add_user("2002", "bob", "Bob")
    fake.add_dm(ALICE, "hello from a DM")
    mention = fake.add_tweet("2002", "@acme_help hello in public")
    toml = channel_toml(fake).replace('mode = "webhook"', 'mode = "polling"\npoll_interval = 0.2')
    async with Daemon(tmp_path, toml, env={"TPB_TEST_X_SECRET": SECRET}) as d:
        await started(d)
        expected = ["@acme_help hello in public", "hello from a DM"]
        await d.wait_for(lambda: _equals(inbound_texts(d), expected))
        assert {c["inbox"] for c in await conversations(d)} == {"x.main"}
        assert len(await conversations(d)) == 2  # a DM conversation and a public one

        d.kill()
        fake.add_dm(ALICE, "are you there?")
        fake.requests.clear()
        await d.start()
        expected = ["@acme_help hello in public", "are you there?", "hello from a DM"]
        await d.wait_for(lambda: _equals(inbound_texts(d), expected))
        await fake.wait_for(lambda: bool(fake.calls("GET /2/users/{id}/mentions")))
        assert fake.calls("GET /2/users/{id}/mentions")[0].query.get("since_id") == mention["id"]
        assert await inbound_texts(d) == expected


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected
