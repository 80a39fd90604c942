"""What the attack tests share: teams, agents made through the API, a browser-like login."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.support.daemon import ADMIN_PASSWORD, Daemon, Visitor

TEAMS_TOML = """
[teams.red]
inboxes = ["webchat.site"]

[teams.blue]
inboxes = ["email.nowhere"]
"""
STORES = ["sqlite", "postgresql"]  # a module's daemon, once per store
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def new_agent(d: Daemon, name: str, teams: tuple[str, ...] = ("red",), role: str = "agent",
                    password: str = ADMIN_PASSWORD) -> tuple[int, str, str]:
    """An agent made through the admin API; returns (id, email, API token)."""
    email = f"{name}-{secrets.token_hex(4)}@example.com"
    status, agent = await d.api("POST", "/api/v1/agents", {"email": email, "name": name, "password": password,
                                                          "role": role, "teams": list(teams)})
    assert status == 201, agent
    status, token = await d.api("POST", "/api/v1/tokens", {"agent": agent["id"], "label": "test"})
    assert status == 201, token
    return agent["id"], email, token["token"]


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


@dataclass(frozen=True)
class Walk:
    """What a test walking every documented route starts from."""

    conversation: int  # what `{id}` is filled with
    doc: dict[str, Any]  # the daemon's own OpenAPI document
    operations: list[tuple[str, str, dict[str, Any]]]  # (method, path, operation)
    headers: dict[str, str]  # the admin's token


async def walk(d: Daemon) -> Walk:
    conv = await conversation(d)
    async with d.session.get(d.url + "/api/v1/openapi.json") as resp:
        doc: dict[str, Any] = await resp.json()
    ops = [(method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
           if method != "parameters"]
    return Walk(conv, doc, ops, {"Authorization": f"Bearer {d.token}"})


def query_names(op: dict[str, Any]) -> list[str]:
    """The query parameters an operation documents; `q` for one that documents none (to be refused or ignored)."""
    return [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"] or ["q"]


def json_schema(op: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """The JSON body an operation documents (its `$ref` followed); {} when it takes none."""
    schema: dict[str, Any] = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def module_store(request: pytest.FixtureRequest) -> str | None:
    """The store of a module's daemon, for a fixture with `params=STORES`: a fresh PostgreSQL database's url,
    or None (the daemon's own SQLite file). The function-scoped `store_url` fixture cannot serve a module."""
    return request.getfixturevalue("postgres").new_database() if request.param == "postgresql" else None  # type: ignore[no-any-return]
