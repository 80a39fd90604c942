"""The Account Activity webhook of the X adapter: CRC, signatures, ingesting deliveries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from tpbridge.adapters.base import AdapterContext, HasWebhooks
from tpbridge.adapters.x import XAdapter
from tpbridge.adapters.x.webhook import crc_response_token, signature_valid

from tests.fakes.x_api import FakeXApi, activity_signature, dumps
from tests.support.sink import RecordingSink

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "x" / "vectors.json").read_text())
ALICE = "2001"
HOOK = "/hooks/x/main"


def test_crc_response_matches_the_published_sample() -> None:
    crc = VECTORS["crc"]
    assert crc_response_token(crc["consumer_secret"], crc["crc_token"]) == crc["response_token"]


def test_signature_vectors() -> None:
    sig = VECTORS["signature"]
    body = sig["body"].encode()
    assert signature_valid(sig["consumer_secret"], body, sig["x-twitter-webhooks-signature"])
    assert not signature_valid(sig["consumer_secret"], body + b" ", sig["x-twitter-webhooks-signature"])
    assert not signature_valid("other", body, sig["x-twitter-webhooks-signature"])
    assert not signature_valid(sig["consumer_secret"], body, None)
    assert activity_signature(body, sig["consumer_secret"]) == sig["x-twitter-webhooks-signature"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeXApi]:
    async with FakeXApi(consumer_secret=VECTORS["crc"]["consumer_secret"]) as api:
        api.add_user(ALICE, "alice", "Alice")
        yield api


@pytest.fixture
async def hook(fake: FakeXApi, tmp_path: Path) -> AsyncIterator[tuple[XAdapter, RecordingSink, TestClient]]:
    sink = RecordingSink("x.main")
    settings = XAdapter.Settings(**fake.settings(mode="webhook"))
    adapter = XAdapter("x.main", settings, AdapterContext(sink, "http://127.0.0.1:1", tmp_path, "/hooks/x/main"))
    assert isinstance(adapter, HasWebhooks)
    app = web.Application()
    app.add_routes(adapter.routes())  # mounted before the adapter is entered, as the daemon does
    async with TestClient(TestServer(app)) as client:
        yield adapter, sink, client
    await adapter.__aexit__(None, None, None)


async def post(client: TestClient, payload: dict, secret: str, *, signature: str | None = None) -> int:
    body = dumps(payload)
    sig = signature if signature is not None else activity_signature(body, secret)
    response = await client.post(HOOK, data=body, headers={"x-twitter-webhooks-signature": sig,
                                                            "content-type": "application/json"})
    return response.status


async def test_routes_answer_503_until_the_adapter_is_entered(hook, fake: FakeXApi) -> None:
    _, sink, client = hook
    assert (await client.get(HOOK, params={"crc_token": "x"})).status == 503
    assert await post(client, fake.activity_dm(ALICE, "early"), "ss") == 503
    assert sink.records == []


async def test_crc_challenge_over_http(hook) -> None:
    adapter, _, client = hook
    await adapter.__aenter__()
    response = await client.get(HOOK, params={"crc_token": VECTORS["crc"]["crc_token"]})
    assert response.status == 200
    assert await response.json() == {"response_token": VECTORS["crc"]["response_token"]}
    assert (await client.get(HOOK)).status == 400


async def test_signed_dm_is_stored_and_redelivery_is_not_duplicated(hook, fake: FakeXApi) -> None:
    adapter, sink, client = hook
    await adapter.__aenter__()
    payload = fake.activity_dm(ALICE, "Where is my order?")
    assert await post(client, payload, "ss") == 200
    assert await post(client, payload, "ss") == 200
    (record,) = sink.records
    event_id = payload["direct_message_events"][0]["id"]
    assert record.external_id == f"dm:{event_id}" and record.text == "Where is my order?"
    assert record.sender.external_id == ALICE and record.sender.handle == "@alice"
    assert record.thread is not None and record.thread.key == f"dm:{ALICE}"


async def test_bad_signature_is_403_and_nothing_is_stored(hook, fake: FakeXApi) -> None:
    adapter, sink, client = hook
    await adapter.__aenter__()
    payload = fake.activity_dm(ALICE, "forged")
    assert await post(client, payload, "not-the-secret") == 403
    assert await post(client, payload, "ss", signature="") == 403
    assert sink.records == [] and sink.quarantined == []


async def test_our_own_echoes_are_skipped(hook, fake: FakeXApi) -> None:
    adapter, sink, client = hook
    await adapter.__aenter__()
    assert await post(client, fake.activity_dm(fake.me_id, "our answer", recipient_id=ALICE), "ss") == 200
    assert await post(client, fake.activity_tweet(fake.me_id, "@alice our public answer"), "ss") == 200
    assert sink.records == []


async def test_mention_opens_a_public_thread_keyed_by_conversation(hook, fake: FakeXApi) -> None:
    adapter, sink, client = hook
    await adapter.__aenter__()
    first = fake.activity_tweet(ALICE, "@acme_help my app crashes")
    root_id = first["tweet_create_events"][0]["id_str"]
    assert await post(client, first, "ss") == 200
    follow = fake.activity_tweet(ALICE, "@acme_help on Android 14", in_reply_to=root_id)
    assert await post(client, follow, "ss") == 200
    root, reply = sink.records
    assert root.external_id == f"tweet:{root_id}"
    assert root.thread is not None and reply.thread is not None
    assert root.thread.key == reply.thread.key == f"tweet:{root_id}"
    assert reply.public is True and reply.conversation_attrs == {"tweet_conversation_id": root_id}
    assert reply.reply_to == f"tweet:{root_id}"
    lookups = fake.calls("GET /2/tweets")
    assert lookups and "conversation_id" in lookups[0].query["tweet.fields"]


async def test_signed_garbage_is_quarantined(hook) -> None:
    adapter, sink, client = hook
    await adapter.__aenter__()
    body = b"{not json"
    response = await client.post(HOOK, data=body,
                                 headers={"x-twitter-webhooks-signature": activity_signature(body, "ss")})
    assert response.status == 400
    assert len(sink.quarantined) == 1 and sink.records == []


class FailingSink(RecordingSink):
    async def ingest(self, batch, *, checkpoint=None):  # type: ignore[no-untyped-def]
        raise OSError("disk full")


async def test_a_store_failure_is_not_acknowledged(fake: FakeXApi, tmp_path: Path) -> None:
    sink = FailingSink("x.main")
    adapter = XAdapter("x.main", XAdapter.Settings(**fake.settings(mode="webhook")),
                       AdapterContext(sink, "http://127.0.0.1:1", tmp_path, "/hooks/x/main"))
    app = web.Application()
    app.add_routes(adapter.routes())
    async with TestClient(TestServer(app)) as client, adapter:
        assert await post(client, fake.activity_dm(ALICE, "hello"), "ss") == 503


async def test_pictures_in_webhook_deliveries_are_fetched(hook, fake: FakeXApi) -> None:
    adapter, sink, client = hook
    await adapter.__aenter__()
    dm_key = fake.add_media(b"dm-picture", "image/png", dm=True)
    assert await post(client, fake.activity_dm(ALICE, "screenshot", media_key=dm_key), "ss") == 200
    post_key = fake.add_media(b"post-picture", "image/png", dm=False)
    assert await post(client, fake.activity_tweet(ALICE, "@acme_help this", media_key=post_key), "ss") == 200
    dm, mention = sink.records
    assert [a.data for a in dm.attachments] == [b"dm-picture"]
    assert [a.data for a in mention.attachments] == [b"post-picture"]
