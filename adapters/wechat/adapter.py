"""The WeChat Official Account adapter: webhook in (webhook.py), customer-service messages out (send.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import structlog
from aiohttp import web
from tpbridge.adapters import first_contact
from tpbridge.adapters.base import AdapterContext, ChannelState, Outbound, Reach, Retry, Sent, Sink
from tpbridge.adapters.webhook_channel import WebhookChannel

from .api import WechatApi
from .media import MediaFetcher
from .send import deliver
from .settings import WechatSettings
from .webhook import Webhook

log = structlog.get_logger(__name__)


class WechatAdapter(WebhookChannel):
    """One Official Account: its webhook (`/hooks/wechat/<name>`) receives, message/custom/send replies."""

    api: WechatApi
    webhook: Webhook
    kind: ClassVar[str] = "wechat"
    Settings: ClassVar[type[WechatSettings]] = WechatSettings

    def __init__(self, name: str, settings: WechatSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.sink: Sink = ctx.sink
        self.log = log.bind(inbox=name)
        self.api = WechatApi(
            base_url=settings.api_base_url, app_id=settings.app_id, app_secret=settings.app_secret,
            sink=ctx.sink, timeout=settings.http_timeout, refresh_margin=settings.token_refresh_margin,
        )
        self.media = MediaFetcher(self.api, inline_timeout=settings.media_timeout,
                                  later_timeout=settings.http_timeout, max_bytes=settings.media_max_bytes)
        self.webhook = Webhook(name, ctx.webhook_path, settings, ctx.sink, self.media, self.log)

    # ------------------------------------------------------------ lifecycle

    async def check(self) -> None:
        """Check appid/secret by getting a token (or reusing the store's); BadCredentials if refused."""
        try:
            await self.api.token()
        except Retry as exc:
            # Receiving needs no token: keep the webhook up, replies will retry.
            self.log.warning("wechat.api_unreachable", reason=exc.reason)

    async def run(self, sink: Sink) -> None:
        """Nothing to poll (WeChat pushes to the webhook): fetch the media that was too slow."""
        sink.report(ChannelState.CONNECTED)
        await self.media.run(sink)

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return self.webhook.routes()

    # ------------------------------------------------------------ replies

    # ------------------------------------------------------------ writing first (StartsConversations)
    def address(self, to: str) -> str:
        return first_contact.opaque_id(to)

    def may_start(self, reach: Reach) -> None:
        first_contact.require_window(
            reach, "reply_window_ends_at", "wechat_window_closed",
            f"WeChat accepts customer-service messages only within {self.settings.reply_window_hours:g} hours "
            "of the user's last message")

    async def send(self, out: Outbound) -> Sent:
        """Text (split at WeChat's 2048-byte limit), then images/voice via media/upload.

        The outbox logs reply.sent / reply.retry / reply.failed and owns the inbox's health:
        a BadCredentials raised here (IP whitelist, secret) marks it until a send succeeds.
        """
        return await deliver(self.api, self.sink, out)
