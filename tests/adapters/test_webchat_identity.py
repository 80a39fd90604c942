"""The web chat with users the company's app vouches for (identifier + HMAC), with the daemon as a subprocess."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
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
