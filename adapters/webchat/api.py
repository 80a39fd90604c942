"""The web chat's side of the wire: visitor tokens, and the open pages replies are pushed to.

The other adapters' `api.py` is a client of a remote channel; here the channel is the visitor's
browser, so what stands in for the client is what identifies a visitor and what reaches one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from typing import Any

from aiohttp import web

VERIFIED_TOKENS = 10_000  # visitor tokens remembered as checked; forgotten all at once when full
PAGE_QUEUE = 1000  # replies waiting for one open page; a stuck page reloads its history instead

Payload = dict[str, Any]
"""One message as the visitor API shows it (history items and `message` events alike)."""


class VisitorTokens:
    """Signed tokens (HMAC), not guessable ids: the conversation survives reloads and nobody else can read it."""

    def __init__(self) -> None:
        self._secret: bytes | None = None
        self._verified: dict[str, str] = {}  # token -> visitor id: an HMAC per message is the hot path's cost

    @property
    def ready(self) -> bool:
        return self._secret is not None

    def open(self, secret: str) -> None:
        self._secret = secret.encode()
        self._verified.clear()

    def sign(self, visitor_id: str) -> str:
        assert self._secret is not None
        mac = hmac.new(self._secret, visitor_id.encode(), hashlib.sha256).digest()
        return f"v1.{visitor_id}.{base64.urlsafe_b64encode(mac[:24]).decode().rstrip('=')}"

    def visitor(self, request: web.Request) -> str | None:
        """The visitor id of the request's token (`Authorization: Bearer`, or `?token=` for EventSource)."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.query.get("token", "")
        if (known := self._verified.get(token)) is not None:
            return known
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "v1" or self._secret is None:
            return None
        if not hmac.compare_digest(self.sign(parts[1]).encode(), token.encode("utf-8", "replace")):
            return None
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = parts[1]
        return parts[1]


class OpenPages:
    """The event streams of the visitors' open pages, by visitor id."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[Payload]]] = {}

    def open(self, visitor: str) -> asyncio.Queue[Payload]:
        queue: asyncio.Queue[Payload] = asyncio.Queue(maxsize=PAGE_QUEUE)
        self._queues.setdefault(visitor, set()).add(queue)
        return queue

    def close(self, visitor: str, queue: asyncio.Queue[Payload]) -> None:
        queues = self._queues.get(visitor)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                self._queues.pop(visitor, None)

    def push(self, visitor: str, payload: Payload) -> None:
        for queue in self._queues.get(visitor, ()):
            if not queue.full():  # a stuck page reloads its history instead
                queue.put_nowait(payload)
