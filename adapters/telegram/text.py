"""Private text messages read straight from the update's JSON.

Most of what a support bot receives is a text message in a private chat. Building
python-telegram-bot's objects for one (`Update.de_json`) and its HTML (`text_html`) cost more
than everything else the daemon does with it (bench/telegram_webhook.py), so this module reads
exactly that shape from the dict and returns the `Inbound` that `convert.update_to_inbound`
would build; anything else (media, edits, groups, replies, forwards, overlapping or unusual
entities, a field it does not know) returns None and takes the full path.
tests/adapters/test_telegram_text.py checks that the two agree on every update both accept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from tpbridge.adapters.base import Inbound, Sender

from .convert import external_id, start_payload

_UPDATE_KEYS = frozenset({"update_id", "message"})
_MESSAGE_KEYS = frozenset({"message_id", "from", "chat", "date", "text", "entities"})
_CHAT_KEYS = frozenset({"id", "type", "first_name", "last_name", "username"})
_USER_KEYS = frozenset({"id", "is_bot", "first_name", "last_name", "username", "language_code", "is_premium"})
_ENTITY_KEYS = frozenset({"type", "offset", "length"})
# Entity types python-telegram-bot renders as a plain tag pair (text_html, urled=False) ...
_TAGS = {"bold": ("<b>", "</b>"), "italic": ("<i>", "</i>"), "underline": ("<u>", "</u>"),
         "strikethrough": ("<s>", "</s>"), "code": ("<code>", "</code>"), "pre": ("<pre>", "</pre>"),
         "spoiler": ('<span class="tg-spoiler">', "</span>"), "blockquote": ("<blockquote>", "</blockquote>")}
# ... and as the escaped text alone.
_PLAIN = frozenset({"mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number"})


def _str_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _html(text: str, entities: list[dict[str, Any]]) -> str | None:
    """text_html for entities that do not overlap; None for anything else (the full path renders it)."""
    units = text.encode("utf-16-le")
    out: list[str] = []
    last = 0
    for entity in sorted(entities, key=lambda e: e["offset"]):
        kind, offset, length = entity["type"], entity["offset"], entity["length"]
        if offset < last or length <= 0 or (kind not in _TAGS and kind not in _PLAIN):
            return None
        part = escape(units[offset * 2:(offset + length) * 2].decode("utf-16-le"))
        out.append(escape(units[last * 2:offset * 2].decode("utf-16-le")))
        if kind in _TAGS:
            start, end = _TAGS[kind]
            out.append(f"{start}{part}{end}")
        else:
            out.append(part)
        last = offset + length
    out.append(escape(units[last * 2:].decode("utf-16-le")))
    return "".join(out)


def text_record(inbox: str, data: dict[str, Any]) -> Inbound | None:
    """The record for a private chat's plain text message, or None: then use the full path."""
    try:
        message = data.get("message")
        if data.keys() - _UPDATE_KEYS or not isinstance(message, dict) or message.keys() - _MESSAGE_KEYS:
            return None
        chat, user, text = message.get("chat"), message.get("from"), message.get("text")
        message_id, date = message.get("message_id"), message.get("date")
        if not (isinstance(chat, dict) and chat.get("type") == "private" and not chat.keys() - _CHAT_KEYS
                and isinstance(chat.get("id"), int) and isinstance(message_id, int) and isinstance(date, int)
                and isinstance(text, str) and all(_str_or_none(chat.get(k))
                                                  for k in ("first_name", "last_name", "username"))):
            return None
        if user is not None and not (isinstance(user, dict) and not user.keys() - _USER_KEYS
                                     and isinstance(user.get("id"), int) and isinstance(user.get("first_name"), str)
                                     and all(_str_or_none(user.get(k))
                                             for k in ("last_name", "username", "language_code"))):
            return None
        extra: dict[str, Any] = {"chat_id": chat["id"], "message_id": message_id}
        html = None
        entities = message.get("entities")
        if entities:
            if not (isinstance(entities, list) and all(
                    isinstance(e, dict) and not e.keys() - _ENTITY_KEYS and isinstance(e.get("type"), str)
                    and isinstance(e.get("offset"), int) and isinstance(e.get("length"), int) for e in entities)):
                return None
            html = _html(text, entities)
            if html is None:
                return None
            extra["entities"] = [{"type": e["type"], "offset": e["offset"], "length": e["length"]} for e in entities]
        extra["kind"] = "text"
    except (UnicodeDecodeError, KeyError, TypeError):
        return None
    name = " ".join(p for p in (chat.get("first_name"), chat.get("last_name")) if p) or None
    if user is not None and not name:
        name = " ".join(p for p in (user["first_name"], user.get("last_name")) if p)
    username = chat.get("username") or (user.get("username") if user else None)
    payload = start_payload(text)
    return Inbound(
        inbox=inbox,
        external_id=external_id(chat["id"], message_id),
        sender=Sender(external_id=str(chat["id"]), name=name, handle=f"@{username}" if username else None,
                      language=user.get("language_code") if user else None),
        text=text,
        sent_at=datetime.fromtimestamp(date, UTC),
        html=html,
        conversation_attrs={"start_payload": payload} if payload else {},
        extra=extra,
    )
