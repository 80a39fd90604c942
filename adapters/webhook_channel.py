"""The lifecycle shared by the adapters whose channel pushes to a webhook and whose API client holds
an HTTP session (QQ, Weibo, WeChat): one copy, so start, stop and the 503-until-ready gate agree.

Entering opens the session and checks the credentials (`check`, the adapter's own); the session is
closed again if that fails, and only then does the webhook accept deliveries. Nothing is polled.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, Self

from tpbridge.adapters.api_session import ApiSession
from tpbridge.adapters.base import ChannelState, Sink


class Gate(Protocol):
    """A webhook that answers 503 while `ready` is false."""

    ready: bool


class WebhookChannel:
    """Base for the adapter class; the subclass sets `self.api` and `self.webhook` and defines `check`."""

    api: ApiSession
    webhook: Gate

    async def check(self) -> None:
        """Verify the credentials at start: raise BadCredentials to stop, log what receiving survives."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.api.open()
        try:
            await self.check()
        except BaseException:
            await self.api.close()
            raise
        self.webhook.ready = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.webhook.ready = False
        await self.api.close()

    async def run(self, sink: Sink) -> None:
        """Nothing to poll: the channel calls the webhook."""
        sink.report(ChannelState.CONNECTED)
        await asyncio.Event().wait()
