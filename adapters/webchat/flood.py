"""Flood limits for the anonymous chat: token buckets per visitor and per address.

Anyone may mint a visitor token, so a visitor alone is no limit: each kind of request is
counted per visitor and per client address (behind a reverse proxy the address is the
proxy's, which is why the address buckets are wide). Over a bucket, the answer is 429 with
Retry-After; event streams are also capped by how many are open at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from tpbridge.bridge.web.errors import error_response


class FloodSettings(BaseModel):
    """`[channels.webchat.<name>.flood]`: bursts and refill rates (per second)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    messages_per_visitor: int = Field(20, gt=0)
    messages_per_visitor_rate: float = Field(1.0, gt=0)
    messages_per_address: int = Field(600, gt=0)
    messages_per_address_rate: float = Field(50.0, gt=0)
    visitors_per_address: int = Field(60, gt=0)  # new visitor tokens
    visitors_per_address_rate: float = Field(2.0, gt=0)
    streams_per_visitor: int = Field(5, gt=0)  # open at once
    streams_per_address: int = Field(100, gt=0)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Buckets:
    """Token buckets by key, refilled lazily; idle full buckets are forgotten."""

    def __init__(self, burst: int, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self._clock = burst, rate, clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Take one token: 0 when allowed, else the seconds until one is back."""
        now = self._clock()
        if len(self._buckets) > 50_000:
            full = self.burst / self.rate
            self._buckets = {k: b for k, b in self._buckets.items() if now - b.at < full}
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(float(self.burst), now)
        b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
        b.at = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / self.rate


class Flood:
    """The chat's limits; each check answers None (go on) or the 429 to send."""

    def __init__(self, s: FloodSettings) -> None:
        self.s = s
        self.visitor_messages = Buckets(s.messages_per_visitor, s.messages_per_visitor_rate)
        self.address_messages = Buckets(s.messages_per_address, s.messages_per_address_rate)
        self.address_visitors = Buckets(s.visitors_per_address, s.visitors_per_address_rate)
        self._streams: dict[str, int] = {}

    @staticmethod
    def address(request: web.Request) -> str:
        return request.remote or "?"

    def message(self, request: web.Request, visitor: str) -> web.Response | None:
        if not self.s.enabled:
            return None
        wait = max(self.visitor_messages.take(visitor), self.address_messages.take(self.address(request)))
        return _too_many(wait, "messages") if wait else None

    def new_visitor(self, request: web.Request) -> web.Response | None:
        if not self.s.enabled:
            return None
        wait = self.address_visitors.take(self.address(request))
        return _too_many(wait, "new visitors") if wait else None

    def open_stream(self, request: web.Request, visitor: str) -> web.Response | None:
        """Count a stream as open (release it with `close_stream`), or refuse it."""
        if not self.s.enabled:
            return None
        keys = ("v:" + visitor, "a:" + self.address(request))
        if (self._streams.get(keys[0], 0) >= self.s.streams_per_visitor
                or self._streams.get(keys[1], 0) >= self.s.streams_per_address):
            return _too_many(5.0, "open event streams")
        for key in keys:
            self._streams[key] = self._streams.get(key, 0) + 1
        return None

    def close_stream(self, request: web.Request, visitor: str) -> None:
        if not self.s.enabled:
            return
        for key in ("v:" + visitor, "a:" + self.address(request)):
            left = self._streams.get(key, 0) - 1
            if left > 0:
                self._streams[key] = left
            else:
                self._streams.pop(key, None)


def _too_many(wait: float, what: str) -> web.Response:
    resp = error_response(429, "too_many_requests", f"too many {what}; retry in {math.ceil(wait)} s")
    resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return resp
