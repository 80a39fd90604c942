"""The REST API contract: auth on every route, the OpenAPI document, clear 4xx errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.core import running_core
from tests.support.daemon import Daemon, Visitor
from tests.support.texts import incompressible


async def test_openapi_names_exactly_the_routes_served(tmp_path: Path) -> None:
    from tpbridge.bridge.daemon import assemble
    from tpbridge.bridge.web.app import build_app
    from tpbridge.bridge.web.openapi import document

    async with running_core(tmp_path, {"channels": {"webchat": {"site": {}}}}) as core:
        app = build_app(assemble(core.config))
        served = {
            (route.method.lower(), route.resource.canonical)  # type: ignore[union-attr]
            for route in app.router.routes()
            if route.resource is not None and route.resource.canonical.startswith("/api/v1/")
            and route.method not in ("HEAD", "OPTIONS")
        }
        documented = {(m, p) for p, ops in document()["paths"].items() for m in ops if m != "parameters"}
        assert served == documented


@pytest.mark.slow
async def test_every_api_route_answers_401_without_a_valid_token(tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        async with d.session.get(d.url + "/api/v1/openapi.json") as resp:
            doc = await resp.json()
        checked = 0
        for path, ops in doc["paths"].items():
            if path == "/api/v1/openapi.json":
                continue
            url = d.url + re.sub(r"\{[^}]+\}", "1", path)
            for method in ops:
                if method == "parameters":
                    continue
                for headers in ({}, {"Authorization": "Bearer tpb_wrong"}):
                    async with d.session.request(method.upper(), url, headers=headers, json={}) as resp:
                        assert resp.status == 401, (method, path, headers)
                        body = await resp.json()
                        assert body["error"]["code"] == "unauthorized"
                    checked += 1
        assert checked >= 20


@pytest.mark.slow
async def test_bad_input_gets_a_clear_json_error_and_stores_nothing(tmp_path: Path, store_url: str) -> None:
    async with Daemon(tmp_path, store_url=store_url) as d:
        v = await Visitor(d).start()
        await v.say("hello")
        _, page = await d.api("GET", "/api/v1/conversations")
        conv = page["items"][0]["id"]
        hdr = {"Authorization": f"Bearer {d.token}"}
        cases = [
            ("POST", f"/api/v1/conversations/{conv}/messages", {"data": b"{not json", "headers": {
                **hdr, "Content-Type": "application/json"}}, 400, "bad_json"),
            ("POST", f"/api/v1/conversations/{conv}/messages", {"data": b"text=hi", "headers": {
                **hdr, "Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
            ("POST", f"/api/v1/conversations/{conv}/messages", {"json": {"text": "x" * 70_000}, "headers": hdr},
             413, "too_large"),
            ("POST", f"/api/v1/conversations/{conv}/messages", {"json": {"text": 5}, "headers": hdr}, 400,
             "bad_request"),
            ("POST", "/api/v1/conversations/99999/messages", {"json": {"text": "hi"}, "headers": hdr}, 404,
             "not_found"),
            ("GET", "/api/v1/conversations/abc", {"headers": hdr}, 400, "bad_request"),
            ("POST", f"/api/v1/conversations/{conv}/status", {"json": {"status": "closed"}, "headers": hdr}, 422,
             "invalid"),
            ("GET", "/api/v1/conversations?cursor=%%%", {"headers": hdr}, 400, "bad_request"),
            ("GET", "/api/v1/nothing-here", {"headers": hdr}, 404, "not_found"),
        ]
        for method, path, kw, status, code in cases:
            async with d.session.request(method, d.url + path, **kw) as resp:
                body = await resp.json()
                assert (resp.status, body["error"]["code"]) == (status, code), (method, path, body)
        # the visitor side too
        async with d.session.post(v.base + "/api/messages", data=b"{", headers={
                "Authorization": f"Bearer {v.token}", "Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        async with d.session.post(v.base + "/api/messages", json={"text": "hi"},
                                  headers={"Authorization": "Bearer v1.forged.token"}) as resp:
            assert resp.status == 401
        _, msgs = await d.api("GET", f"/api/v1/conversations/{conv}/messages")
        assert [m["text"] for m in msgs["items"]] == ["hello"]


@pytest.mark.slow
async def test_reply_status_assign_labels_and_healthz(tmp_path: Path, store_url: str) -> None:
    async with Daemon(tmp_path, store_url=store_url) as d:
        d.add_agent("li@example.com", "Li Lei", teams=("support",))
        v = await Visitor(d).start()
        await v.say("hi")
        _, page = await d.api("GET", "/api/v1/conversations")
        conv = page["items"][0]["id"]
        status, body = await d.api("POST", f"/api/v1/conversations/{conv}/assign",
                                   {"agent": "li@example.com", "team": "support"})
        assert status == 200 and body["assignee"]["name"] == "Li Lei" and body["team"] == "support"
        status, body = await d.api("POST", f"/api/v1/conversations/{conv}/labels", {"labels": ["vip", "refund"]})
        assert body["labels"] == ["refund", "vip"]
        # A label is a key PostgreSQL indexes: one of 3,000 characters was a 503 there (an index row too big)
        long_label = incompressible()
        status, body = await d.api("POST", f"/api/v1/conversations/{conv}/labels", {"labels": ["ok", long_label]})
        assert status == 422 and "at most 100 characters" in body["error"]["message"], body
        status, body = await d.api("POST", "/api/v1/agents", {"email": long_label + "@example.com", "name": "Long",
                                                             "password": "correct horse"})
        assert status == 422, body
        status, body = await d.api("POST", f"/api/v1/conversations/{conv}/status",
                                   {"status": "snoozed", "until": "2099-01-01T00:00:00Z"})
        assert body["status"] == "snoozed" and body["snoozed_until"].startswith("2099-01-01")
        status, body = await d.api("POST", f"/api/v1/conversations/{conv}/status", {"status": "resolved"})
        assert body["status"] == "resolved" and body["resolved_at"]
        status, body = await d.api("POST", f"/api/v1/conversations/{conv}/messages",
                                   {"text": "internal note", "private": True})
        assert status == 202 and body["private"] and body["delivery"] is None
        _, filtered = await d.api("GET", "/api/v1/conversations?status=resolved&label=vip&assignee=all")
        assert [c["id"] for c in filtered["items"]] == [conv]
        async with d.session.get(d.url + "/healthz") as resp:
            health = await resp.json()
        assert health == {"status": "ok", "store": {"state": "ok"},
                          "channels": {"webchat.site": {"state": "connected", "reason": None}}}
        async with d.session.get(d.url + "/metrics") as resp:
            metrics = await resp.text()
        # counted as the events were published: the visitor's one message; a private note is no reply
        assert 'tpbridge_messages_received_total{inbox="webchat.site"} 1.0' in metrics
        assert "tpbridge_replies_queued_total{" not in metrics


def test_openapi_says_priority_is_a_word() -> None:
    from tpbridge.bridge.web.openapi import document

    listing = document()["paths"]["/api/v1/conversations"]["get"]
    param = next(p for p in listing["parameters"] if p["name"] == "priority")
    assert param["schema"] == {"enum": ["low", "normal", "high", "urgent"]}
    conversation = document()["components"]["schemas"]["Conversation"]
    assert conversation["properties"]["priority"] == {"enum": ["low", "normal", "high", "urgent"]}
