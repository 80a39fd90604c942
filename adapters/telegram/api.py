"""The wire to the Bot API: a python-telegram-bot `Bot` whose errors keep Telegram's own words.

PTB folds error bodies into exception types and trims the description ("Bad Request:
chat not found" becomes "Chat not found"); the outbox must show the channel's reason
verbatim and needs the status code, so the request layer raises `ApiError` instead.
"""

from __future__ import annotations

import json
from typing import Any

from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest, RequestData
from tpbridge.adapters.base import BadCredentials, Sink

from .settings import TelegramSettings


class ApiError(TelegramError):
    """A non-2xx answer of the Bot API, with Telegram's description and parameters intact."""

    __slots__ = ("description", "retry_after", "status")

    def __init__(self, status: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type, tuple[int, str, float | None]]:  # type: ignore[override]
        return self.__class__, (self.status, self.description, self.retry_after)

    def bad_credentials(self) -> BadCredentials | None:
        """Telegram's answer to a revoked or wrong token (401, or 404 for a token it does not know)."""
        if self.status in (401, 404):
            return BadCredentials(f"Telegram refused the bot token: {self.status} {self.description}")
        return None


def _error_from(status: int, payload: bytes) -> ApiError:
    description = f"HTTP {status}"
    retry_after: float | None = None
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if isinstance(body, dict):
        description = str(body.get("description") or description)
        params = body.get("parameters")
        if isinstance(params, dict) and params.get("retry_after") is not None:
            try:
                retry_after = float(params["retry_after"])
            except (TypeError, ValueError):
                retry_after = None
    return ApiError(status, description, retry_after)


class ApiRequest(HTTPXRequest):
    """HTTPX transport that raises `ApiError` for every non-2xx answer (file downloads included)."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        write_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: Any = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: Any = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        status, payload = await super().do_request(
            url,
            method,
            request_data=request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if not 200 <= status <= 299:
            raise _error_from(status, payload)
        return status, payload


class BridgeBot(Bot):
    """PTB's Bot plus getUpdates returning raw JSON, so one unreadable update can be
    quarantined instead of failing the whole batch forever (PTB parses the batch at once)."""

    async def get_raw_updates(self, offset: int | None, timeout: int, limit: int,
                              allowed_updates: list[str], request_timeout: float) -> list[dict[str, Any]]:
        result = await self._post(
            "getUpdates",
            {"offset": offset, "timeout": timeout, "limit": limit, "allowed_updates": allowed_updates},
            read_timeout=request_timeout + timeout,  # a long poll legitimately takes `timeout`
        )
        if not isinstance(result, list):
            raise ApiError(502, f"getUpdates returned {type(result).__name__}, not a list")
        return result


def make_bot(settings: TelegramSettings) -> BridgeBot:
    """A Bot that talks to `api_base_url` for every call, getFile downloads included."""
    timeout = settings.request_timeout
    kwargs: dict[str, Any] = {
        "connect_timeout": timeout,
        "read_timeout": timeout,
        "write_timeout": timeout,
        "pool_timeout": timeout,
        "media_write_timeout": max(timeout, 60.0),
        # A corporate proxy is configured through api_base_url, not the environment:
        # loopback fakes and self-hosted servers must not be sent through HTTP(S)_PROXY.
        "httpx_kwargs": {"trust_env": False},
    }
    return BridgeBot(
        settings.token,
        base_url=f"{settings.api_base_url}/bot",
        base_file_url=f"{settings.api_base_url}/file/bot",
        request=ApiRequest(connection_pool_size=16, **kwargs),
        get_updates_request=ApiRequest(connection_pool_size=1, **kwargs),
    )


class SendLimits:
    """Telegram's flood limits: about 30 messages/s per bot and 1/s per chat. Paced through the store
    (`Sink.send_slot`), so every daemon instance sending through the bot shares them; the bot's key
    is the inbox's, so a 429 that paused the inbox holds these sends back too."""

    def __init__(self, sink: Sink, per_bot: float, per_chat: float) -> None:
        self._sink = sink
        self._per_bot = per_bot
        self._per_chat = per_chat

    async def take(self, chat_id: str) -> None:
        await self._sink.send_slot(f"chat:{chat_id}", self._per_chat)
        # the bot's slot last: its pause is checked once more right before the send
        await self._sink.send_slot("", self._per_bot, burst=max(1.0, self._per_bot))
