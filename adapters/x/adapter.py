"""XAdapter: an X account (DMs and mentions) as one inbox."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar, Self

import structlog
from aiohttp import web
from tpbridge.adapters import first_contact
from tpbridge.adapters.base import AdapterContext, BadCredentials, ChannelState, Outbound, Reach, Sent, Sink

from .api import XApi
from .poll import Poller
from .send import Replier
from .settings import XSettings
from .webhook import Webhook

log = structlog.get_logger(__name__)


class XAdapter:
    """DMs and public mentions of one X account, by polling API v2 or the Account Activity webhook."""

    kind: ClassVar[str] = "x"
    Settings: ClassVar[type[XSettings]] = XSettings

    def __init__(self, name: str, settings: XSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.log = log.bind(inbox=name)
        self.api: XApi | None = None
        self.me_id: str = settings.user_id or ""
        self.ready = False  # webhook handlers answer 503 until entered
        self._webhook = Webhook(self)
        self._replier = Replier(self)

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return self._webhook.routes()

    def require_api(self) -> XApi:
        if self.api is None:
            raise RuntimeError(f"{self.name}: the adapter is used outside `async with`")
        return self.api

    async def __aenter__(self) -> Self:
        """Open the session and check the credentials with GET /2/users/me (which also gives our id)."""
        self.api = XApi(self.settings)
        try:
            me = await self.api.call("GET /2/users/me", self.api.client.get_me)
        except BaseException:
            await self.api.close()
            self.api = None
            raise
        account = str(me["data"]["id"])
        if self.settings.user_id and self.settings.user_id != account:
            await self.api.close()
            self.api = None
            raise BadCredentials(f"the credentials belong to user {account}, not the configured user_id")
        self.me_id = account
        self.log = self.log.bind(account=account)
        self.ready = True
        self.log.info("channel.opened", mode=self.settings.mode, username=me["data"].get("username"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.ready = False
        if self.api is not None:
            await self.api.close()
            self.api = None

    def polls(self) -> bool:
        return self.settings.mode == "polling"

    async def run(self, sink: Sink) -> None:
        """Poll, or (webhook mode) stay connected while the routes receive."""
        if self.settings.mode == "webhook":
            sink.report(ChannelState.CONNECTED)
            await asyncio.Event().wait()  # deliveries arrive on the routes; run only awaits cancellation
        await Poller(self, sink).run()  # BadCredentials propagate: the supervisor reports them

    # ------------------------------------------------------------ writing first (StartsConversations)
    def address(self, to: str) -> str:
        return first_contact.numeric_id(to)

    def may_start(self, reach: Reach) -> None:
        first_contact.require_private(reach, "x_dm_not_allowed",
                                      "X delivers a DM only to users who allow it: this user has not written "
                                      "to us by DM")

    async def send(self, out: Outbound) -> Sent:
        return await self._replier.send(out)
