"""The server behind the test channel (tests/support/plugin): records sends, fails on demand."""

from __future__ import annotations

import asyncio
from typing import Any, Self

from aiohttp import web

from tests.fakes.server import serve, stop_serving, wait_until


class FakeRelay:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_status: int | None = None  # answer every send with this status while set
        self.fail_body: dict[str, Any] = {"error": "refused"}
        self.retry_after: str | None = None
        self.attempts = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.attempts += 1
        if self.fail_status is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else None
            async with self._changed:
                self._changed.notify_all()
            return web.json_response(self.fail_body, status=self.fail_status, headers=headers)
        self.sent.append(body)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"id": len(self.sent)})

    async def wait_sent(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        await wait_until(self._changed, lambda: len(self.sent) >= count, timeout)
        return self.sent

    async def wait_attempts(self, count: int, timeout: float = 15.0) -> None:
        await wait_until(self._changed, lambda: self.attempts >= count, timeout)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/send", self._send)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop_serving(self._runner)
