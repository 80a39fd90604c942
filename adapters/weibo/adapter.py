"""The Weibo adapter: fan-service pushes in, messages/reply.json out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import structlog
from aiohttp import web
from tpbridge.adapters.base import AdapterContext, BadCredentials, Outbound, Retry, Sent, Sink
from tpbridge.adapters.webhook_channel import WebhookChannel

from .api import WeiboApi, WeiboError, classify
from .send import deliver
from .settings import Settings as WeiboSettings
from .webhook import Webhook

log = structlog.get_logger(__name__)
TOKEN_WARN_DAYS = 14


class WeiboAdapter(WebhookChannel):
    """One official account: `/hooks/weibo/<name>` receives, the reply API answers."""

    api: WeiboApi
    webhook: Webhook
    kind: ClassVar[str] = "weibo"
    Settings: ClassVar[type[WeiboSettings]] = WeiboSettings

    def __init__(self, name: str, settings: WeiboSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.sink: Sink = ctx.sink
        self.log = log.bind(inbox=name)
        self.api = WeiboApi(base_url=settings.api_base_url, access_token=settings.access_token,
                            timeout=settings.http_timeout)
        self.webhook = Webhook(name, settings, self.api, ctx.sink)
        self.path = ctx.webhook_path  # handed by the core: /hooks/weibo/<name>

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.get(self.path, self.webhook.verify), web.post(self.path, self.webhook.receive)]

    async def check(self) -> None:
        """Check the token (its uid must be the configured account's); keep receiving if Weibo is down."""
        try:
            info = await self.api.token_info()
        except WeiboError as exc:
            if isinstance(classify(exc), BadCredentials) or exc.status in (400, 401, 403):
                raise BadCredentials(f"Weibo refused the access token: {exc}") from None
            self.log.warning("weibo.api_unreachable", reason=str(exc))  # receiving needs no API
            return
        except Retry as exc:
            self.log.warning("weibo.api_unreachable", reason=exc.reason)
            return
        uid = str(info.get("uid") or "")
        if self.settings.uid and uid and uid != self.settings.uid:
            raise BadCredentials(f"the access token belongs to uid {uid}, not to {self.settings.uid}")
        self.webhook.uid = self.settings.uid or uid or None
        expire_in = float(info.get("expire_in") or 0)
        if 0 < expire_in < TOKEN_WARN_DAYS * 86400:
            self.log.warning("weibo.token_expires_soon", days=round(expire_in / 86400, 1))

    async def send(self, out: Outbound) -> Sent:
        """BadCredentials raised here are the outbox's to report (and to clear once a send works)."""
        return await deliver(self.api, self.sink, out, limit=self.settings.text_limit,
                             save_sender_box=self.settings.save_sender_box,
                             rate_limit_delay=self.settings.rate_limit_delay)
