"""An access token fetched with the app's credentials and cached in the store (QQ, WeChat).

Cached in the store, so every daemon instance shares one token: both channels hand out a new
token on each fetch (WeChat's invalidates the old one at once), so fetching is done by one
caller at a time per process, and a token the API refuses is replaced only once, unless
another caller or instance already replaced it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tpbridge.adapters.api_session import ApiSession
from tpbridge.adapters.base import Sink

T = TypeVar("T")


class StoredToken(ApiSession):
    """An API client whose calls carry a stored token; the subclass fetches it and says which errors refuse it."""

    def __init__(self, timeout: float, *, sink: Sink, key: str) -> None:
        super().__init__(timeout)
        self._sink = sink
        self._key = key  # the store key of the token, per app
        self._lock = asyncio.Lock()  # one token fetch in flight per process

    async def token(self) -> str:
        """The cached access token, fetching one if the store has none."""
        cached = await self._sink.kv_get(self._key)
        if cached:
            return cached
        async with self._lock:
            return await self._sink.kv_get(self._key) or await self._fetch_token()

    async def refresh(self, rejected: str) -> str:
        """Replace a token the API refused, unless another caller or instance already did."""
        async with self._lock:
            cached = await self._sink.kv_get(self._key)
            if cached and cached != rejected:
                return cached
            return await self._fetch_token()

    async def with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call(token)`; on a token error refresh ONCE and run it again."""
        token = await self.token()
        try:
            return await call(token)
        except Exception as exc:
            if not self._token_rejected(exc):
                raise
        return await call(await self.refresh(token))

    async def _fetch_token(self) -> str:
        """Fetch a new token, store it with its ttl, and return it."""
        raise NotImplementedError

    def _token_rejected(self, exc: Exception) -> bool:
        """Whether `exc` is the API refusing the token (logged by the subclass); anything else is re-raised."""
        raise NotImplementedError
