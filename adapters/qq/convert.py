"""QQ callback payloads (`{"id", "op", "d", "s", "t"}`) to `Inbound` records.

Identities: a direct message's sender is their `user_openid` (per bot); a group
@-mention's sender is `group:<group_openid>:<member_openid>`, because member
openids are per group and the answer goes to the group. Messages are keyed by
QQ's message id (QQ may push the same one twice); events by the payload id,
prefixed `event:` so a reply to one passes `event_id` instead of `msg_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tpbridge.adapters import json_input
from tpbridge.adapters.base import Inbound, Sender

MESSAGE_EVENTS = {"C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE"}
USER_EVENTS = {
    "FRIEND_ADD": "Added the bot",
    "FRIEND_DEL": "Removed the bot",
    "C2C_MSG_REJECT": "Turned off the bot's active messages",
    "C2C_MSG_RECEIVE": "Turned on the bot's active messages",
}
GROUP_EVENTS = {
    "GROUP_ADD_ROBOT": "Added the bot to the group",
    "GROUP_DEL_ROBOT": "Removed the bot from the group",
    "GROUP_MSG_REJECT": "Turned off the bot's active messages in the group",
    "GROUP_MSG_RECEIVE": "Turned on the bot's active messages in the group",
}
# Events a passive reply may answer with event_id (bot-docs send.md).
REPLYABLE_EVENTS = {"FRIEND_ADD", "C2C_MSG_RECEIVE", "GROUP_ADD_ROBOT", "GROUP_MSG_RECEIVE"}
KINDS = {"image": "image", "video": "video", "voice": "voice", "audio": "voice"}


class BadPayload(Exception):
    """Not a QQ callback we can read: answer 400."""


@dataclass(frozen=True, slots=True)
class Payload:
    op: int
    event: str
    event_id: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    url: str
    kind: str
    mime: str
    filename: str | None


def parse(raw: bytes) -> Payload:
    try:
        body = json_input.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise BadPayload(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("op"), int) or isinstance(body.get("op"), bool):
        raise BadPayload("payload without an integer op")
    data = body.get("d")
    if not isinstance(data, dict):
        raise BadPayload("payload without an object d")
    return Payload(op=body["op"], event=str(body.get("t") or ""), event_id=str(body.get("id") or ""), data=data)


def recipient(group_openid: str, member_openid: str) -> str:
    return f"group:{group_openid}:{member_openid}"


def target(recipient_id: str) -> tuple[str, str]:
    """The API path prefix for a recipient, and its scene ("c2c" or "group")."""
    if recipient_id.startswith("group:"):
        return f"/v2/groups/{recipient_id.split(':')[1]}", "group"
    return f"/v2/users/{recipient_id}", "c2c"


def _time(value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        raise BadPayload(f"timestamp {str(value)[:40]!r} is neither RFC 3339 nor epoch seconds") from None


def _str(data: Mapping[str, Any], *path: str) -> str:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value:
        raise BadPayload(f"{'.'.join(path)} missing")
    return value


def to_inbound(
    inbox: str, payload: Payload, *, c2c_window: float, group_window: float
) -> tuple[Inbound, list[AttachmentRef]] | None:
    """The record (attachments still to download), or None for an event that is no one's words."""
    d, event = payload.data, payload.event
    extra: dict[str, Any] = {"qq_event": event}
    attrs: dict[str, Any] = {}
    refs: list[AttachmentRef] = []
    public: bool | None = None
    window_ends: datetime | None = None
    if event in MESSAGE_EVENTS:
        external_id = _str(d, "id")
        sent_at = _time(d.get("timestamp"))
        if event == "GROUP_AT_MESSAGE_CREATE":
            group, member = _str(d, "group_openid"), _str(d, "author", "member_openid")
            sender = Sender(external_id=recipient(group, member))
            attrs.update(qq_scene="group", qq_group_openid=group)
            public, window = True, group_window
        else:
            sender = Sender(external_id=_str(d, "author", "user_openid"))
            attrs.update(qq_scene="c2c")
            public, window = False, c2c_window
        window_ends = sent_at + timedelta(minutes=window)
        for att in d.get("attachments") or ():
            if isinstance(att, Mapping) and isinstance(att.get("url"), str) and att["url"]:
                mime = str(att.get("content_type") or "application/octet-stream")
                refs.append(AttachmentRef(att["url"], _kind(mime), mime, str(att.get("filename") or "") or None))
        text = str(d.get("content") or "").strip()  # group mentions start with the removed @bot's space
        system = False
    elif event in USER_EVENTS or event in GROUP_EVENTS:
        if not payload.event_id:
            raise BadPayload("event without an id")
        external_id = f"event:{payload.event_id}"
        sent_at = _time(d.get("timestamp"))
        if event in USER_EVENTS:
            sender = Sender(external_id=_str(d, "openid"))
            text = USER_EVENTS[event]
            attrs["qq_scene"] = "c2c"
        else:
            group = _str(d, "group_openid")
            sender = Sender(external_id=recipient(group, _str(d, "op_member_openid")))
            text = GROUP_EVENTS[event]
            attrs.update(qq_scene="group", qq_group_openid=group)
            public = True
        if event in REPLYABLE_EVENTS:
            window = group_window if event in GROUP_EVENTS else c2c_window
            window_ends = sent_at + timedelta(minutes=window)
        system = True
    else:
        return None
    inbound = Inbound(
        inbox=inbox, external_id=external_id, sender=sender, text=text, sent_at=sent_at, system=system,
        conversation_attrs=attrs, extra=extra, public=public, reply_window_ends_at=window_ends,
    )
    return inbound, refs


def _kind(mime: str) -> str:
    head = mime.split("/")[0]
    return KINDS.get(head) or KINDS.get(mime) or "file"
