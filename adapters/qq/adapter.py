"""The QQ bot adapter: HTTP callbacks in, OpenAPI v2 messages out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import structlog
from aiohttp import web
from tpbridge.adapters.base import AdapterContext, Outbound, Retry, Sent, Sink
from tpbridge.adapters.webhook_channel import WebhookChannel

from .api import QQApi
from .send import deliver
from .settings import Settings as QQSettings
from .webhook import Webhook

log = structlog.get_logger(__name__)


class QQAdapter(WebhookChannel):
    """One bot: `/hooks/qq/<name>` receives (webhook mode; QQ retires the gateway), the API answers."""

    api: QQApi
    webhook: Webhook
    kind: ClassVar[str] = "qq"
    Settings: ClassVar[type[QQSettings]] = QQSettings

    def __init__(self, name: str, settings: QQSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.sink: Sink = ctx.sink
        self.log = log.bind(inbox=name)
        self.api = QQApi(
            base_url=settings.api_base_url, token_url=settings.token_url, app_id=settings.app_id,
            app_secret=settings.app_secret, sink=ctx.sink, timeout=settings.http_timeout,
            refresh_margin=settings.token_refresh_margin,
        )
        self.path = ctx.webhook_path  # /hooks/qq/<name>, decided by the core
        self.webhook = Webhook(name, settings, self.api, ctx.sink)

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.post(self.path, self.webhook.receive)]

    async def check(self) -> None:
        try:
            await self.api.token()  # verifies AppID/AppSecret (or reuses the store's token)
        except Retry as exc:
            self.log.warning("qq.api_unreachable", reason=exc.reason)  # receiving needs no token

    async def send(self, out: Outbound) -> Sent:
        """Passive (or allowed active) messages; a refused bot raises BadCredentials (the outbox reports it)."""
        return await deliver(self.api, self.sink, out, markdown=self.settings.markdown,
                             active_allowed=self.settings.active_messages, limit=self.settings.text_limit)
