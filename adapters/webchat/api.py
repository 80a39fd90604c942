"""The web chat's side of the wire: visitor tokens, and the open pages replies are pushed to.

The other adapters' `api.py` is a client of a remote channel; here the channel is the visitor's
browser, so what stands in for the client is what identifies a visitor and what reaches one.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .identity import is_verified

VERIFIED_TOKENS = 10_000  # visitor tokens remembered as checked; forgotten all at once when full
PAGE_QUEUE = 1000  # replies waiting for one open page; a stuck page reloads its history instead

Payload = dict[str, Any]
"""One message as the visitor API shows it (history items and `message` events alike)."""


class VisitorTokens:
    """Signed tokens (HMAC), not guessable ids: the conversation survives reloads and nobody else can read it.

    An anonymous visitor's token (`v1.<visitor>.<mac>`) does not expire: it is the only key to their
    conversation. A verified user's (`v2.<visitor>.<expires>.<mac>`) does: it opens the user's whole history
    on every device, and their app signs them in again whenever it opens the chat; a `v1` token for a
    verified id (from before tokens of verified users expired) is refused.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._secret: bytes | None = None
        self._clock = clock
        # token -> (visitor id, expiry): an HMAC per message is the hot path's cost
        self._verified: dict[str, tuple[str, float]] = {}

    @property
    def ready(self) -> bool:
        return self._secret is not None

    def open(self, secret: str) -> None:
        self._secret = secret.encode()
        self._verified.clear()

    def _mac(self, signed: str) -> str:
        assert self._secret is not None
        mac = hmac.new(self._secret, signed.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")

    def sign(self, visitor_id: str, *, lifetime: float | None = None) -> str:
        """A token for the visitor; `lifetime` (seconds): one that expires, as a verified user's does."""
        if lifetime is None:
            return f"v1.{visitor_id}.{self._mac(visitor_id)}"  # visitor ids hold no `.`: apart from v2's
        signed = f"v2.{visitor_id}.{int(self._clock() + lifetime)}"
        return f"{signed}.{self._mac(signed)}"

    def now(self) -> float:
        return self._clock()

    def visitor(self, request: web.Request) -> str | None:
        """The visitor id of the request's token (`Authorization: Bearer`, or `?token=` for EventSource)."""
        held = self.holder(request)
        return held[0] if held is not None else None

    def holder(self, request: web.Request) -> tuple[str, float] | None:
        """The visitor id of the request's token and when the token expires (inf: an anonymous visitor's)."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.query.get("token", "")
        if (known := self._verified.get(token)) is not None:
            return known if known[1] > self._clock() else None
        parts = token.split(".")
        if self._secret is None:
            return None
        if len(parts) == 3 and parts[0] == "v1" and not is_verified(parts[1]):
            visitor, expires, signed = parts[1], math.inf, parts[1]
        elif len(parts) == 4 and parts[0] == "v2" and parts[2].isascii() and parts[2].isdigit() and len(parts[2]) <= 12:
            visitor, expires, signed = parts[1], float(parts[2]), ".".join(parts[:3])
        else:
            return None
        if not hmac.compare_digest(self._mac(signed).encode(), parts[-1].encode("utf-8", "replace")):
            return None
        if expires <= self._clock():
            return None
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = (visitor, expires)
        return visitor, expires


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
