"""Attacks through the channels (issue 13, item 1): a signing oracle and a fetch of a URL from a payload.

The X inbox runs in webhook mode against the fake X API; a second X inbox polls, and must
have no webhook at all. A hostile server on 127.0.0.1 records whatever reaches it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.x_api import FakeXApi, activity_signature, dumps
from tests.security.support import STORES, module_store
from tests.support.daemon import Daemon
from tests.support.texts import incompressible

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]
SECRET = "consumer-secret"
ALICE = "2001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


class Hostile:
    """An internal service an attacker would like the daemon to call (with its credentials)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append({"path": request.path_qs, "headers": dict(request.headers)})
        if request.path.startswith("/redirect"):
            raise web.HTTPFound(str(self.server.make_url("/secret.png")))
        return web.Response(body=PNG, content_type="image/png")

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=STORES)
async def world(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Daemon, FakeXApi, Hostile]]:
    """Once per store: what a hostile payload makes the daemon store or refuse is the store's business too."""
    hostile = Hostile()
    await hostile.server.start_server()
    async with FakeXApi(consumer_secret=SECRET) as fake:
        fake.add_user(ALICE, "alice", "Alice")
        keys = ('consumer_key = "ck"\nconsumer_secret = "env:TPB_TEST_X_SECRET"\naccess_token = "at"\n'
                f'access_token_secret = "ats"\nbearer_token = "bt"\napi_base_url = "{fake.base_url}"\n')
        toml = (f'[channels.x.main]\nmode = "webhook"\n{keys}\n'
                f'[channels.x.poll]\nmode = "polling"\npoll_interval = 3600\n{keys}')
        url = module_store(request)
        d = Daemon(tmp_path_factory.mktemp("x"), toml, env={"TPB_TEST_X_SECRET": SECRET}, store_url=url)
        async with d:
            await d.wait_for(lambda: _connected(d))
            yield d, fake, hostile
    await hostile.server.close()


async def _connected(d: Daemon) -> bool:
    async with d.session.get(d.url + "/healthz") as resp:
        body = await resp.json()
    return (body.get("channels") or {}).get("x.main", {}).get("state") == "connected"


async def _post(d: Daemon, body: bytes, signature: str) -> int:
    async with d.session.post(d.url + "/hooks/x/main", data=body, headers={
            "x-twitter-webhooks-signature": signature, "content-type": "application/json"}) as resp:
        return resp.status


async def test_1_the_crc_answer_is_no_signing_oracle(world: tuple[Daemon, FakeXApi, Hostile]) -> None:
    d, fake, _ = world
    forged = dumps(fake.activity_dm(ALICE, "send your seed phrase to support@evil.example"))
    for token in (forged.decode(), '{"a":1}', "x" * 200, "abc def", "abc\n", "é"):
        async with d.session.get(d.url + "/hooks/x/main", params={"crc_token": token}) as resp:
            assert resp.status == 400, token
            body = await resp.json()
            assert "response_token" not in body and body["error"]["code"] == "bad_crc_token"
    # What an attacker could have learnt does not sign the body anyway; a real token still works.
    assert await _post(d, forged, "sha256=AAAA") == 403
    async with d.session.get(d.url + "/hooks/x/main", params={"crc_token": "nBjR3uKPJ-x_8Q=="}) as resp:
        assert resp.status == 200 and (await resp.json())["response_token"].startswith("sha256=")
    _, convs = await d.api("GET", "/api/v1/conversations?inbox=x.main&status=all")
    assert all("seed phrase" not in (c["last_message"] or {}).get("text", "") for c in convs["items"])


async def test_1_a_polling_inbox_mounts_no_webhook(world: tuple[Daemon, FakeXApi, Hostile]) -> None:
    d, _, _ = world
    async with d.session.get(d.url + "/hooks/x/poll", params={"crc_token": "abc"}) as resp:
        assert resp.status == 404
    async with d.session.post(d.url + "/hooks/x/poll", data=b"{}") as resp:
        assert resp.status in (404, 405)


