"""Private text messages read straight from the update's JSON.

Most of what a support bot receives is a text message in a private chat. Building
python-telegram-bot's objects for one (`Update.de_json`) and its HTML (`text_html`) cost more
than everything else the daemon does with it (bench/telegram_webhook.py), so this module reads
exactly that shape from the dict and returns the `Inbound` that `convert.update_to_inbound`
would build, its HTML already in sanitised form; anything else (media, edits, groups, replies,
forwards, overlapping or unusual entities, a field it does not know) returns None: the full path.
tests/adapters/test_telegram_text.py checks that the two agree on every update both accept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tpbridge.adapters.base import Inbound, SanitisedHtml, Sender

from .convert import external_id, start_payload

_UPDATE_KEYS = frozenset({"update_id", "message"})
_MESSAGE_KEYS = frozenset({"message_id", "from", "chat", "date", "text", "entities"})
_CHAT_KEYS = frozenset({"id", "type", "first_name", "last_name", "username"})
_USER_KEYS = frozenset({"id", "is_bot", "first_name", "last_name", "username", "language_code", "is_premium"})
_ENTITY_KEYS = frozenset({"type", "offset", "length"})
# The HTML is written straight in the form the core's sanitiser would give python-telegram-bot's text_html
# (urled=False), so it is stored without a sanitiser pass (adapters.base.SanitisedHtml): its serialiser
# escapes &, <, > and U+00A0 in text and leaves quotes; it keeps these tags as they are but the spoiler's
# class. A plain tag pair per entity type ...
_TAGS = {"bold": ("<b>", "</b>"), "italic": ("<i>", "</i>"), "underline": ("<u>", "</u>"),
         "strikethrough": ("<s>", "</s>"), "code": ("<code>", "</code>"), "pre": ("<pre>", "</pre>"),
         "spoiler": ("<span>", "</span>"), "blockquote": ("<blockquote>", "</blockquote>")}
# ... or the escaped text alone.
_PLAIN = frozenset({"mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number"})


def _serialised(text: str) -> str:
    """Text as the sanitiser writes it (chained replace: str.translate with a dict cost 5x more)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\xa0", "&nbsp;")

# What the HTML parser itself rewrites (CR to LF, NUL dropped): such text takes the full path.
_REWRITTEN = ("\r", "\x00")


def _str_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def _html(text: str, entities: list[dict[str, Any]]) -> SanitisedHtml | None:
    """The sanitised text_html for entities that do not overlap; None for anything else (the full path)."""
    if any(c in text for c in _REWRITTEN):  # substring search (frozenset.isdisjoint(str) cost 12 us at 600 chars)
        return None
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) == 2 * len(text):  # no character past the BMP: offsets (UTF-16 units) index the str
        def cut(start: int, end: int | None) -> str:
            return text[start:end]
    else:
        def cut(start: int, end: int | None) -> str:
            return units[start * 2:None if end is None else end * 2].decode("utf-16-le")
    out: list[str] = []
    last = 0
    for entity in sorted(entities, key=lambda e: e["offset"]):
        kind, offset, length = entity["type"], entity["offset"], entity["length"]
        if offset < last or length <= 0 or (kind not in _TAGS and kind not in _PLAIN):
            return None
        part = _serialised(cut(offset, offset + length))
        out.append(_serialised(cut(last, offset)))
        if kind in _TAGS:
            if kind == "pre" and part.startswith("\n"):
                return None  # the parser drops a newline that opens a <pre>
            start, end = _TAGS[kind]
            out.append(f"{start}{part}{end}")
        else:
            out.append(part)
        last = offset + length
    out.append(_serialised(cut(last, None)))
    return SanitisedHtml("".join(out))


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
