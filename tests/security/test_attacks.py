"""One attack per finding of the security review (issue 13), against the daemon as a subprocess.

Each test tries the class of the attack, not only the one request the review sent: a
regression in any of them fails CI.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

from tests.security.support import browser, conversation, desk, login_csrf, login_form
from tests.support.daemon import ADMIN_EMAIL

# ---------------------------------------------------------------- 2. login brute force


async def test_2_concurrent_login_guesses_are_counted_before_checking_and_health_stays_fast(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        jar = browser()
        try:
            csrf = await login_csrf(jar, d.url)

            async def guess(i: int) -> int:
                return (await login_form(jar, d.url, "red@example.com", f"wrong-{i}", csrf=csrf)).status

            async def health() -> float:
                started = time.monotonic()
                async with d.session.get(d.url + "/healthz") as resp:
                    assert resp.status == 200
                return time.monotonic() - started

            burst = asyncio.gather(*(guess(i) for i in range(60)))
            await asyncio.sleep(0)
            slowest = max(await asyncio.gather(*(health() for _ in range(5))))
            statuses = await burst
            # Only the free attempts of the account reach the password check; the rest wait.
            assert statuses.count(401) <= 5, statuses
            assert statuses.count(429) >= 55, statuses
            assert slowest < 2.0, f"/healthz took {slowest:.1f} s during the burst"
            # While the lock holds the right password is refused too (no oracle), with a Retry-After.
            locked = await login_form(jar, d.url, "red@example.com")
            if locked.status == 429:
                assert int(locked.headers["Retry-After"]) >= 1
            else:  # the machine was slow enough for the 2 s lock to pass: the account is still usable
                assert locked.status == 303
        finally:
            await jar.close()
        # ...and another account is not locked out by it (the address's own budget is larger).
        other = browser()
        try:
            assert (await login_form(other, d.url, "blue@example.com")).status == 303
        finally:
            await other.close()


# ---------------------------------------------------------------- 4. revoked agents' event streams


async def _stream_ends(d, token: str, action, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    async with d.session.get(d.url + "/api/v1/events", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert (await resp.content.readline()).startswith(b": connected")
        await action()
        async with asyncio.timeout(timeout):
            while await resp.content.readline():
                pass  # the stream must end, not go on delivering


async def test_4_streams_end_on_disable_team_loss_and_password_change(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        await conversation(d)
        _, agents = await d.api("GET", "/api/v1/agents")
        ids = {a["email"]: a["id"] for a in agents["items"]}
        red = ids["red@example.com"]

        async def lose_team() -> None:
            assert (await d.api("PATCH", f"/api/v1/agents/{red}", {"teams": []}))[0] == 200

        await _stream_ends(d, d.red, lose_team)

        async def new_password() -> None:
            assert (await d.api("PATCH", f"/api/v1/agents/{red}", {"password": "another password"}))[0] == 200

        await _stream_ends(d, d.red, new_password)
        # The password change ended red's token: the old one is refused.
        assert (await d.api("GET", "/api/v1/me", token=d.red))[0] == 401

        blue_token = d.cli("token", "create", "blue@example.com").stdout.strip()

        async def disable() -> None:
            assert (await d.api("PATCH", f"/api/v1/agents/{ids['blue@example.com']}", {"disabled": True}))[0] == 200

        await _stream_ends(d, blue_token, disable)


async def test_4_a_token_revoked_elsewhere_ends_its_stream_on_the_timer(tmp_path: Path) -> None:
    """No event traffic and no admin action in this daemon: the timer alone notices (CLI revoke)."""
    async with desk(tmp_path) as d:
        _, tokens = await d.api("GET", "/api/v1/tokens", token=d.red)

        async def revoke() -> None:
            d.cli("token", "revoke", str(tokens["items"][0]["id"]))

        await _stream_ends(d, d.red, revoke, timeout=12.0)


# ---------------------------------------------------------------- 5. open redirect

REDIRECTS = [
    "/%09/evil.example", "%2F%09%2Fevil.example", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
    "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/", "http:evil.example",
    "javascript:alert(1)", "/%5Cevil.example", " //evil.example", "/\x00/evil.example", "\u2028//evil.example",
    "///evil.example", "/\u3000/evil.example", "data:text/html,x",
]


async def test_5_login_never_redirects_off_site(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        for target in REDIRECTS:
            jar = browser()
            try:
                resp = await login_form(jar, d.url, ADMIN_EMAIL, next_=target)
                assert resp.status == 303, target
                where = resp.headers["Location"]
                assert where.startswith("/") and not where.startswith("//") and "\\" not in where, (target, where)
                assert "evil" not in where.split("?")[0].lower() or where.startswith("/%"), (target, where)
                # Signed in, /login?next= redirects at once: the same rule.
                async with jar.get(d.url + "/login", params={"next": target}, allow_redirects=False) as again:
                    loc = again.headers["Location"]
                    assert loc.startswith("/") and not loc.startswith("//") and "\\" not in loc, (target, loc)
                    assert not any(ord(c) < 32 for c in loc)
            finally:
                await jar.close()


# ---------------------------------------------------------------- 7. sessions and tokens end with credentials


async def test_7_password_change_ends_sessions_and_tokens_and_tokens_are_listed_revoked_and_expire(
        tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        agent_browser = browser()
        try:
            assert (await login_form(agent_browser, d.url, "red@example.com")).status == 303
            async with agent_browser.get(d.url + "/api/v1/me") as me:
                assert me.status == 200
            # Own tokens: listed with created / last used; another agent's token is not there.
            status, mine = await d.api("GET", "/api/v1/tokens", token=d.red)
            assert status == 200 and len(mine["items"]) == 1
            assert mine["items"][0]["last_used_at"] is not None and mine["items"][0]["created_at"].endswith("Z")
            _, blue_tokens = await d.api("GET", "/api/v1/tokens", token=d.blue)
            blue_id = blue_tokens["items"][0]["id"]
            # An agent may not see or revoke another's token (404, as if absent), nor list theirs.
            assert (await d.api("DELETE", f"/api/v1/tokens/{blue_id}", token=d.red))[0] == 404
            assert (await d.api("GET", "/api/v1/tokens?agent=blue@example.com", token=d.red))[0] == 403
            # A token created with an expiry; the admin lists red's tokens.
            status, made = await d.api("POST", "/api/v1/tokens", {"label": "ci", "expires_in_days": 1}, token=d.red)
            assert status == 201 and made["token"].startswith("tpb_") and made["expires_at"]
            assert (await d.api("GET", "/api/v1/me", token=made["token"]))[0] == 200
            _, listed = await d.api("GET", "/api/v1/tokens?agent=red@example.com")
            assert {t["id"] for t in listed["items"]} == {mine["items"][0]["id"], made["id"]}
            assert (await d.api("DELETE", f"/api/v1/tokens/{made['id']}", token=d.red))[0] == 200
            assert (await d.api("GET", "/api/v1/me", token=made["token"]))[0] == 401
            # CLI: list and revoke.
            out = d.cli("token", "list", "blue@example.com").stdout
            assert str(blue_id) in out and "LAST USED" in out
            d.cli("token", "revoke", str(blue_id))
            assert (await d.api("GET", "/api/v1/me", token=d.blue))[0] == 401
            assert d.cli("token", "revoke", str(blue_id), check=False).returncode == 1
            # A token whose expiry has passed is refused.
            expired = d.cli("token", "create", "blue@example.com", "--expires-days", "1").stdout.strip()
            assert (await d.api("GET", "/api/v1/me", token=expired))[0] == 200
            # A password change ends red's session and token.
            red_id = (await d.api("GET", "/api/v1/me", token=d.red))[1]["id"]
            assert (await d.api("PATCH", f"/api/v1/agents/{red_id}", {"password": "a new password"}))[0] == 200
            assert (await d.api("GET", "/api/v1/me", token=d.red))[0] == 401
            async with agent_browser.get(d.url + "/api/v1/me") as me:
                assert me.status == 401
            assert (await login_form(agent_browser, d.url, "red@example.com", "a new password")).status == 303
        finally:
            await agent_browser.close()
        await d.stop()
        # Expiry: move the clock of the store rather than wait a day.
        import sqlite3

        db = sqlite3.connect(d.data_dir / "tpbridge.db")
        db.execute("UPDATE tokens SET expires_at = ? WHERE expires_at IS NOT NULL", (time.time() - 1,))
        db.commit()
        db.close()
        await d.start()
        assert (await d.api("GET", "/api/v1/me", token=expired))[0] == 401


# ---------------------------------------------------------------- 10. the rest


async def test_10_data_files_are_private_and_secure_delete_is_on(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        await conversation(d)
        for root, dirs, files in os.walk(d.data_dir):
            for name in dirs:
                mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
                assert mode & 0o077 == 0, (name, oct(mode))
            for name in files:
                mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
                assert mode & 0o077 == 0, (name, oct(mode))
        backup = tmp_path / "copy.db"
        d.cli("backup", str(backup))
        assert stat.S_IMODE(backup.stat().st_mode) & 0o077 == 0
    from tpbridge.bridge.store.sqlite.writer import connect

    conn = connect(d.data_dir / "tpbridge.db")
    try:
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        conn.close()


async def test_10_slow_clients_are_cut_off_after_the_header_timeout(tmp_path: Path) -> None:
    async with desk(tmp_path, extra_toml="header_timeout = 2.0\n") as d:
        d_header_timeout = 2.0
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()

        async def dribble() -> None:
            while True:
                writer.write(b"X-a: b\r\n")
                await writer.drain()
                await asyncio.sleep(1.0)

        dribbler = asyncio.create_task(dribble())
        try:
            async with asyncio.timeout(d_header_timeout + 10):
                await reader.read()  # the daemon closes the connection
        finally:
            dribbler.cancel()
            writer.close()
        assert time.monotonic() - started < d_header_timeout + 10


async def test_10_reports_page_has_security_headers_and_is_scoped_to_what_the_agent_sees(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        await conversation(d)
        _, admin = await d.api("GET", "/api/v1/reports?days=1")
        _, red = await d.api("GET", "/api/v1/reports?days=1", token=d.red)
        _, blue = await d.api("GET", "/api/v1/reports?days=1", token=d.blue)
        assert admin["volumes"]["conversations"] == 1 and red["volumes"]["conversations"] == 1
        assert blue["volumes"]["conversations"] == 0 and blue["volumes"]["inbound_messages"] == 0
        async with d.session.get(d.url + "/reports", headers={"Authorization": f"Bearer {d.blue}"}) as page:
            assert page.status == 200
            assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
            assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


async def test_10_metrics_behind_a_token_or_on_their_own_address(tmp_path: Path) -> None:
    from tests.support.daemon import free_port

    async with desk(tmp_path / "a", extra_toml='metrics_token = "env:TPB_METRICS"\n',
                    env={"TPB_METRICS": "s3cret-metrics"}) as d:
        async with d.session.get(d.url + "/metrics") as resp:
            assert resp.status == 401
        async with d.session.get(d.url + "/metrics", headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        async with d.session.get(d.url + "/metrics", headers={"Authorization": "Bearer s3cret-metrics"}) as resp:
            assert resp.status == 200 and "tpbridge_" in await resp.text()
        assert "s3cret-metrics" not in d.logs()
    port = free_port()
    async with desk(tmp_path / "b", extra_toml=f'metrics_listen = "127.0.0.1:{port}"\n') as d:
        async with d.session.get(d.url + "/metrics") as resp:
            assert resp.status == 404
        async with d.session.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200 and "tpbridge_" in await resp.text()
        async with d.session.get(f"http://127.0.0.1:{port}/api/v1/me") as resp:
            assert resp.status == 404  # the scrape address serves nothing else


async def test_10_unmerge_of_a_contact_the_agent_may_not_see_is_404(tmp_path: Path) -> None:
    async with desk(tmp_path) as d:
        await conversation(d)
        _, convs = await d.api("GET", "/api/v1/conversations?status=all")
        contact = convs["items"][0]["contact"]["id"]
        # Not merged, and invisible to blue: blue learns nothing (404), not "is not merged" (422).
        status, body = await d.api("POST", f"/api/v1/contacts/{contact}/unmerge", token=d.blue)
        assert status == 404, body
        status, body = await d.api("POST", f"/api/v1/contacts/{contact}/unmerge", token=d.red)
        assert status == 422, body
        status, body = await d.api("POST", "/api/v1/contacts/999999/unmerge", token=d.blue)
        assert status == 404, body
