"""The web chat adapter: visitors come to us over HTTP, so there is nothing to poll and nothing to log in to."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import ClassVar, Self

from aiohttp import web
from tpbridge.adapters import first_contact
from tpbridge.adapters.base import AdapterContext, Outbound, Reach, Sent, Sink
from tpbridge.adapters.uploads import spool_dir

from .api import OpenPages, VisitorTokens
from .send import deliver
from .settings import WebchatSettings
from .webhook import VisitorRoutes


class WebchatAdapter:
    kind: ClassVar[str] = "webchat"
    Settings: ClassVar[type[WebchatSettings]] = WebchatSettings

    def __init__(self, name: str, settings: WebchatSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.sink = ctx.sink
        self.tokens = VisitorTokens()
        self.pages = OpenPages()
        self.visitors = VisitorRoutes(name, settings, ctx.sink, self.tokens, self.pages, spool_dir(ctx.data_dir))

    async def __aenter__(self) -> Self:
        """The signing secret: configured, or generated once and shared through the store."""
        secret = self.settings.visitor_secret or await self.sink.kv_get("visitor_secret")
        if not secret:
            secret = secrets.token_hex(32)
            await self.sink.kv_set("visitor_secret", secret)
        self.tokens.open(secret)
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def run(self, sink: Sink) -> None:
        await asyncio.Event().wait()  # nothing to poll: visitors come to us over HTTP

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return self.visitors.routes()

    # ------------------------------------------------------------ writing first (StartsConversations)
    def address(self, to: str) -> str:
        return first_contact.opaque_id(to)  # a visitor id

    def may_start(self, reach: Reach) -> None:
        first_contact.require_written(reach, "webchat_unknown_visitor",
                                      "the web chat can only reach a visitor who has written before")

    async def send(self, out: Outbound) -> Sent:
        return deliver(self.pages, out)

    def delivered_elsewhere(self, out: Outbound) -> None:
        """Another instance sent this reply: the visitor's pages open on this process get it too."""
        deliver(self.pages, out)
