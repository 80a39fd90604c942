"""What channels ask of the core through a stored message's `extra`, taken from the event bus.

An adapter only stores what the person did; the core acts on it here, after the commit, on the `extra`
- `callback_request`: queue a callback in the phone inbox (bridge/phone.py);
- `profile`: a verified in-app user's name, email and tier, kept on their contact;
and on what a person typed, whatever the channel:
- `/link`, a one-time code, `/unlink`: proving two identities are the same person (bridge/linking.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from tpbridge.bridge import linking
from tpbridge.bridge.core import Core
from tpbridge.bridge.events import MESSAGE_CREATED, Event
from tpbridge.bridge.model import AuthorKind, Conversation, Direction
from tpbridge.bridge.phone import Phone

log = structlog.get_logger(__name__)


async def apply_profile(core: Core, conv: Conversation, profile: dict[str, Any]) -> None:
    """The app is the source of truth for its user: name, email and tier follow it."""
    contact = await core.store.get_contact(conv.contact_id)
    if contact is None:
        return
    changes = {k: profile.get(k) for k in ("name", "email", "tier")
               if profile.get(k) is not None and profile.get(k) != getattr(contact, k)}
    if changes:
        await core.store.update_contact(contact.id, **changes)
        log.info("contact.profile_updated", inbox=conv.inbox, conversation_id=conv.id, fields=sorted(changes))


def _wanted(event: Event) -> bool:
    """The few messages handover acts on (checked on every message: it has to be cheap)."""
    msg = event.message
    if event.kind != MESSAGE_CREATED or msg is None or msg.direction is not Direction.IN:
        return False
    return ("callback_request" in msg.extra or "profile" in msg.extra
            or (msg.author.kind is AuthorKind.CONTACT and linking.is_request(msg.text or "")))


async def run(core: Core, phone: Phone) -> None:
    """Act on what `_wanted` picks off the bus until cancelled; one failing request is logged and never stops
    the rest. A listener, not a subscription: a queue and a task wake-up for every message cost the webhook path
    more than the check (bench/telegram_webhook.py)."""
    wanted: asyncio.Queue[Event] = asyncio.Queue()

    def offer(event: Event) -> None:
        if _wanted(event):
            wanted.put_nowait(event)

    core.bus.listen(offer)
    try:
        while True:
            event = await wanted.get()
            msg = event.message
            assert msg is not None
            try:
                if "callback_request" in msg.extra and msg.inbox not in phone.hotlines():
                    await phone.on_request(event.conversation, msg)
                if isinstance(profile := msg.extra.get("profile"), dict):
                    await apply_profile(core, event.conversation, profile)
                if msg.author.kind is AuthorKind.CONTACT and linking.is_request(msg.text or ""):
                    await linking.on_message(core, event.conversation, msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handover.failed", inbox=event.inbox, conversation_id=event.conversation_id)
    finally:
        core.bus.unlisten(offer)
