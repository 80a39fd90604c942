"""One reply as QQ messages: text (or markdown) parts, then images and videos.

A passive reply carries the user's message id (or the event id) and a `msg_seq`;
QQ refuses a second send with the same pair (40054005), which is what makes a
retry after a lost answer safe: each part's seq is stored before it is sent and
reused on a retry, and 40054005 then means "already delivered". Every part uses
one of the five replies QQ allows per user message. After the passive window
(60 min direct, 5 min group) the reply goes out as an active message when the
bot may send those (`active_messages`), else passively so QQ's refusal is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tpbridge.adapters.base import Outbound, OutboundAttachment, Rejected, Sent, Sink
from tpbridge.adapters.text_split import split_text

from . import convert
from .api import DUPLICATE, QQApi, QQError, classify

SENT_TTL = 3 * 24 * 3600.0
# mime -> rich media file_type (bot-docs rich-media.md: 1 image png/jpg, 2 video mp4, 3 voice silk)
FILE_TYPES = {"image/png": 1, "image/jpeg": 1, "image/jpg": 1, "video/mp4": 2, "audio/silk": 3}


def _file_type(att: OutboundAttachment) -> int:
    file_type = FILE_TYPES.get(att.mime)
    if file_type is None:
        raise Rejected(f"QQ messages can carry PNG/JPEG images and MP4 videos, not {att.mime} ({att.filename})")
    return file_type


def _passive(out: Outbound, *, active_allowed: bool) -> dict[str, str]:
    """msg_id / event_id for a passive reply, or nothing for an active message."""
    ends = out.reply_window_ends_at
    if active_allowed and (not out.reply_to or (ends is not None and ends < datetime.now(UTC))):
        return {}
    if not out.reply_to:
        raise Rejected("QQ bots may only answer a message (active messages are off for this inbox)")
    if out.reply_to.startswith("event:"):
        return {"event_id": out.reply_to.removeprefix("event:")}
    return {"msg_id": out.reply_to}


async def _seq(sink: Sink, out: Outbound, index: int, passive: dict[str, str]) -> int:
    """The part's msg_seq: fixed at first try (stored), the next free one for this msg_id."""
    part_key = f"qq.seq:{out.inbox}:{out.message_id}:{index}"
    if stored := await sink.kv_get(part_key):
        return int(stored)
    counter_key = f"qq.seq:{out.inbox}:{next(iter(passive.values()), 'active')}"
    seq = int(await sink.kv_get(counter_key) or 0) + 1
    await sink.kv_set(counter_key, str(seq), ttl=SENT_TTL)
    await sink.kv_set(part_key, str(seq), ttl=SENT_TTL)
    return seq


async def deliver(api: QQApi, sink: Sink, out: Outbound, *, markdown: bool, active_allowed: bool,
                  limit: int) -> Sent:
    media = [(att, _file_type(att)) for att in out.attachments]  # refuse before sending anything
    path, _scene = convert.target(out.recipient)
    passive = _passive(out, active_allowed=active_allowed)
    texts = split_text(out.text, limit)
    if not texts and not media:
        raise Rejected("empty reply")
    parts: list[str | tuple[OutboundAttachment, int]] = [*texts, *media]
    first_id: str | None = None
    for index, item in enumerate(parts):
        done_key = f"qq.sent:{out.inbox}:{out.message_id}:{index}"
        if done := await sink.kv_get(done_key):
            first_id = first_id or done
            continue
        payload: dict[str, object] = dict(passive)
        if passive:
            payload["msg_seq"] = await _seq(sink, out, index, passive)
        try:
            if isinstance(item, str):
                if markdown:
                    payload.update(msg_type=2, markdown={"content": item})
                else:
                    payload.update(msg_type=0, content=item)
            else:
                att, file_type = item
                data = await att.read()
                file_info = await api.upload(path, file_type, data)
                payload.update(msg_type=7, content=" ", media={"file_info": file_info})  # content must not be empty
            body = await api.post_message(path, payload)
        except QQError as exc:
            if exc.code != DUPLICATE:
                raise classify(exc, api.last_retry_after) from None
            body = {}  # this seq was delivered before the answer got lost
        sent_id = str(body.get("id") or f"qq:{out.message_id}:{index}")
        await sink.kv_set(done_key, sent_id, ttl=SENT_TTL)
        first_id = first_id or sent_id
    return Sent(external_id=first_id or f"qq:{out.message_id}", extra={"parts": len(parts), **passive})
