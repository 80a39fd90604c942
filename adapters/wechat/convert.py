"""WeChat pushes (parsed XML) to `Inbound` records.

Dedupe keys follow WeChat's retry behaviour: a retried message keeps its MsgId,
but MsgId alone is not unique across users, and events carry no MsgId at all, so
they are keyed by sender, CreateTime and event name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tpbridge.adapters.base import Inbound, Sender
from wechatpy.messages import BaseMessage

MEDIA_KINDS = {"image": "image", "voice": "voice", "video": "video", "shortvideo": "video"}

# User actions that open (or reopen) the 48-hour customer-service window, per WeChat's
# customer-service docs: a message, a subscription, a QR scan, a CLICK-type menu push.
WINDOW_EVENTS = {"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"}


# Pushes that are not a person talking to support: delivery receipts of broadcasts and
# template messages, and the periodic location report (every 5 s while enabled). Answered
# `success` and logged, not stored, or they would open a conversation per follower.
IGNORED_EVENTS = {"templatesendjobfinish", "masssendjobfinish", "location"}


def ignored(fields: Mapping[str, Any]) -> bool:
    return str(fields.get("MsgType", "")).lower() == "event" and str(fields.get("Event", "")).lower() in IGNORED_EVENTS


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A media file to fetch with media/get (valid three days on WeChat's side)."""

    media_id: str
    kind: str


def external_id(fields: Mapping[str, Any]) -> str:
    """FromUserName:MsgId for messages, FromUserName:CreateTime:Event for events."""
    sender = str(fields.get("FromUserName", ""))
    if str(fields.get("MsgType", "")).lower() == "event" or not fields.get("MsgId"):
        return f"{sender}:{fields.get('CreateTime', '')}:{fields.get('Event', fields.get('MsgType', ''))}"
    return f"{sender}:{fields['MsgId']}"


def to_inbound(
    inbox: str, fields: Mapping[str, Any], msg: BaseMessage, *, window_hours: float = 48.0
) -> tuple[Inbound, MediaRef | None]:
    """Build the record (without its attachment) and say which media, if any, to download."""
    msg_type = str(fields.get("MsgType", "")).lower()
    sent_at = datetime.fromtimestamp(int(fields["CreateTime"]), UTC)
    extra: dict[str, Any] = {"msg_type": msg_type}
    attrs: dict[str, Any] = {}
    media: MediaRef | None = None
    system = False
    opens_window = True

    if msg_type == "text":
        text = str(fields.get("Content", ""))
    elif msg_type in MEDIA_KINDS:
        media_id = str(fields.get("MediaId", ""))
        extra.update(media_id=media_id)
        for name, key in (("PicUrl", "pic_url"), ("Format", "format"), ("ThumbMediaId", "thumb_media_id")):
            if fields.get(name):
                extra[key] = str(fields[name])
        text = str(fields.get("Recognition") or "")  # voice: WeChat's speech recognition, if enabled
        if media_id:
            media = MediaRef(media_id, MEDIA_KINDS[msg_type])
    elif msg_type == "location":
        label = str(fields.get("Label") or "")
        lat, lon = str(fields.get("Location_X", "")), str(fields.get("Location_Y", ""))
        extra.update(latitude=lat, longitude=lon, scale=str(fields.get("Scale", "")), label=label)
        text = f"📍 {label} ({lat}, {lon})" if label else f"📍 {lat}, {lon}"
    elif msg_type == "link":
        title, url = str(fields.get("Title") or ""), str(fields.get("Url") or "")
        description = str(fields.get("Description") or "")
        extra.update(title=title, url=url, description=description)
        text = "\n".join(part for part in (title, description, url) if part)
    elif msg_type == "event":
        system = True
        text, opens_window = _event(fields, extra, attrs)
    else:
        system = True
        text = f"WeChat {msg_type or 'unknown'} message (not supported by this inbox)"

    window_ends: datetime | None = None
    if opens_window:
        window_ends = sent_at + timedelta(hours=window_hours)
    elif attrs.get("wechat_subscribed") is False:  # unsubscribed: WeChat refuses every message from now on
        window_ends = sent_at
    inbound = Inbound(
        inbox=inbox,
        external_id=external_id(fields),
        sender=Sender(external_id=msg.source),
        text=text,
        sent_at=sent_at,
        system=system,
        conversation_attrs=attrs,
        extra=extra,
        reply_window_ends_at=window_ends,
    )
    return inbound, media


def _event(fields: Mapping[str, Any], extra: dict[str, Any], attrs: dict[str, Any]) -> tuple[str, bool]:
    """The note an event leaves in the conversation, and whether it opens the reply window."""
    event = str(fields.get("Event", ""))
    key = str(fields.get("EventKey") or "")
    extra.update(event=event, event_key=key)
    if fields.get("Ticket"):
        extra["ticket"] = str(fields["Ticket"])
    lowered = event.lower()
    if lowered == "subscribe":
        attrs["wechat_subscribed"] = True
        if key.startswith("qrscene_"):
            scene = key.removeprefix("qrscene_")
            attrs["wechat_subscribe_scene"] = f"qrcode:{scene}"
            return f"Subscribed by scanning QR code (scene {scene})", True
        attrs["wechat_subscribe_scene"] = "other"
        return "Subscribed to the official account", True
    if lowered == "unsubscribe":
        # An unsubscribed user cannot be messaged any more (errcode 43004): the window is closed.
        attrs["wechat_subscribed"] = False
        return "Unsubscribed from the official account", False
    if lowered == "scan":
        return f"Scanned QR code (scene {key})", True
    if lowered == "click":
        return f"Clicked menu item {key}", True
    if lowered == "view":
        return f"Opened menu link {key}", False  # a VIEW menu does not open the reply window
    return f"WeChat event {event}" + (f" ({key})" if key else ""), lowered in WINDOW_EVENTS
