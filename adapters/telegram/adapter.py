"""The Telegram adapter: one bot = one inbox, by long polling or by webhook.

Polling is our own getUpdates loop, not PTB's Updater: the Updater confirms updates
on its next poll before handlers have stored them (and again on stop), so a crash
loses messages. Here the offset is a checkpoint stored in the same transaction as
the messages, and sent to Telegram only after that transaction committed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Sequence
from typing import ClassVar, Self

import structlog
from aiohttp import web
from telegram import Bot, Update
from telegram.error import NetworkError, TelegramError
from tpbridge.adapters.base import (
    AdapterContext,
    BadCredentials,
    ChannelState,
    Inbound,
    Outbound,
    Quarantined,
    Retry,
    Sent,
    Sink,
)

from .api import ApiError, BridgeBot, SendLimits, make_bot
from .convert import UPDATE_KINDS, FileUnavailable, download, update_kind, update_to_inbound
from .send import ReplyDelivery
from .settings import TelegramSettings

log = structlog.get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_WEBHOOK_BODY = 4 * 1024 * 1024
FILE_ATTEMPTS = 3  # transient download failures of one file before the message is stored without it


class TelegramAdapter:
    """Receives a bot's private chats (and, when enabled, groups and channels) and answers them."""

    kind: ClassVar[str] = "telegram"
    Settings: ClassVar[type[TelegramSettings]] = TelegramSettings

    def __init__(self, name: str, settings: TelegramSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.path = f"/hooks/telegram/{name.partition('.')[2] or name}"
        self._bot: BridgeBot | None = None
        self._delivery: ReplyDelivery | None = None
        self._log = log.bind(inbox=name)
        self._file_failures: dict[str, int] = {}

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        bot = make_bot(self.settings)
        sink = self.ctx.sink
        sink.report(ChannelState.CONNECTING)
        try:
            await bot.initialize()  # getMe: proves the token
            if self.settings.mode == "webhook":
                await bot.set_webhook(
                    url=self.ctx.public_url.rstrip("/") + self.path,
                    secret_token=self.settings.webhook_secret,
                    allowed_updates=list(UPDATE_KINDS),
                    max_connections=self.settings.webhook_max_connections,
                )
            else:
                # getUpdates answers 409 while a webhook is set; pending updates are kept.
                await bot.delete_webhook(drop_pending_updates=False)
        except ApiError as exc:
            await bot.shutdown()
            if exc.status in (401, 404):
                raise self._bad_credentials(sink, exc) from exc
            raise
        except BaseException:
            await bot.shutdown()
            raise
        self._bot = bot
        self._delivery = ReplyDelivery(
            bot, sink, SendLimits(self.settings.rate_global, self.settings.rate_per_chat), self.name
        )
        self._log.info("telegram.started", mode=self.settings.mode, bot=bot.username)
        return self

    async def __aexit__(self, *exc: object) -> None:
        bot, self._bot, self._delivery = self._bot, None, None
        if bot is not None:
            # The webhook stays set: Telegram queues updates while we are down.
            await bot.shutdown()
        # No STOPPED report here: after BadCredentials that would hide the reason from /healthz.

    def _bad_credentials(self, sink: Sink, exc: ApiError) -> BadCredentials:
        reason = f"Telegram refused the bot token: {exc.status} {exc.description}"
        sink.report(ChannelState.BAD_CREDENTIALS, reason=reason)
        self._log.error("telegram.bad_credentials", status=exc.status)
        return BadCredentials(reason)

    # ------------------------------------------------------------ receiving

    def polls(self) -> bool:
        return self.settings.mode == "polling"

    async def run(self, sink: Sink) -> None:
        """Poll until cancelled; in webhook mode the route receives and this watches the webhook."""
        if self._bot is None:
            raise RuntimeError("TelegramAdapter.run before __aenter__")
        if self.settings.mode == "webhook":
            await self._watch_webhook(self._bot, sink)
        else:
            await self._poll(self._bot, sink)

    async def _watch_webhook(self, bot: BridgeBot, sink: Sink) -> None:
        """getWebhookInfo now and then: a revoked token, a webhook removed by someone else,
        or Telegram failing to reach us would otherwise go unnoticed until the next reply."""
        url = self.ctx.public_url.rstrip("/") + self.path
        sink.report(ChannelState.CONNECTED)
        healthy = True
        last_error = 0
        while True:
            await asyncio.sleep(self.settings.webhook_check_interval)
            try:
                info = await bot.get_webhook_info()
                if info.url != url:
                    self._log.warning("webhook.reset", found=info.url or None)
                    await bot.set_webhook(
                        url=url,
                        secret_token=self.settings.webhook_secret,
                        allowed_updates=list(UPDATE_KINDS),
                        max_connections=self.settings.webhook_max_connections,
                    )
                    continue
            except ApiError as exc:
                if exc.status in (401, 404):
                    raise self._bad_credentials(sink, exc) from exc
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

    async def _poll(self, bot: BridgeBot, sink: Sink) -> None:
        saved = await sink.last_checkpoint()
        offset = int(saved) if saved else None
        timeout = 0  # the first poll is short, so health shows "connected" at once
        connected = False
        while True:
            try:
                raw = await bot.get_raw_updates(
                    offset, timeout, 100, list(UPDATE_KINDS), self.settings.request_timeout
                )
            except ApiError as exc:
                if exc.status in (401, 404):
                    raise self._bad_credentials(sink, exc) from exc
                if exc.status == 429 and exc.retry_after:
                    await asyncio.sleep(exc.retry_after)
                    continue
                sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=exc.description)
                raise
            except NetworkError as exc:
                sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=f"network error: {exc.message}")
                raise
            if not connected:
                sink.report(ChannelState.CONNECTED)
                connected = True
            timeout = self.settings.poll_timeout
            if not raw:
                continue
            ids = [u["update_id"] for u in raw if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
            next_offset = max(ids, default=(offset or 0) - 1) + 1
            records: list[Inbound] = []
            for data in raw:
                record = await self._receive(bot, sink, data)
                if record is not None:
                    records.append(record)
            # Stored with the batch in one transaction; Telegram hears of it only on the next poll.
            await sink.ingest(records, checkpoint=str(next_offset))
            self._log.debug("updates.stored", count=len(raw), records=len(records), offset=next_offset)
            offset = next_offset

    async def _receive(self, bot: Bot, sink: Sink, data: object, raw: bytes | None = None) -> Inbound | None:
        """One raw update -> its record; unreadable ones are quarantined, transient errors raise."""
        raw = raw if raw is not None else json.dumps(data, ensure_ascii=False).encode()
        update_id = data.get("update_id") if isinstance(data, dict) else None
        try:
            if not isinstance(update_id, int):
                raise ValueError("not a Telegram Update object (no update_id)")
            update = Update.de_json(data, bot)  # type: ignore[arg-type]
            return await self._convert(bot, update)
        except (NetworkError, ApiError):
            raise  # a download failed for now: the update stays unconfirmed and comes again
        except Exception as exc:
            reason = f"unreadable Telegram update: {type(exc).__name__}: {exc}"
            self._log.warning("update.quarantined", update_id=update_id, reason=reason)
            await sink.quarantine(Quarantined(self.name, f"update:{update_id}", reason, raw))
            return None

    async def _convert(self, bot: Bot, update: Update) -> Inbound | None:
        limit = self.settings.max_download_bytes

        async def fetch(file_id: str, size: int | None) -> bytes:
            try:
                data = await download(bot, file_id, size, limit)
            except (NetworkError, ApiError) as exc:
                # Transient: the update is retried. But a file that keeps failing must not
                # hold up every later message of the inbox: after a few tries, note it and go on.
                failures = self._file_failures[file_id] = self._file_failures.get(file_id, 0) + 1
                if failures < FILE_ATTEMPTS:
                    raise
                del self._file_failures[file_id]
                raise FileUnavailable(f"download failed {failures} times: {exc}") from exc
            self._file_failures.pop(file_id, None)
            return data

        record = await update_to_inbound(
            update,
            inbox=self.name,
            fetch=fetch,
            allow_groups=self.settings.allow_groups,
            allow_channels=self.settings.allow_channels,
        )
        if record is None:
            self._log.info("update.ignored", update_id=update.update_id, kind=update_kind(update))
        return record

    # ------------------------------------------------------------ webhook

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """The webhook route, in webhook mode only: a polling bot exposes nothing."""
        if self.settings.mode != "webhook":
            return []
        return [web.post(self.path, self._webhook)]

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        """Store first, then answer 200: Telegram redelivers until it gets a 2xx."""
        bot = self._bot
        if bot is None or self.settings.mode != "webhook":
            return _error(503, "the Telegram inbox is not running")
        given = request.headers.get(SECRET_HEADER, "")
        expected = self.settings.webhook_secret or ""
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            self._log.warning("webhook.unauthorized", remote=request.remote)
            return _error(401, f"missing or wrong {SECRET_HEADER}")
        if request.content_length is not None and request.content_length > MAX_WEBHOOK_BODY:
            return _error(413, "update too large")
        raw = await request.read()
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not a Telegram Update object")
        except ValueError as exc:
            return _error(400, f"malformed update: {exc}")
        try:
            record = await self._receive(bot, self.ctx.sink, data, raw)
        except TelegramError as exc:  # a file download failed for now: Telegram will retry
            self._log.warning("webhook.retry_later", update_id=data["update_id"], error=str(exc))
            return _error(503, "temporarily unable to fetch an attachment")
        if record is not None:
            await self.ctx.sink.ingest([record])
        return web.Response(status=200)

    # ------------------------------------------------------------ sending

    async def send(self, out: Outbound) -> Sent:
        if self._delivery is None:  # between the supervisor's restarts: try again soon
            raise Retry("the Telegram inbox is reconnecting", after=5.0)
        return await self._delivery.send(out)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": message}, status=status)
