"""The phone inbox. Calls happen outside tpbridge (a desk phone, a softphone): agents log them
(`POST /api/v1/calls`), visitors ask to be called back, and both land here as conversations of
the caller's number, found again by that number (E.164).

Nothing is received or sent over a wire, so `run` only waits and `send` refuses: a reply typed in
a phone conversation cannot reach anyone (write a private note, or log the call). Real telephony
would be an adapter of this same kind whose `run` takes call events from a PBX or a CTI API
(README, "Phone hotline").
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Self

from tpbridge.adapters.base import (
    AdapterContext,
    ChannelRule,
    ChannelSettings,
    Outbound,
    Reach,
    Rejected,
    Sent,
    Sink,
)

from .numbers import display, e164
from .settings import PhoneSettings


class PhoneAdapter:
    kind: ClassVar[str] = "phone"
    Settings: ClassVar[type[ChannelSettings]] = PhoneSettings

    def __init__(self, name: str, settings: PhoneSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def run(self, sink: Sink) -> None:
        await asyncio.Event().wait()  # calls are logged through the API: nothing to receive

    async def send(self, out: Outbound) -> Sent:
        raise Rejected("a phone conversation cannot carry messages: call the number and log the call")

    def address(self, to: str) -> str:
        return e164(to, self.settings.region)

    def may_start(self, reach: Reach) -> None:
        raise ChannelRule("phone_no_messages", "the phone channel cannot deliver a message: call the number "
                          "and log the call (POST /api/v1/calls)")

    def public_info(self) -> dict[str, Any]:
        """What visitors may see: the number, the hours, whether to link it for click-to-call."""
        s = self.settings
        hours = ", ".join(f"{k} {v if isinstance(v, str) else ' '.join(v)}" for k, v in s.hours.items()) or "24/7"
        return {"inbox": self.name, "number": s.number, "display": display(s.number), "hours": s.hours,
                "hours_text": f"{hours} ({s.timezone})", "timezone": s.timezone,
                "click_to_call": s.click_to_call, "callback_lead_minutes": s.callback_lead_minutes}
