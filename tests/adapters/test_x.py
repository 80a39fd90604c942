"""The X adapter at the wire: polling and replies against the fake X API v2."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tpbridge.adapters.base import (
    AdapterContext,
    BadCredentials,
    Outbound,
    OutboundAttachment,
    Rejected,
    Retry,
)
from tpbridge.adapters.x import XAdapter

from tests.fakes.x_api import UNAUTHORIZED, FakeXApi, weighted_length
from tests.support.sink import RecordingSink, receiving

DMS = "GET /2/dm_events"
MENTIONS = "GET /2/users/{id}/mentions"
ALICE, BOB = "2001", "2002"


@pytest.fixture
async def fake() -> AsyncIterator[FakeXApi]:
    async with FakeXApi() as api:
        api.add_user(ALICE, "alice", "Alice")
        api.add_user(BOB, "bob", "Bob")
        yield api


def make_adapter(fake: FakeXApi, sink: RecordingSink, tmp_path: Path, **overrides: object) -> XAdapter:
    settings = XAdapter.Settings(**fake.settings(poll_interval=0.05, **overrides))
    return XAdapter("x.main", settings, AdapterContext(sink, "http://127.0.0.1:1", tmp_path, "/hooks/x/main"))


async def test_polling_pages_dms_and_reads_mentions_since_the_checkpoint(fake: FakeXApi, tmp_path: Path) -> None:
    for i in range(11):
        fake.add_dm(ALICE if i % 2 else BOB, f"dm {i}")
    fake.add_dm(fake.me_id, "our own answer", recipient_id=ALICE)  # echoed by GET /2/dm_events
    root = fake.add_tweet(ALICE, "@acme_help my parcel is late")
    sink = RecordingSink("x.main")
    adapter = make_adapter(fake, sink, tmp_path, page_size=5, first_poll_dm_pages=10)
    async with receiving(adapter, sink):
        await sink.wait_for(12)
        assert [r.text for r in sink.records if r.external_id.startswith("dm:")] == [f"dm {i}" for i in range(11)]
        first_poll = fake.calls(DMS)[:3]
        assert [c.query.get("pagination_token") for c in first_poll] == [None, "5", "a"]
        assert "since_id" not in fake.calls(MENTIONS)[0].query

        newer = fake.add_dm(BOB, "one more")
        reply = fake.add_tweet(ALICE, "@acme_help still waiting", in_reply_to=root["id"])
        fake.add_tweet(fake.me_id, "@alice sorry, checking", in_reply_to=reply["id"])  # our own post
        await sink.wait_for(14)
        await fake.wait_for(lambda: len(fake.calls(MENTIONS)) >= 4)

    # The first poll imports history (no automatic answers); later messages are live.
    assert all(r.no_auto_reply for r in sink.records[:12])
    assert not any(r.no_auto_reply for r in sink.records[12:])
    texts = [r.text for r in sink.records]
    assert "our own answer" not in texts and "@alice sorry, checking" not in texts
    since = [c.query.get("since_id") for c in fake.calls(MENTIONS)[1:]]
    assert since[0] == root["id"] and reply["id"] in since
    checkpoint = json.loads(sink.checkpoint or "{}")
    assert int(checkpoint["dm"]) >= int(newer["id"])
    assert int(checkpoint["mention"]) >= int(reply["id"])
    # Once a checkpoint exists a poll reads one DM page: the newest events reach it.
    later = fake.calls(DMS)[3:]
    assert later and all("pagination_token" not in c.query for c in later)


async def test_records_carry_the_conversation_shape(fake: FakeXApi, tmp_path: Path) -> None:
    dm = fake.add_dm(ALICE, "hi & hello <3")
    root = fake.add_tweet(BOB, "@acme_help is the app down? Q&A <here>")
    reply = fake.add_tweet(BOB, "@acme_help hello?", in_reply_to=root["id"])
    sink = RecordingSink("x.main")
    async with receiving(make_adapter(fake, sink, tmp_path), sink):
        await sink.wait_for(3)
    by_id = {r.external_id: r for r in sink.records}
    direct = by_id[f"dm:{dm['id']}"]
    assert direct.sender.external_id == ALICE and direct.sender.handle == "@alice" and direct.sender.name == "Alice"
    assert direct.thread is not None and direct.thread.key == f"dm:{ALICE}"
    assert direct.public is False and direct.conversation_attrs == {}
    assert direct.text == "hi & hello <3"
    assert by_id[f"tweet:{root['id']}"].text == "@acme_help is the app down? Q&A <here>"
    public = by_id[f"tweet:{reply['id']}"]
    assert public.thread is not None and public.thread.key == f"tweet:{root['id']}"
    assert public.public is True and public.conversation_attrs == {"tweet_conversation_id": root["id"]}
    assert public.reply_to == f"tweet:{root['id']}"
    assert by_id[f"tweet:{root['id']}"].thread.key == f"tweet:{root['id']}"  # type: ignore[union-attr]


async def test_restart_resumes_from_the_checkpoint_without_duplicates(fake: FakeXApi, tmp_path: Path) -> None:
    fake.add_dm(ALICE, "first")
    first = fake.add_tweet(BOB, "@acme_help one")
    sink = RecordingSink("x.main")
    async with receiving(make_adapter(fake, sink, tmp_path), sink):
        await sink.wait_for(2)
    fake.requests.clear()
    fake.add_dm(ALICE, "second")
    async with receiving(make_adapter(fake, sink, tmp_path), sink):
        await sink.wait_for(3)
        await fake.wait_for(lambda: len(fake.calls(MENTIONS)) >= 1)
    assert [r.text for r in sink.records].count("first") == 1
    assert fake.calls(MENTIONS)[0].query["since_id"] == first["id"]


async def test_an_exhausted_window_waits_for_its_reset(fake: FakeXApi, tmp_path: Path) -> None:
    fake.add_dm(ALICE, "hello")
    reset = time.time() + 1.5
    fake.set_rate_limit(DMS, limit=2, remaining=1, reset=reset)
    sink = RecordingSink("x.main")
    async with receiving(make_adapter(fake, sink, tmp_path), sink):
        await fake.wait_for(lambda: len(fake.calls(DMS)) >= 2, timeout=6)
    calls = fake.calls(DMS)
    assert calls[1].at >= int(reset) - 0.01  # X's reset is whole seconds: the window opens then
    assert all(r.status != 429 for r in fake.requests)
    assert calls[1].at - calls[0].at > 0.5  # far longer than poll_interval


@pytest.mark.parametrize("shape", ["problem", "errors"])
async def test_a_429_while_polling_pauses_until_reset(fake: FakeXApi, tmp_path: Path, shape: str) -> None:
    fake.too_many_shape = shape
    fake.add_tweet(ALICE, "@acme_help ping")
    reset = time.time() + 1
    fake.set_rate_limit(MENTIONS, limit=5, remaining=0, reset=reset)
    sink = RecordingSink("x.main")
    async with receiving(make_adapter(fake, sink, tmp_path), sink):
        await sink.wait_for(1, timeout=6)
    statuses = [c.status for c in fake.calls(MENTIONS)]
    assert statuses[0] == 429 and statuses[1] == 200
    assert fake.calls(MENTIONS)[1].at >= int(reset + 0.999) - 0.01


def test_poll_spacing_follows_the_remaining_requests(tmp_path: Path) -> None:
    from tpbridge.adapters.x.api import RateLimits

    limits = RateLimits()
    now = 1_000_000.0
    limits.update(DMS, {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "10",
                        "x-rate-limit-reset": str(int(now + 600))})
    assert limits.spacing(DMS, 1, now) == pytest.approx(60.0)
    assert limits.spacing(DMS, 2, now) == pytest.approx(120.0)
    limits.update(DMS, {"x-rate-limit-limit": "15", "x-rate-limit-remaining": "0",
                        "x-rate-limit-reset": str(int(now + 30))})
    assert limits.spacing(DMS, 1, now) >= 30 and limits.exhausted_for(DMS, now) >= 30


async def test_bad_credentials_fail_on_enter(fake: FakeXApi, tmp_path: Path) -> None:
    sink = RecordingSink("x.main")
    adapter = make_adapter(fake, sink, tmp_path, access_token_secret="wrong")
    with pytest.raises(BadCredentials):
        async with adapter:
            pass
    assert fake.requests[0].status == 401


# ---------------------------------------------------------------- replies


def outbound(text: str, *, public: bool, recipient: str = ALICE, reply_to: str | None = None,
             attachments: tuple[OutboundAttachment, ...] = (), message_id: int = 7) -> Outbound:
    attrs = {"tweet_conversation_id": "1"} if public else {}
    return Outbound(inbox="x.main", message_id=message_id, conversation_id=3, recipient=recipient, text=text,
                    reply_to=reply_to, attachments=attachments, conversation_attrs=attrs, public=public)


async def test_dm_reply_goes_to_the_participant(fake: FakeXApi, tmp_path: Path) -> None:
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        sent = await adapter.send(outbound("Your refund is on its way.", public=False))
    (call,) = fake.calls("POST /2/dm_conversations/with/{id}/messages")
    assert call.path == f"/2/dm_conversations/with/{ALICE}/messages"
    assert call.json == {"text": "Your refund is on its way."}
    event = fake.dm_events[-1]
    assert sent.external_id == f"dm:{event['id']}" and event["sender_id"] == fake.me_id


async def test_public_reply_is_a_thread_of_280_weighted_chars(fake: FakeXApi, tmp_path: Path) -> None:
    user_tweet = fake.add_tweet(ALICE, "@acme_help 我的订单怎么还没到？")
    text = "您好，感谢您的耐心等待。" * 30 + " Details: https://example.com/orders/" + "x" * 60
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        sent = await adapter.send(outbound(text, public=True, reply_to=f"tweet:{user_tweet['id']}"))
    posts = fake.calls("POST /2/tweets")
    assert len(posts) >= 3
    assert all(weighted_length(p.json["text"]) <= 280 for p in posts)
    assert all(p.status == 201 for p in posts)
    chain = [user_tweet["id"]]
    for post in posts:
        assert post.json["reply"]["in_reply_to_tweet_id"] == chain[-1]
        chain.append(next(t["id"] for t in fake.tweets.values() if t["text"] == post.json["text"]))
    assert sent.external_id == f"tweet:{chain[1]}"
    assert "".join(p.json["text"] for p in posts).replace(" ", "") == text.replace(" ", "")
    assert "https://example.com/orders/" + "x" * 60 in posts[-1].json["text"]  # a URL is never cut


async def test_images_are_uploaded_and_attached(fake: FakeXApi, tmp_path: Path) -> None:
    user_tweet = fake.add_tweet(ALICE, "@acme_help screenshot please")
    image = tmp_path / "shot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake-image")
    att = OutboundAttachment(kind="image", mime="image/png", filename="shot.png", size=18, source=image)
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        await adapter.send(outbound("Here it is", public=True, reply_to=f"tweet:{user_tweet['id']}",
                                    attachments=(att,)))
        await adapter.send(outbound("And by DM", public=False, attachments=(att,), message_id=8))
    uploads = fake.calls("POST /2/media/upload")
    assert [u.json["media_category"] for u in uploads] == ["tweet_image", "dm_image"]
    assert all(m["data"] == image.read_bytes() for m in fake.media.values())
    (tweet_post,) = fake.calls("POST /2/tweets")
    assert tweet_post.json["media"]["media_ids"] == [next(iter(fake.media))]
    (dm_post,) = fake.calls("POST /2/dm_conversations/with/{id}/messages")
    assert dm_post.json["attachments"] == [{"media_id": list(fake.media)[1]}]


@pytest.mark.parametrize("shape", ["problem", "errors"])
async def test_429_on_send_retries_after_the_reset(fake: FakeXApi, tmp_path: Path, shape: str) -> None:
    fake.too_many_shape = shape
    fake.set_rate_limit("POST /2/dm_conversations/with/{id}/messages", limit=5, remaining=0,
                        reset=time.time() + 40)
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        with pytest.raises(Retry) as caught:
            await adapter.send(outbound("hello", public=False))
    assert caught.value.after is not None and 38 <= caught.value.after <= 41.5


async def test_a_thread_interrupted_by_429_resumes_without_reposting(fake: FakeXApi, tmp_path: Path) -> None:
    user_tweet = fake.add_tweet(ALICE, "@acme_help hi")
    text = " ".join(f"word{i}" for i in range(100))  # ~3 parts
    fake.set_rate_limit("POST /2/tweets", limit=5, remaining=1, reset=time.time() + 60)
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        out = outbound(text, public=True, reply_to=f"tweet:{user_tweet['id']}")
        with pytest.raises(Retry):
            await adapter.send(out)
        assert len(fake.calls("POST /2/tweets")) == 1
        fake.set_rate_limit("POST /2/tweets", limit=5, remaining=5, reset=time.time() + 60)
        adapter.require_api().limits.windows.clear()
        sent = await adapter.send(out)
    posts = fake.calls("POST /2/tweets")
    assert all(p.status == 201 for p in posts)
    assert len({p.json["text"] for p in posts}) == len(posts) >= 3
    first = next(t for t in fake.tweets.values() if t["text"] == posts[0].json["text"])
    assert sent.external_id == f"tweet:{first['id']}"
    assert posts[1].json["reply"]["in_reply_to_tweet_id"] == first["id"]


async def test_403_closed_dms_is_a_permanent_failure_with_the_reason(fake: FakeXApi, tmp_path: Path) -> None:
    fake.dm_closed.add(ALICE)
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        with pytest.raises(Rejected) as caught:
            await adapter.send(outbound("hello", public=False))
    assert caught.value.reason == "You cannot send messages to this user."
    assert caught.value.unreachable


async def test_errors_array_reason_is_kept(fake: FakeXApi, tmp_path: Path) -> None:
    fake.fail("POST /2/tweets", 403, {"errors": [{"code": 187, "message": "Status is a duplicate."}]})
    user_tweet = fake.add_tweet(ALICE, "@acme_help hi")
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        with pytest.raises(Rejected, match="Status is a duplicate"):
            await adapter.send(outbound("hello", public=True, reply_to=f"tweet:{user_tweet['id']}"))


async def test_x_server_errors_end_run_for_the_supervisor(fake: FakeXApi, tmp_path: Path) -> None:
    fake.fail(MENTIONS, 503, {"title": "Service Unavailable", "status": 503, "type": "about:blank",
                              "detail": "Service Unavailable"})
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        with pytest.raises(Retry):
            await asyncio.wait_for(adapter.run(sink), 5)
    assert sink.states[-1][0] == "transient_disconnect"


async def test_pictures_in_dms_and_mentions_are_fetched(fake: FakeXApi, tmp_path: Path) -> None:
    dm_key = fake.add_media(b"dm-picture", "image/png", dm=True)
    post_key = fake.add_media(b"post-picture", "image/png", dm=False)
    fake.add_dm(ALICE, "see the error", media_keys=(dm_key,))
    fake.add_tweet(BOB, "@acme_help look", media_keys=(post_key,))
    gone = fake.add_media(b"", "image/png", dm=False)
    fake.media[gone.removeprefix("3_")]["url"] += "-missing"
    fake.add_tweet(BOB, "@acme_help and this", media_keys=(gone,))
    sink = RecordingSink("x.main")
    async with receiving(make_adapter(fake, sink, tmp_path), sink):
        await sink.wait_for(3)
    by_text = {r.text: r for r in sink.records}
    (dm_pic,) = by_text["see the error"].attachments
    assert (dm_pic.kind, dm_pic.mime, dm_pic.data) == ("image", "image/png", b"dm-picture")
    (post_pic,) = by_text["@acme_help look"].attachments
    assert post_pic.data == b"post-picture"
    missing = by_text["@acme_help and this"]
    assert missing.attachments == () and missing.extra["media_failed"]  # stored anyway, the loss noted
    ton = [r for r in fake.requests if "/ton/" in r.path]
    assert ton and ton[0].status == 200 and ton[0].headers["Authorization"].startswith("OAuth ")


async def test_a_refused_since_id_restarts_from_the_newest_mentions(fake: FakeXApi, tmp_path: Path) -> None:
    fresh = fake.add_tweet(ALICE, "@acme_help new one")
    fake.fail(MENTIONS, 400, {
        "errors": [{"parameters": {"since_id": ["1"]}, "message": "Invalid 'since_id': too old"}],
        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    })
    sink = RecordingSink("x.main")
    sink.checkpoint = json.dumps({"mention": "1", "dm": None})
    async with receiving(make_adapter(fake, sink, tmp_path), sink):
        await sink.wait_for(1)
    assert sink.records[0].external_id == f"tweet:{fresh['id']}"
    first, second = fake.calls(MENTIONS)[:2]
    assert first.query["since_id"] == "1" and first.status == 400 and "since_id" not in second.query


async def test_more_than_four_images_spread_over_the_thread(fake: FakeXApi, tmp_path: Path) -> None:
    user_tweet = fake.add_tweet(ALICE, "@acme_help pictures?")
    atts = []
    for i in range(6):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(f"image {i}".encode())
        atts.append(OutboundAttachment(kind="image", mime="image/png", filename=path.name, size=7, source=path))
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        await adapter.send(outbound("Here they are", public=True, reply_to=f"tweet:{user_tweet['id']}",
                                    attachments=tuple(atts)))
    first, second = fake.calls("POST /2/tweets")
    assert first.json["text"] == "Here they are" and len(first.json["media"]["media_ids"]) == 4
    assert "text" not in second.json and len(second.json["media"]["media_ids"]) == 2
    assert second.json["reply"]["in_reply_to_tweet_id"] != user_tweet["id"]


async def test_401_on_send_is_bad_credentials(fake: FakeXApi, tmp_path: Path) -> None:
    fake.fail("POST /2/dm_conversations/with/{id}/messages", 401, UNAUTHORIZED)
    sink = RecordingSink("x.main")
    async with make_adapter(fake, sink, tmp_path) as adapter:
        with pytest.raises(BadCredentials):
            await adapter.send(outbound("hello", public=False))
