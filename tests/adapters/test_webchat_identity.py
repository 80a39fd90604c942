"""The web chat with users the company's app vouches for (identifier + HMAC), with the daemon as a subprocess."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow

SECRET = "app-backend-shared-secret"
CHANNELS = '[channels.webchat.app]\npath = "/app-chat"\nidentity_secret = "env:TPB_APP_IDENTITY"\n'


def signed(identifier: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


async def _visitor(http: aiohttp.ClientSession, d: Daemon, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(d.url + "/app-chat/api/visitor", json=body) as resp:
        return resp.status, await resp.json()


async def test_a_verified_user_has_one_history_on_every_device_and_a_forged_hash_is_refused(tmp_path: Path) -> None:
    async with Daemon(tmp_path, CHANNELS, env={"TPB_APP_IDENTITY": SECRET}) as d:
        profile = {"identifier": "user-42", "identifier_hash": signed("user-42"), "name": "Wang Fang",
                   "email": "wang@example.com", "tier": "vip"}
        async with aiohttp.ClientSession() as phone, aiohttp.ClientSession() as laptop:
            status, first = await _visitor(phone, d, profile)
            assert status == 201 and first["verified"] is True
            headers = {"Authorization": f"Bearer {first['token']}"}
            async with phone.post(d.url + "/app-chat/api/messages", json={"text": "提现还没到账", "client_id": "a1"},
                                  headers=headers) as resp:
                assert resp.status == 201
            # Another device signs in as the same user: the same conversation and history.
            status, second = await _visitor(laptop, d, {**profile, "name": None})
            assert status == 201 and second["visitor_id"] == first["visitor_id"]
            async with laptop.get(d.url + "/app-chat/api/messages",
                                  headers={"Authorization": f"Bearer {second['token']}"}) as resp:
                assert [m["text"] for m in (await resp.json())["items"]] == ["提现还没到账"]
            async with laptop.post(d.url + "/app-chat/api/messages", json={"text": "still waiting", "client_id": "b1"},
                                   headers={"Authorization": f"Bearer {second['token']}"}) as resp:
                assert resp.status == 201

            # A forged or someone else's hash is refused.
            for body in ({**profile, "identifier_hash": signed("user-42", "guessed")},
                         {**profile, "identifier": "user-43"}, {"identifier": "user-42"}):
                status, err = await _visitor(phone, d, body)
                assert status == 401 and err["error"]["code"] == "unauthorized", body

        status, convs = await d.api("GET", "/api/v1/conversations?inbox=webchat.app")
        assert len(convs["items"]) == 1
        conv = convs["items"][0]

        async def profiled() -> Any:
            _, contact = await d.api("GET", f"/api/v1/contacts/{conv['contact']['id']}")
            return contact if contact["tier"] == "vip" else None

        contact = await d.wait_for(profiled)  # name, email and tier as the app said
        assert contact["name"] == "Wang Fang" and contact["email"] == "wang@example.com"
        _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        assert [m["text"] for m in msgs["items"]] == ["提现还没到账", "still waiting"]

        # Forgetting the person erases what the app said about them too; signing in again starts afresh.
        def kept() -> int:
            with closing(sqlite3.connect(d.data_dir / "tpbridge.db")) as db:
                return int(db.execute("SELECT count(*) FROM kv WHERE value LIKE '%wang@example.com%'").fetchone()[0])

        assert kept() == 1
        status, _ = await d.api("DELETE", f"/api/v1/contacts/{conv['contact']['id']}")
        assert status == 200 and kept() == 0

        # Anonymous visitors still work, on the same inbox and on one without an identity secret.
        anon = await Visitor(d, "/app-chat").start()
        assert (await anon.say("hello"))[0] == 201
        async with aiohttp.ClientSession() as http:
            status, err = await _visitor_at(http, d, "/chat", profile)
            assert status == 401 and "identity_secret" in err["error"]["message"]


async def _visitor_at(http: aiohttp.ClientSession, d: Daemon, base: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(d.url + base + "/api/visitor", json=body) as resp:
        return resp.status, await resp.json()


async def test_the_language_the_visitor_picks_sticks_to_the_conversation(tmp_path: Path) -> None:
    automation = '[automation]\nenabled = true\n'
    async with Daemon(tmp_path, extra_toml=automation) as d:
        visitor = await Visitor(d).start()
        # Written in English by someone who picked Japanese: the desk answers in Japanese (templates, routing).
        await visitor.say("hello, my deposit has not arrived", language="ja")

        async def language() -> Any:
            _, convs = await d.api("GET", "/api/v1/conversations?inbox=webchat.site")
            return convs["items"] and convs["items"][0]["language"]

        assert await d.wait_for(language) == "ja"
        await visitor.say("and the withdrawal too", language="ja")
        _, convs = await d.api("GET", "/api/v1/conversations?inbox=webchat.site")
        assert convs["items"][0]["language"] == "ja"


def _token(secret: str, signed: str) -> str:
    """A visitor token as the daemon makes one (adapters/webchat/api.py), from a secret the test configured."""
    mac = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()[:24]
    return f"{signed}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


async def test_a_verified_users_token_expires_and_no_permanent_one_is_taken(tmp_path: Path) -> None:
    channels = CHANNELS + 'visitor_secret = "env:TPB_VISITOR_SECRET"\nverified_token_hours = 2\n'
    env = {"TPB_APP_IDENTITY": SECRET, "TPB_VISITOR_SECRET": "signs-visitor-tokens"}
    async with Daemon(tmp_path, channels, env=env) as d, aiohttp.ClientSession() as http:
        before = time.time()
        status, user = await _visitor(http, d, {"identifier": "user-42", "identifier_hash": signed("user-42")})
        assert status == 201 and user["expires_in"] == 7200
        kind, vid, expires, _ = user["token"].split(".")
        assert kind == "v2" and vid == user["visitor_id"] and before + 7200 - 1 <= int(expires) <= time.time() + 7200

        async def messages(token: str) -> int:
            async with http.get(d.url + "/app-chat/api/messages", headers={"Authorization": f"Bearer {token}"}) as r:
                return r.status

        assert await messages(user["token"]) == 200
        # Rightly signed, but expired, or of the permanent form such tokens had before: refused.
        assert await messages(_token("signs-visitor-tokens", f"v2.{vid}.{int(before) - 1}")) == 401
        assert await messages(_token("signs-visitor-tokens", vid)) == 401
        assert await messages(_token("signs-visitor-tokens", f"v2.{vid}.{int(before) + 7200}")) == 200
        # An anonymous visitor's token does not expire.
        status, anon = await _visitor(http, d, {})
        assert status == 201 and anon["token"].startswith("v1.") and "expires_in" not in anon
        assert await messages(anon["token"]) == 200


async def test_a_signed_in_users_open_event_stream_ends_when_the_token_expires(tmp_path: Path) -> None:
    channels = CHANNELS + "verified_token_hours = 0.0005\n"  # 2 s
    async with Daemon(tmp_path, channels, env={"TPB_APP_IDENTITY": SECRET}) as d, aiohttp.ClientSession() as http:
        status, user = await _visitor(http, d, {"identifier": "user-42", "identifier_hash": signed("user-42")})
        assert status == 201
        expires = int(user["token"].split(".")[2])
        events = d.url + "/app-chat/api/events?token=" + user["token"]
        async with http.get(events) as resp:
            assert resp.status == 200
            async with asyncio.timeout(30):
                body = await resp.content.read()  # to the end of the stream: the server ends it
        assert time.time() >= expires - 0.05 and body.startswith(b": connected")
        async with http.get(events) as again:
            assert again.status == 401  # the page's EventSource comes back, is refused, and the page signs in again
