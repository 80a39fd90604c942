"""An in-process inbox web app (core + aiohttp test server) with agents, teams and conversations."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from tpbridge.adapters.base import Inbound
from tpbridge.bridge.core import Core
from tpbridge.bridge.model import Agent, Conversation, Role
from tpbridge.bridge.web import auth
from tpbridge.bridge.web.app import build_app

from tests.support.core import inbound, running_core

PASSWORD = "correct horse battery"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass
class WebApp:
    core: Core
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)  # email -> API token

    @property
    def url(self) -> str:
        return str(self.client.make_url("/")).rstrip("/")

    async def agent(self, email: str, name: str, role: Role = Role.AGENT, teams: tuple[str, ...] = (),
                    password: str = PASSWORD) -> Agent:
        agent = await self.core.store.add_agent(email, name, role, auth.hash_password(password), teams, ())
        token = auth.new_token()
        await self.core.store.add_token(agent.id, auth.digest(token), "test")
        self.tokens[email] = token
        return agent

    async def api(self, method: str, path: str, as_: str, json: Any = None) -> tuple[int, Any]:
        resp = await self.client.request(method, path, json=json,
                                         headers={"Authorization": f"Bearer {self.tokens[as_]}"})
        return resp.status, await resp.json(content_type=None)

    async def ingest(self, *records: Inbound, inbox: str = "webchat.site") -> list[Conversation]:
        items = await self.core.pipeline.ingest(inbox, inbox.split(".")[0], list(records))
        return [i.conversation for i in items if i.conversation is not None]

    async def say(self, external_id: str, sender: str, text: str, inbox: str = "webchat.site",
                  **kw: Any) -> Conversation:
        return (await self.ingest(inbound(external_id, sender, text, inbox=inbox, **kw), inbox=inbox))[0]


async def login(client: TestClient, email: str, password: str = PASSWORD, *,
                headers: dict[str, str] | None = None) -> ClientResponse:
    """Sign in through the login form as a browser does (login CSRF cookie + field)."""
    page = await client.get("/login", headers=headers)
    token = _CSRF_FIELD.search(await page.text())
    assert token, "the login form has no csrf_token field"
    return await client.post("/login", data={"email": email, "password": password, "csrf_token": token.group(1)},
                             allow_redirects=False, headers=headers)


async def page_csrf(client: TestClient, path: str = "/") -> str:
    resp = await client.get(path)
    assert resp.status == 200, resp.status
    found = _CSRF_META.search(await resp.text())
    assert found and found.group(1), "the page carries no CSRF token"
    return found.group(1)


@asynccontextmanager
async def web_app(tmp_path: Path, raw: dict[str, Any] | None = None) -> AsyncIterator[WebApp]:
    raw = raw or {"channels": {"webchat": {"site": {}}}}
    async with running_core(tmp_path, raw) as core:
        client = TestClient(TestServer(build_app(core)))
        await client.start_server()
        try:
            yield WebApp(core, client)
        finally:
            core.bus.close()  # ends open event streams, so the server stops at once
            await client.close()
