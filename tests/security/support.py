"""What the attack tests share: a daemon with two teams and agents, a browser-like login."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.support.daemon import ADMIN_PASSWORD, Daemon, Visitor

TEAMS_TOML = """
[teams.red]
inboxes = ["webchat.site"]

[teams.blue]
inboxes = ["email.nowhere"]
"""
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@asynccontextmanager
async def desk(tmp_path: Path, channels_toml: str = "", extra_toml: str = "",
               env: dict[str, str] | None = None) -> AsyncIterator[Daemon]:
    """A running daemon with an admin, `red@` in team red (sees the web chat) and `blue@` in team blue."""
    # extra_toml lands in the [http] table (the daemon's config writes it right after it).
    d = Daemon(tmp_path, channels_toml, env=env, extra_toml=extra_toml + TEAMS_TOML)
    d.red = d.add_agent("red@example.com", "Red", teams=("red",))  # type: ignore[attr-defined]
    d.blue = d.add_agent("blue@example.com", "Blue", teams=("blue",))  # type: ignore[attr-defined]
    async with d:
        yield d


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1 as a browser does (aiohttp's jar refuses IP hosts)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login_csrf(session: aiohttp.ClientSession, base: str) -> str:
    """Open the login form: its cookie lands in the session's jar, its token is returned."""
    async with session.get(base + "/login") as page:
        token = _CSRF_FIELD.search(await page.text())
    assert token, "the login form has no csrf_token field"
    return token.group(1)


async def login_form(session: aiohttp.ClientSession, base: str, email: str, password: str = ADMIN_PASSWORD,
                     next_: str | None = None, csrf: str | None = None) -> aiohttp.ClientResponse:
    """Sign in through the form as a browser does; returns the (unfollowed) answer."""
    data = {"email": email, "password": password, "csrf_token": csrf or await login_csrf(session, base)}
    if next_ is not None:
        data["next"] = next_
    async with session.post(base + "/login", data=data, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def conversation(d: Daemon, text: str = "hello") -> int:
    """A web chat conversation (team red's inbox); returns its id."""
    v = await Visitor(d).start()
    status, body = await v.say(text)
    assert status in (200, 201), body
    return int(body["conversation_id"]) if "conversation_id" in body else await _newest(d)


async def _newest(d: Daemon) -> int:
    status, body = await d.api("GET", "/api/v1/conversations?status=all")
    assert status == 200, body
    return int(body["items"][0]["id"])
