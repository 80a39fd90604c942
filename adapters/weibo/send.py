"""One reply as Weibo text messages through messages/reply.json.

The reply API carries text, articles and positions only: a reply with a file is
refused before anything is sent. Long text is split; parts already delivered are
remembered in the store and skipped when the outbox retries after a failure.
"""

from __future__ import annotations

from tpbridge.adapters.base import Outbound, Rejected, Sent, Sink
from tpbridge.adapters.text_split import split_text

from .api import WeiboApi, WeiboError, classify

SENT_TTL = 3 * 24 * 3600.0


async def deliver(api: WeiboApi, sink: Sink, out: Outbound, *, limit: int, save_sender_box: bool,
                  rate_limit_delay: float) -> Sent:
    if out.attachments:
        names = ", ".join(a.filename for a in out.attachments)
        raise Rejected(f"Weibo's reply API sends text only; remove the attachment ({names}) and send again")
    if not out.text.strip():
        raise Rejected("empty reply")
    first_id: str | None = None
    parts = split_text(out.text, limit)  # not empty: the text has something besides white space
    for index, part in enumerate(parts):
        done_key = f"weibo.sent:{out.inbox}:{out.message_id}:{index}"
        done = await sink.kv_get(done_key)
        if done:
            first_id = first_id or done
            continue
        try:
            body = await api.reply(out.recipient, "text", {"text": part}, save_sender_box=save_sender_box)
        except WeiboError as exc:
            raise classify(exc, rate_limit_delay=rate_limit_delay) from None
        sent_id = str(body.get("idstr") or body.get("id") or f"reply:{out.message_id}:{index}")
        await sink.kv_set(done_key, sent_id, ttl=SENT_TTL)
        first_id = first_id or sent_id
    return Sent(external_id=first_id or f"reply:{out.message_id}", extra={"parts": len(parts)})
