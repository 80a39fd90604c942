"""A minimal third-party channel for tests: delivers replies by HTTP POST to `api_base_url`.

It is registered through the `tpbridge.adapters` entry point group (a .dist-info
beside it on PYTHONPATH), exactly as an external package would be. The server on
the other side is tests/fakes/relay_api.py, which can fail on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import aiohttp
from aiohttp import web
from tpbridge.adapters.base import (
    AdapterContext,
    BadCredentials,
    ChannelSettings,
    Inbound,
    Outbound,
    Rejected,
    Retry,
    Sender,
    Sent,
    Sink,
)


class Settings(ChannelSettings):
    api_base_url: str
    crash: bool = False  # run() raises at once: for the supervisor's restart test


class TestChannelAdapter:
    kind: ClassVar[str] = "testchannel"
    Settings: ClassVar[type[ChannelSettings]] = Settings

    def __init__(self, name: str, settings: Any, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self._http: aiohttp.ClientSession | None = None
        self.sink = ctx.sink
        self.webhook_path = ctx.webhook_path  # handed by the core: /hooks/testchannel/<name>

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post(self.webhook_path, self._hook)]

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        rec = Inbound(inbox=self.name, external_id=str(body["id"]), sender=Sender(str(body["from"])),
                      text=body["text"], sent_at=datetime.now(UTC))
        result = await self.sink.ingest([rec])
        return web.json_response({"stored": result.message_ids[0] is not None})

    async def __aenter__(self) -> Self:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def run(self, sink: Sink) -> None:
        import asyncio

        if self.settings.crash:
            raise RuntimeError("the test channel crashed on purpose")
        await asyncio.Event().wait()

    async def send(self, out: Outbound) -> Sent:
        assert self._http is not None
        try:
            async with self._http.post(f"{self.settings.api_base_url}/send", json={
                "message_id": out.message_id, "conversation_id": out.conversation_id, "to": out.recipient,
                "text": out.text,
            }) as resp:
                body = await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise Retry(f"network: {exc}") from None
        if resp.status == 429:
            raise Retry("rate limited", after=float(resp.headers.get("Retry-After", "1")))
        if resp.status == 401:
            raise BadCredentials(body.get("error", "credentials refused"))
        if resp.status >= 500:
            raise Retry(f"server error {resp.status}")
        if resp.status >= 400:
            raise Rejected(body.get("error", "refused"), unreachable=resp.status == 403)
        return Sent(external_id=f"relay:{body['id']}")
