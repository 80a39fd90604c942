"""Weibo pushes (JSON) to `Inbound` records.

Weibo pushes carry no message id: its docs say to dedupe retries by sender_id plus
created_at. created_at has one-second resolution, so two messages from one person
in the same second would collide; a digest of the body's content is added to the
key (a retry repeats the body byte for byte, so it still maps to the same key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tpbridge.adapters import json_input
from tpbridge.adapters.base import Inbound, Sender

MEDIA_KINDS = {"image": "image", "voice": "voice"}
# Event subtypes after which the account may reply for 48 hours (Send Customer Service Message).
WINDOW_EVENTS = {"follow", "subscribe", "scan", "scan_follow", "click"}
CLOSING_EVENTS = {"unfollow", "unsubscribe"}
EVENT_TEXT = {
    "follow": "Followed the account",
    "unfollow": "Unfollowed the account",
    "subscribe": "Subscribed to the account",
    "unsubscribe": "Unsubscribed from the account",
    "scan": "Scanned a QR code",
    "scan_follow": "Scanned a QR code and followed",
    "click": "Clicked menu item",
    "view": "Opened menu link",
}


class BadPush(Exception):
    """The body is not a Weibo push: answer 400."""


@dataclass(frozen=True, slots=True)
class Push:
    """A validated push: the fields every kind has, and the kind's `data`."""

    kind: str
    sender_id: str
    receiver_id: str
    created_at: datetime
    text: str
    data: Mapping[str, Any]
    digest: str

    @property
    def external_id(self) -> str:
        return f"{self.sender_id}:{int(self.created_at.timestamp())}:{self.kind}:{self.digest}"


def parse(raw: bytes) -> Push:
    try:
        body = json_input.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise BadPush(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadPush("body is not a JSON object")
    kind, sender, receiver = body.get("type"), body.get("sender_id"), body.get("receiver_id")
    if not isinstance(kind, str) or not kind:
        raise BadPush("push without a type")
    if not _is_uid(sender) or not _is_uid(receiver):
        raise BadPush("sender_id / receiver_id missing or not numeric")
    try:
        created = datetime.strptime(str(body.get("created_at", "")), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        raise BadPush("created_at is not Weibo's date format") from None
    data = body.get("data") or {}
    if isinstance(data, str):  # documented as an object, typed "string" in the tables: accept both
        try:
            data = json_input.loads(data) if data.strip() else {}
        except (ValueError, RecursionError):
            raise BadPush("data is not JSON") from None
    if not isinstance(data, dict):
        raise BadPush("data is not an object")
    text = body.get("text")
    canonical = json.dumps([kind, text, data], sort_keys=True, ensure_ascii=False)
    return Push(
        kind=kind.lower(), sender_id=str(sender), receiver_id=str(receiver), created_at=created.astimezone(UTC),
        text=str(text or ""), data=data, digest=hashlib.sha1(canonical.encode()).hexdigest()[:10],
    )


def _is_uid(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value > 0) or (
        isinstance(value, str) and value.isdigit()
    )


@dataclass(frozen=True, slots=True)
class MediaRef:
    fid: str  # the receiver's id for the file (`tovfid`)
    kind: str


def to_inbound(inbox: str, push: Push, sender: Sender, *, window_hours: float) -> tuple[Inbound, MediaRef | None]:
    """Build the record (without its attachment) and say which file, if any, to download."""
    extra: dict[str, Any] = {"msg_type": push.kind}
    attrs: dict[str, Any] = {}
    media: MediaRef | None = None
    system = False
    opens_window = True
    window_ends: datetime | None = None
    text = push.text

    if push.kind == "text":
        pass
    elif push.kind in MEDIA_KINDS:
        fid = str(push.data.get("tovfid") or "")
        extra.update(vfid=str(push.data.get("vfid") or ""), tovfid=fid)
        text = ""  # Weibo fills text with a stock line ("发了一张图片"): the file says it
        if fid:
            media = MediaRef(fid, MEDIA_KINDS[push.kind])
    elif push.kind == "position":
        lat, lon = str(push.data.get("latitude", "")), str(push.data.get("longitude", ""))
        extra.update(latitude=lat, longitude=lon)
        text = f"📍 {lat}, {lon}" + (f"\n{push.text}" if push.text else "")
    elif push.kind == "event":
        system = True
        subtype = str(push.data.get("subtype") or "").lower()
        key = str(push.data.get("key") or "")
        extra.update(event=subtype, key=key)
        text = EVENT_TEXT.get(subtype, f"Weibo event {subtype or 'unknown'}") + (f" ({key})" if key else "")
        opens_window = subtype in WINDOW_EVENTS
        if subtype in CLOSING_EVENTS:
            attrs["weibo_following"] = False
            window_ends = push.created_at  # Weibo: no replies after this
    elif push.kind == "mention":
        extra.update(subtype=str(push.data.get("subtype") or ""), key=str(push.data.get("key") or ""))
        opens_window = False
    else:
        system = True
        text = f"Weibo {push.kind} message (not supported by this inbox)" + (f": {push.text}" if push.text else "")
        opens_window = False

    if opens_window:
        window_ends = push.created_at + timedelta(hours=window_hours)
        if push.kind == "event":
            attrs["weibo_following"] = True
    inbound = Inbound(
        inbox=inbox, external_id=push.external_id, sender=sender, text=text, sent_at=push.created_at,
        system=system, conversation_attrs=attrs, extra=extra, reply_window_ends_at=window_ends,
    )
    return inbound, media


def sender(uid: str, profile: Mapping[str, Any] | None) -> Sender:
    name = str((profile or {}).get("screen_name") or "") or None
    return Sender(external_id=uid, name=name, handle=f"@{name}" if name else None)
