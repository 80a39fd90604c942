"""The HTTP session a channel's API client holds: opened with the adapter, closed with it."""

from __future__ import annotations

import json
from typing import Any

import aiohttp


def json_object(raw: bytes) -> dict[str, Any]:
    """An API's answer as a JSON object, or {} when it is not one (the caller goes by the HTTP status)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class ApiSession:
    """One aiohttp session per client (WeChat, QQ, Weibo); using it before `open()` is a bug, said so."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"{type(self).__name__} used before open()")
        return self._session