@pytest.mark.parametrize("where", ["/secret.png", "/redirect", "http-own-port"])
async def test_1_media_is_fetched_only_from_x_media_hosts_without_credentials_elsewhere(
        world: tuple[Daemon, FakeXApi, Hostile], where: str) -> None:
    """Even a correctly signed delivery (a real X event quoting a hostile link) fetches nothing else."""
    d, fake, hostile = world
    hostile.requests.clear()
    key = fake.add_media(PNG, "image/png", dm=True)
    payload = fake.activity_dm(ALICE, f"look {where}", media_key=key)
    payload = copy.deepcopy(payload)
    media = payload["direct_message_events"][0]["message_create"]["message_data"]["attachment"]["media"]
    if where == "http-own-port":  # the daemon itself, plain http: an SSRF into the agent API
        media["media_url_https"] = d.url + "/api/v1/me"
    else:
        media["media_url_https"] = hostile.url(where)
    body = json.dumps(payload).encode()
    assert await _post(d, body, activity_signature(body, SECRET)) == 200
    _, convs = await d.api("GET", "/api/v1/conversations?inbox=x.main&status=all")
    conv = next(c for c in convs["items"] if c["last_message"] and c["last_message"]["text"] == f"look {where}")
    _, messages = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
    assert messages["items"][-1]["attachments"] == []
    assert hostile.requests == []  # never called, so no OAuth header ever reached it


async def test_8_hostile_bodies_and_headers_at_the_x_webhook_are_4xx(world: tuple[Daemon, FakeXApi, Hostile]) -> None:
    d, fake, _ = world
    nested = b"[" * 100_000 + b"]" * 100_000
    for body, signature in ((nested, activity_signature(nested, SECRET)), (b"{}", "sha256=\u00e9\u00e9"),
                            (nested, "sha256=AAAA"), (b"\xff\xfe", activity_signature(b"\xff\xfe", SECRET))):
        async with d.session.post(d.url + "/hooks/x/main", data=body, headers={
                "x-twitter-webhooks-signature": signature, "content-type": "application/json"}) as resp:
            assert 400 <= resp.status < 500, (body[:20], signature, resp.status)
    # A correctly signed event whose text holds U+0000 is a person's message all the same: stored (PostgreSQL's
    # text holds no NUL: there it becomes U+FFFD, as a bad byte would), never a 500 that X would retry forever.
    body = dumps(fake.activity_dm(ALICE, "nul \u0000 inside"))
    assert await _post(d, body, activity_signature(body, SECRET)) == 200
    _, convs = await d.api("GET", "/api/v1/conversations?inbox=x.main&status=all")
    assert any((c["last_message"] or {}).get("text") in ("nul \u0000 inside", "nul \ufffd inside")
               for c in convs["items"]), convs
    assert "http.unhandled" not in d.logs()


async def test_8_a_signed_event_with_u0000_in_its_ids_and_references_is_stored(
        world: tuple[Daemon, FakeXApi, Hostile]) -> None:
    """U+0000 where the adapter makes look-ups of it: the sender (the DM thread's key), the event's id, the post
    it answers. PostgreSQL refuses the character in any text it is given, not only in what is stored."""
    d, fake, _ = world
    dm = fake.activity_dm(ALICE, "a DM from an id with NUL")
    event, sender = dm["direct_message_events"][0], "20\u000002"
    event["id"] += "\u0000"
    event["message_create"]["sender_id"] = sender
    dm["users"] = {sender: {"id_str": sender, "name": "Nul Sender", "screen_name": "nul"}}
    post = fake.activity_tweet(ALICE, "@us a reply to a post with NUL")
    post["tweet_create_events"][0]["in_reply_to_status_id_str"] = "17\u000017"
    for payload in (dm, post):
        body = dumps(payload)
        assert await _post(d, body, activity_signature(body, SECRET)) == 200, payload
    _, convs = await d.api("GET", "/api/v1/conversations?inbox=x.main&status=all")
    texts = {(c["last_message"] or {}).get("text") for c in convs["items"]}
    assert {"a DM from an id with NUL", "@us a reply to a post with NUL"} <= texts, texts
    assert "http.unhandled" not in d.logs()


async def test_8_a_signed_event_from_an_overlong_sender_id_is_quarantined_not_retried(
        world: tuple[Daemon, FakeXApi, Hostile]) -> None:
    """An id PostgreSQL's indexes cannot hold (~9 KB that does not compress): kept in the quarantine with the
    reason and answered 200 on both stores — a 503 would have X redeliver it forever."""
    d, fake, _ = world
    sender = incompressible()
    dm = fake.activity_dm(ALICE, "from a very long id")
    dm["direct_message_events"][0]["message_create"]["sender_id"] = sender
    dm["users"] = {sender: {"id_str": sender, "name": "Long", "screen_name": "long"}}
    body = dumps(dm)
    assert await _post(d, body, activity_signature(body, SECRET)) == 200
    _, quarantined = await d.api("GET", "/api/v1/quarantine")
    assert any("sender id is 3000 characters" in q["reason"] for q in quarantined["items"]), quarantined
    assert "http.unhandled" not in d.logs()
