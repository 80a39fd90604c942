"""The Telegram adapter: one bot = one inbox, by long polling (poll.py) or by webhook (webhook.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import structlog
from aiohttp import web
from tpbridge.adapters import first_contact
from tpbridge.adapters.base import AdapterContext, Outbound, Reach, Retry, Sent, Sink

from .api import ApiError, BridgeBot, SendLimits, make_bot
from .convert import UpdateReader
from .poll import Poller
from .send import ReplyDelivery
from .settings import TelegramSettings
from .webhook import Webhook

log = structlog.get_logger(__name__)


class TelegramAdapter:
    """Receives a bot's private chats (and, when enabled, groups and channels) and answers them."""

    kind: ClassVar[str] = "telegram"
    Settings: ClassVar[type[TelegramSettings]] = TelegramSettings

    def __init__(self, name: str, settings: TelegramSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self._bot: BridgeBot | None = None
        self._delivery: ReplyDelivery | None = None
        self._log = log.bind(inbox=name)
        reader = UpdateReader(name, settings, self._log)
        self._poller = Poller(settings, reader, self._log)
        self._webhook = Webhook(ctx, settings, reader, lambda: self._bot, self._log)

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        """getMe proves the token (BadCredentials if refused); then the webhook is set, or removed for polling."""
        bot = make_bot(self.settings)
        try:
            await bot.initialize()
            if self.settings.mode == "webhook":
                await self._webhook.register(bot)
            else:
                # getUpdates answers 409 while a webhook is set; pending updates are kept.
                await bot.delete_webhook(drop_pending_updates=False)
        except ApiError as exc:
            await bot.shutdown()
            if (bad := exc.bad_credentials()) is not None:
                self._log.error("telegram.bad_credentials", status=exc.status)
                raise bad from exc
            raise
        except BaseException:
            await bot.shutdown()
            raise
        self._bot = bot
        self._delivery = ReplyDelivery(
            bot, self.ctx.sink, SendLimits(self.ctx.sink, self.settings.rate_global, self.settings.rate_per_chat),
            self.name
        )
        self._log.info("telegram.started", mode=self.settings.mode, bot=bot.username)
        return self

    async def __aexit__(self, *exc: object) -> None:
        bot, self._bot, self._delivery = self._bot, None, None
        if bot is not None:
            # The webhook stays set: Telegram queues updates while we are down.
            await bot.shutdown()

    # ------------------------------------------------------------ receiving

    def polls(self) -> bool:
        return self.settings.mode == "polling"

    async def run(self, sink: Sink) -> None:
        """Poll until cancelled; in webhook mode the route receives and this watches the webhook."""
        if self._bot is None:
            raise RuntimeError("TelegramAdapter.run before __aenter__")
        if self.settings.mode == "webhook":
            await self._webhook.watch(self._bot, sink)
        else:
            await self._poller.run(self._bot, sink)

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """The webhook route, in webhook mode only: a polling bot exposes nothing."""
        return self._webhook.routes() if self.settings.mode == "webhook" else []

    # ------------------------------------------------------------ sending

    # ------------------------------------------------------------ writing first (StartsConversations)
    def address(self, to: str) -> str:
        return first_contact.numeric_id(to)

    def may_start(self, reach: Reach) -> None:
        first_contact.require_written(reach, "telegram_not_started",
                                      "Telegram lets a bot write only to people who have started a chat with it")

    async def send(self, out: Outbound) -> Sent:
        if self._delivery is None:  # between the supervisor's restarts: try again soon
            raise Retry("the Telegram inbox is reconnecting", after=5.0)
        return await self._delivery.send(out)
