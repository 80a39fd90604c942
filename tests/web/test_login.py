"""Signing in: argon2 check, the session cookie's flags, CSRF on every write, logout, backoff."""

from __future__ import annotations

from pathlib import Path

from tpbridge.bridge.model import Role
from tpbridge.bridge.web.views.login import ADDRESS_FREE_FAILURES, FREE_FAILURES, Throttle

from tests.web.support import PASSWORD, login, page_csrf, web_app


async def test_login_sets_an_httponly_samesite_cookie_and_opens_the_inbox(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        resp = await w.client.get("/", allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/login"
        resp = await login(w.client, "Ann@Example.com")
        assert resp.status == 303 and resp.headers["Location"] == "/"
        cookie = resp.cookies["tpb_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
        page = await w.client.get("/")
        assert page.status == 200
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert "Ann" in await page.text()


async def test_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    raw = {"http": {"public_url": "https://support.example.com"}, "channels": {"webchat": {"site": {}}}}
    async with web_app(tmp_path, raw) as w:
        await w.agent("ann@example.com", "Ann")
        page = await w.client.get("/login")
        login_cookie = page.cookies["tpb_login_csrf"]
        assert login_cookie["secure"] and login_cookie["httponly"]
        # The jar keeps Secure cookies off plain http (as a browser would): hand it over as the browser on https.
        resp = await w.client.post(
            "/login", data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": login_cookie.value},
            headers={"Cookie": f"tpb_login_csrf={login_cookie.value}"}, allow_redirects=False)
        assert resp.status == 303
        assert resp.cookies["tpb_session"]["secure"] and resp.cookies["tpb_session"]["httponly"]


async def test_wrong_password_is_refused_without_telling_which_part_was_wrong(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        wrong_pw = await login(w.client, "ann@example.com", "nope")
        unknown = await login(w.client, "nobody@example.com", PASSWORD)
        assert wrong_pw.status == unknown.status == 401
        assert "tpb_session" not in wrong_pw.cookies
        assert "Wrong email or password" in await wrong_pw.text()


async def test_login_form_without_its_csrf_token_is_refused(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        resp = await w.client.post("/login", data={"email": "ann@example.com", "password": PASSWORD},
                                   allow_redirects=False)
        assert resp.status == 403
        assert "tpb_session" not in resp.cookies


async def test_repeated_failures_are_throttled_even_with_the_right_password(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        for _ in range(FREE_FAILURES):
            assert (await login(w.client, "ann@example.com", "wrong")).status == 401
        resp = await login(w.client, "ann@example.com", PASSWORD)
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert "tpb_session" not in resp.cookies


def test_throttle_backs_off_exponentially_per_key_and_forgives_after_success() -> None:
    now = [1000.0]
    t = Throttle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES - 1):
        t.failed("email:a", "ip:1")
    assert t.wait("email:a", "ip:1") == 0
    t.failed("email:a", "ip:1")
    assert t.wait("email:a") == 2.0
    assert t.wait("email:b", "ip:1") == 0  # the address has a larger allowance (a shared office)
    for _ in range(ADDRESS_FREE_FAILURES - FREE_FAILURES):
        t.failed("ip:1")
    assert t.wait("email:b", "ip:1") == 2.0  # now the address is throttled for every email
    assert t.wait("email:b", "ip:2") == 0
    now[0] += 2.0
    t.failed("email:a")
    assert t.wait("email:a") == 4.0
    t.succeeded("email:a")
    assert t.wait("email:a") == 0
    for _ in range(60):
        t.failed("ip:9")
    assert t.wait("ip:9") == 900.0


def test_an_attempt_is_counted_before_it_is_checked() -> None:
    """Concurrent guesses: each is counted when let through, so only the free ones pass."""
    t = Throttle(clock=lambda: 1000.0)
    passed = [t.attempt("email:a", "ip:1") == 0 for _ in range(60)]
    assert sum(passed) == FREE_FAILURES
    t.succeeded("email:b", "ip:2")  # a success elsewhere gives nothing to the attacker's keys
    assert t.attempt("email:a", "ip:1") > 0


async def test_login_next_is_never_an_open_redirect(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        page = await w.client.get("/login?next=https://evil.example/")
        assert 'name="next" value="/"' in await page.text()
        deep = await w.client.get("/conversations/7", allow_redirects=False)
        assert deep.headers["Location"] in ("/login?next=%2Fconversations%2F7", "/login?next=/conversations/7")


async def test_logout_needs_the_csrf_token_and_ends_the_session(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        await login(w.client, "ann@example.com")
        csrf = await page_csrf(w.client)
        refused = await w.client.post("/logout", data={}, allow_redirects=False)
        assert refused.status == 403
        assert (await w.client.get("/api/v1/me")).status == 200
        out = await w.client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
        assert out.status == 303
        assert (await w.client.get("/api/v1/me")).status == 401


async def test_state_changing_api_call_with_the_cookie_but_without_the_token_is_refused(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("root@example.com", "Root", Role.ADMIN)
        conv = await w.say("m1", "visitor-1", "hello")
        await login(w.client, "root@example.com")
        csrf = await page_csrf(w.client)
        path = f"/api/v1/conversations/{conv.id}/status"
        refused = await w.client.post(path, json={"status": "resolved"})
        assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf"
        wrong = await w.client.post(path, json={"status": "resolved"}, headers={"X-CSRF-Token": "x" + csrf})
        assert wrong.status == 403
        admin_refused = await w.client.post("/api/v1/canned_responses", json={"shortcut": "hi", "text": "Hello"})
        assert admin_refused.status == 403
        assert (await w.core.store.get_conversation(conv.id)).status.value == "open"
        ok = await w.client.post(path, json={"status": "resolved"}, headers={"X-CSRF-Token": csrf})
        assert ok.status == 200


async def test_ui_language_follows_the_agent_setting_else_accept_language(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        zh = await w.client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
        assert "登录" in await zh.text()
        en = await w.client.get("/login", headers={"Accept-Language": "fr, en;q=0.5"})
        assert "Sign in" in await en.text()
        await login(w.client, "ann@example.com")
        csrf = await page_csrf(w.client)
        resp = await w.client.patch("/api/v1/me", json={"ui_language": "zh"}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 200 and (await resp.json())["ui_language"] == "zh"
        page = await w.client.get("/", headers={"Accept-Language": "en"})
        text = await page.text()
        assert 'lang="zh-CN"' in text and "收件箱" in text


async def test_login_returns_to_the_deep_link_even_after_a_typo(tmp_path: Path) -> None:
    async with web_app(tmp_path) as w:
        await w.agent("ann@example.com", "Ann")
        page = await w.client.get("/login?next=/conversations/5")
        text = await page.text()
        token = text.split('name="csrf_token" value="')[1].split('"')[0]
        failed = await w.client.post("/login", data={"email": "ann@example.com", "password": "typo",
                                                     "csrf_token": token, "next": "/conversations/5"})
        text = await failed.text()
        assert 'name="next" value="/conversations/5"' in text
        token = text.split('name="csrf_token" value="')[1].split('"')[0]
        ok = await w.client.post("/login", data={"email": "ann@example.com", "password": PASSWORD,
                                                 "csrf_token": token, "next": "/conversations/5"},
                                 allow_redirects=False)
        assert ok.status == 303 and ok.headers["Location"] == "/conversations/5"
