"""A visitor asks to be called back: checked here, handed to the core as a system note whose `extra`
carries `callback_request` (bridge/phone.py queues it in the phone inbox and tells the visitor when)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tpbridge.adapters.base import Inbound, Sender
from tpbridge.adapters.phone.numbers import e164

from .convert import Invalid, _optional, chosen_language
from .identity import Profile
from .settings import WebchatSettings

FURTHEST = timedelta(days=30)


def callback_inbound(inbox: str, visitor: str, body: dict[str, Any], s: WebchatSettings,
                     profile: Profile | None) -> tuple[Inbound, dict[str, Any]]:
    """The record to store and the visitor's answer."""
    raw = body.get("number")
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(400, "bad_request", "number is required")
    try:
        number = e164(raw, s.phone_region)
    except ValueError as exc:
        raise Invalid(422, "invalid", f"number: {exc}") from None
    preferred: datetime | None = None
    if body.get("preferred_at"):
        try:
            preferred = datetime.fromisoformat(str(body["preferred_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(400, "bad_request", "preferred_at must be an ISO 8601 time") from None
        if preferred.tzinfo is None:
            raise Invalid(400, "bad_request", "preferred_at needs a time zone (e.g. a trailing Z)")
        now = datetime.now(UTC)
        if preferred > now + FURTHEST:
            raise Invalid(422, "invalid", "preferred_at: at most 30 days ahead")
        preferred = max(preferred, now)  # a time already past means "as soon as you can"
    note = _optional(body, "note", 1000) or ""
    request = {"number": number, "preferred_at": preferred.astimezone(UTC).isoformat() if preferred else None,
               "note": note, "language": chosen_language(body.get("language"))}
    text = f"☎ Callback requested: {number}"
    if preferred is not None:
        text += f", preferably {preferred.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if note:
        text += f"\n{note}"
    record = Inbound(
        inbox=inbox, external_id=f"{visitor}:callback:{uuid.uuid4().hex}",
        sender=Sender(visitor, name=profile.name if profile else None), text=text, sent_at=datetime.now(UTC),
        system=True, no_auto_reply=True, extra={"callback_request": request},
    )
    return record, {"number": number, "preferred_at": request["preferred_at"], "status": "requested"}
