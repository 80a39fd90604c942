"""One reply as customer-service messages: text parts, then media.

Each part costs one of the user's five messages per 48-hour window, so parts
already delivered are remembered in the store and skipped when the outbox
retries the reply after a transient failure.
"""

from __future__ import annotations

from typing import Any

from tpbridge.adapters.base import Outbound, OutboundAttachment, Rejected, Sent, Sink
from tpbridge.adapters.text_split import split_text, utf8_bytes

from .api import WechatApi, WechatError, classify

TEXT_LIMIT = 2048  # bytes of UTF-8 per customer-service text message
# kind -> (media/upload type, max bytes, mime types WeChat accepts for it)
MEDIA_RULES = {
    "image": ("image", 10 * 1024 * 1024, {"image/jpeg", "image/png", "image/gif", "image/bmp"}),
    "voice": ("voice", 2 * 1024 * 1024, {"audio/amr", "audio/mpeg", "audio/mp3"}),
    "audio": ("voice", 2 * 1024 * 1024, {"audio/amr", "audio/mpeg", "audio/mp3"}),
}
SENT_TTL = 3 * 24 * 3600.0


def _media_rule(att: OutboundAttachment) -> tuple[str, int]:
    rule = MEDIA_RULES.get(att.kind) or (MEDIA_RULES["image"] if att.mime.startswith("image/") else None)
    if rule is None or att.mime not in rule[2]:
        raise Rejected(f"WeChat customer-service messages cannot carry {att.mime} ({att.filename})")
    if att.size > rule[1]:
        raise Rejected(f"{att.filename} is larger than WeChat's {rule[1] // (1024 * 1024)} MB limit")
    return rule[0], rule[1]


async def deliver(api: WechatApi, sink: Sink, out: Outbound) -> Sent:
    """Send every part not yet sent; raise Retry / Rejected / BadCredentials per WeChat's errcode."""
    media = [(att, _media_rule(att)[0]) for att in out.attachments]  # refuse before sending anything
    texts: list[str] = []
    if out.text.strip() or not out.attachments:
        texts = split_text(out.text, TEXT_LIMIT, fits=utf8_bytes) or [""]
    parts: list[str | tuple[OutboundAttachment, str]] = [*texts, *media]  # a text, or a file and its WeChat type
    for index, item in enumerate(parts):
        done_key = f"wechat.sent:{out.inbox}:{out.message_id}:{index}"
        if await sink.kv_get(done_key):
            continue
        payload: dict[str, Any]
        try:
            if isinstance(item, str):
                payload = {"touser": out.recipient, "msgtype": "text", "text": {"content": item}}
            else:
                att, wechat_type = item
                data = await att.read()
                media_id = await api.upload(wechat_type, att.filename, att.mime, data)
                payload = {
                    "touser": out.recipient, "msgtype": wechat_type, wechat_type: {"media_id": media_id},
                }
            await api.send_message(payload)
        except WechatError as exc:
            raise classify(exc) from None
        await sink.kv_set(done_key, "1", ttl=SENT_TTL)
    # custom/send returns no message id: ours is stable across retries and unique per inbox.
    return Sent(external_id=f"cs:{out.message_id}", extra={"parts": len(parts)})
