"""tweepy's AsyncClient pointed at `api_base_url`, with rate limits and errors in our terms."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import tweepy
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from tpbridge.adapters.base import BadCredentials, Rejected, Retry
from tweepy.asynchronous import AsyncClient
from yarl import URL

from .settings import XSettings

TWEEPY_ORIGIN = "https://api.twitter.com"  # hard-coded in tweepy's AsyncBaseClient.request()
# At DEBUG tweepy logs every request's headers (the bearer token included) and oauthlib
# its signature base strings (the access token included): keep both above DEBUG.
for _noisy in ("tweepy", "oauthlib"):
    logging.getLogger(_noisy).setLevel(logging.INFO)

_UNREACHABLE = ("cannot send messages", "not permitted to send", "blocked", "suspended")


def rebase_middleware(base_url: str) -> Callable[[ClientRequest, ClientHandlerType], Awaitable[ClientResponse]]:
    """An aiohttp client middleware moving tweepy's fixed origin to `base_url`.

    Only the connection target changes: the Host header and the OAuth 1.0a signature
    (computed over https://api.twitter.com/...) arrive as tweepy made them.
    """
    base = base_url.rstrip("/")

    async def rebase(req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if req.url.scheme == "https" and req.url.host == "api.twitter.com" and base != TWEEPY_ORIGIN:
            req.url = URL(base + req.url.raw_path_qs, encoded=True)
        return await handler(req)

    return rebase


@dataclass(slots=True)
class Window:
    """One endpoint's rate-limit window as X last reported it."""

    limit: int
    remaining: int
    reset: float  # epoch seconds


class RateLimits:
    """x-rate-limit-* headers per endpoint, so requests are spaced and never run over."""

    MARGIN = 0.2  # X's reset is whole seconds; be a little late rather than early

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}

    def update(self, key: str, headers: Mapping[str, str]) -> None:
        try:
            self.windows[key] = Window(
                int(headers["x-rate-limit-limit"]),
                int(headers["x-rate-limit-remaining"]),
                float(headers["x-rate-limit-reset"]),
            )
        except (KeyError, ValueError):
            return

    def exhausted_for(self, key: str, now: float | None = None) -> float:
        """Seconds to wait before `key` may be called at all (0 when requests remain)."""
        now = time.time() if now is None else now
        window = self.windows.get(key)
        if window is None or window.remaining > 0 or window.reset <= now:
            return 0.0
        return window.reset - now + self.MARGIN

    def spacing(self, key: str, needed: int, now: float | None = None) -> float:
        """Seconds until `needed` more calls to `key` fit: the remaining calls spread over the window."""
        now = time.time() if now is None else now
        window = self.windows.get(key)
        if window is None or window.reset <= now:
            return 0.0
        if window.remaining < needed:
            return window.reset - now + self.MARGIN
        return (window.reset - now) * needed / window.remaining

    async def gate(self, key: str) -> None:
        """Sleep until the window of `key` has a request left."""
        delay = self.exhausted_for(key)
        if delay > 0:
            await asyncio.sleep(delay)


def error_reason(exc: tweepy.HTTPException) -> str:
    """The channel's own words: v2 `detail`, or the `errors` array's messages."""
    body = getattr(exc, "response_json", None) or {}
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    messages = [m for m in getattr(exc, "api_messages", []) if m]
    return "; ".join(messages) or f"HTTP {exc.response.status}"


class XApi:
    """One aiohttp session shared by every tweepy call of an inbox."""

    def __init__(self, settings: XSettings) -> None:
        self.settings = settings
        self.limits = RateLimits()
        self.session = aiohttp.ClientSession(
            middlewares=(rebase_middleware(settings.api_base_url),),
            timeout=aiohttp.ClientTimeout(total=settings.request_timeout),
        )
        self.client = AsyncClient(
            bearer_token=settings.bearer_token,
            consumer_key=settings.consumer_key,
            consumer_secret=settings.consumer_secret,
            access_token=settings.access_token,
            access_token_secret=settings.access_token_secret,
            return_type=aiohttp.ClientResponse,  # the default types drop x-rate-limit-*
        )
        self.client.session = self.session

    async def close(self) -> None:
        await self.session.close()

    async def call(self, key: str, fn: Callable[..., Awaitable[Any]], /, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Await one tweepy call and return its JSON, raising Retry / Rejected / BadCredentials."""
        try:
            response = await fn(*args, **kwargs)
        except tweepy.TooManyRequests as exc:
            self.limits.update(key, exc.response.headers)
            reset = exc.reset_time
            after = max(0.0, reset - time.time()) + RateLimits.MARGIN if reset is not None else None
            raise Retry(f"rate limited: {error_reason(exc)}", after=after, throttle=key) from exc
        except tweepy.Unauthorized as exc:
            raise BadCredentials(error_reason(exc)) from exc
        except tweepy.TwitterServerError as exc:
            raise Retry(f"X server error: {error_reason(exc)}") from exc
        except tweepy.HTTPException as exc:  # 400, 403, 404 and the rest of 4xx: permanent
            self.limits.update(key, exc.response.headers)
            reason = error_reason(exc)
            unreachable = exc.response.status == 403 and any(u in reason.lower() for u in _UNREACHABLE)
            raise Rejected(reason, unreachable=unreachable) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"X unreachable: {exc.__class__.__name__}") from exc
        self.limits.update(key, response.headers)
        try:
            body = await response.json()
        except (aiohttp.ContentTypeError, ValueError) as exc:
            raise Retry("X answered with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise Retry("X answered with JSON that is not an object")
        return body

    async def upload_media(self, data: bytes, mime: str, category: str) -> str:
        """POST /2/media/upload (one-shot JSON form); tweepy's AsyncClient has no media method."""
        body = {"media": base64.b64encode(data).decode(), "media_category": category, "media_type": mime}
        result = await self.call("POST /2/media/upload", self._post_json, "/2/media/upload", body)
        return str(result["data"]["id"])

    async def _post_json(self, route: str, body: dict[str, Any]) -> ClientResponse:
        # tweepy's own request(): OAuth 1.0a signing and its error mapping; params={} because
        # user-auth signing iterates over them.
        response: ClientResponse = await self.client.request("POST", route, params={}, json=body, user_auth=True)
        return response
