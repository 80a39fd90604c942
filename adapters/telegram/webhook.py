"""Webhook mode: the route Telegram posts updates to, and a watch on the webhook's registration."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Sequence

import structlog
from aiohttp import web
from telegram.error import TelegramError
from tpbridge.adapters import json_input
from tpbridge.adapters.base import AdapterContext, ChannelState, Sink

from .api import ApiError, BridgeBot
from .convert import UPDATE_KINDS, UpdateReader
from .settings import TelegramSettings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_WEBHOOK_BODY = 4 * 1024 * 1024


def _error(status: int, message: str) -> web.Response:
    """Errors in the Bot API's own shape, which is what Telegram (and its tools) read."""
    return web.json_response({"ok": False, "error_code": status, "description": message}, status=status)


class Webhook:
    """Receives at the path the core gave this inbox; `bot()` is None while the adapter is not entered."""

    def __init__(self, ctx: AdapterContext, settings: TelegramSettings, reader: UpdateReader,
                 bot: Callable[[], BridgeBot | None], log: structlog.stdlib.BoundLogger) -> None:
        self.ctx = ctx
        self.settings = settings
        self.reader = reader
        self.bot = bot
        self.log = log

    async def register(self, bot: BridgeBot) -> None:
        await bot.set_webhook(
            url=self.ctx.webhook_url,
            secret_token=self.settings.webhook_secret,
            allowed_updates=list(UPDATE_KINDS),
            max_connections=self.settings.webhook_max_connections,
        )

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post(self.ctx.webhook_path, self.receive)]

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """Store first, then answer 200: Telegram redelivers until it gets a 2xx."""
        bot = self.bot()
        if bot is None or self.settings.mode != "webhook":
            return _error(503, "the Telegram inbox is not running")
        given = request.headers.get(SECRET_HEADER, "")
        expected = self.settings.webhook_secret or ""
        if not expected or not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            self.log.warning("webhook.unauthorized", remote=request.remote)
            return _error(401, f"missing or wrong {SECRET_HEADER}")
        if request.content_length is not None and request.content_length > MAX_WEBHOOK_BODY:
            return _error(413, "update too large")
        raw = await request.read()
        try:
            data = json_input.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not a Telegram Update object")
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            return _error(400, f"malformed update: {exc}")
        try:
            record = await self.reader.read(bot, self.ctx.sink, data, raw)
        except TelegramError as exc:  # a file download failed for now: Telegram will retry
            self.log.warning("webhook.retry_later", update_id=data["update_id"], error=str(exc))
            return _error(503, "temporarily unable to fetch an attachment")
        if record is not None:
            await self.ctx.sink.ingest([record])
        return web.Response(status=200)

    async def watch(self, bot: BridgeBot, sink: Sink) -> None:
        """getWebhookInfo now and then: a revoked token, a webhook removed by someone else,
        or Telegram failing to reach us would otherwise go unnoticed until the next reply."""
        url = self.ctx.webhook_url
        sink.report(ChannelState.CONNECTED)
        healthy = True
        last_error = 0
        while True:
            await asyncio.sleep(self.settings.webhook_check_interval)
            try:
                info = await bot.get_webhook_info()
                if info.url != url:
                    self.log.warning("webhook.reset", found=info.url or None)
                    await self.register(bot)
                    continue
            except ApiError as exc:
                if (bad := exc.bad_credentials()) is not None:
                    raise bad from exc
                raise
            stamp = int(info.last_error_date.timestamp()) if info.last_error_date else 0
            if stamp > last_error:
                last_error = stamp
                healthy = False
                reason = f"Telegram cannot deliver to the webhook: {info.last_error_message}"
                sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=reason)
            elif not healthy:
                healthy = True
                sink.report(ChannelState.CONNECTED)
