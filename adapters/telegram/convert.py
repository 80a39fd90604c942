"""Telegram updates -> `Inbound` records: one place that knows every message kind.

External ids: a Telegram `message_id` is unique per chat only, so a message is
"<chat_id>:<message_id>"; an edit is "<chat_id>:<message_id>:edit:<edit_date>" with
`edit_of` naming the original, so redelivery of either is stable and the earlier
text is kept.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from telegram import Bot, Chat, Message, Update
from telegram.constants import MessageType
from telegram.error import NetworkError
from tpbridge.adapters.base import Inbound, InboundAttachment, Quarantined, Sender, Sink

from .api import ApiError
from .settings import TelegramSettings


class FileUnavailable(Exception):
    """Telegram will not hand this file over (too big, expired): keep the message, note why."""


Fetch = Callable[[str, int | None], Awaitable[bytes]]
"""Download a file by file_id (size hint for the limit check); raises FileUnavailable."""

UPDATE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "my_chat_member")

# Message fields that describe a message rather than being its content.
_NOT_A_KIND = {
    "business_connection_id",
    "effect_id",
    "sender_boost_count",
    "sender_business_bot",
    "reply_to_story",
    "suggested_post_info",
}


def external_id(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def edit_external_id(chat_id: int, message_id: int, edit_date: datetime | None) -> str:
    stamp = int(edit_date.timestamp()) if edit_date else 0
    return f"{chat_id}:{message_id}:edit:{stamp}"


def _utc(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.now(UTC)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def sender_of(message: Message) -> Sender:
    """The chat is the identity (replies go to the chat); in private chats it is the user."""
    chat = message.chat
    user = message.from_user
    if chat.type == Chat.PRIVATE:
        name = " ".join(p for p in (chat.first_name, chat.last_name) if p) or None
        if user is not None and not name:
            name = user.full_name
        username = chat.username or (user.username if user else None)
        language = user.language_code if user else None
    else:
        name, username, language = chat.title, chat.username, None
    return Sender(
        external_id=str(chat.id),
        name=name,
        handle=f"@{username}" if username else None,
        language=language,
    )


@dataclass(frozen=True, slots=True)
class _Media:
    kind: str  # InboundAttachment.kind
    file_id: str
    size: int | None
    mime: str
    filename: str


def _ext(mime: str, default: str) -> str:
    return mimetypes.guess_extension(mime) or default


def _media_of(message: Message) -> tuple[str, _Media] | None:
    """(message kind, the one file it carries) for the kinds with a file."""
    if message.photo:
        big = max(message.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        name = f"photo_{big.file_unique_id}.jpg"
        return "photo", _Media("image", big.file_id, big.file_size, "image/jpeg", name)
    if message.sticker:
        s = message.sticker
        if s.is_video:
            mime, ext = "video/webm", ".webm"
        elif s.is_animated:
            mime, ext = "application/x-tgsticker", ".tgs"
        else:
            mime, ext = "image/webp", ".webp"
        return "sticker", _Media("sticker", s.file_id, s.file_size, mime, f"sticker_{s.file_unique_id}{ext}")
    if message.animation:  # checked before document: Telegram sends both for a GIF
        a = message.animation
        mime = a.mime_type or "video/mp4"
        name = a.file_name or f"animation_{a.file_unique_id}{_ext(mime, '.mp4')}"
        return "animation", _Media("video", a.file_id, a.file_size, mime, name)
    if message.document:
        d = message.document
        mime = d.mime_type or mimetypes.guess_type(d.file_name or "")[0] or "application/octet-stream"
        name = d.file_name or f"document_{d.file_unique_id}{_ext(mime, '.bin')}"
        return "document", _Media("file", d.file_id, d.file_size, mime, name)
    if message.voice:
        v = message.voice
        mime = v.mime_type or "audio/ogg"
        name = f"voice_{v.file_unique_id}{_ext(mime, '.ogg')}"
        return "voice", _Media("voice", v.file_id, v.file_size, mime, name)
    if message.audio:
        au = message.audio
        mime = au.mime_type or "audio/mpeg"
        name = au.file_name or f"{au.title or 'audio_' + au.file_unique_id}{_ext(mime, '.mp3')}"
        return "audio", _Media("audio", au.file_id, au.file_size, mime, name)
    if message.video:
        vi = message.video
        mime = vi.mime_type or "video/mp4"
        name = vi.file_name or f"video_{vi.file_unique_id}{_ext(mime, '.mp4')}"
        return "video", _Media("video", vi.file_id, vi.file_size, mime, name)
    if message.video_note:
        n = message.video_note
        name = f"video_note_{n.file_unique_id}.mp4"
        return "video_note", _Media("video", n.file_id, n.file_size, "video/mp4", name)
    return None


def _unknown_kind(message: Message) -> str:
    for kind in MessageType:
        if kind.value in _NOT_A_KIND:
            continue
        if getattr(message, kind.value, None):
            return str(kind.value)
    # Fields newer than this PTB version land in api_kwargs.
    return str(next(iter(message.api_kwargs), "unknown"))


def _place_text(message: Message) -> tuple[str, dict[str, Any]] | None:
    if message.venue:
        v = message.venue
        lat, lon = v.location.latitude, v.location.longitude
        text = f"📍 {v.title}, {v.address} ({lat}, {lon})"
        return text, {"venue": {"title": v.title, "address": v.address, "latitude": lat, "longitude": lon}}
    if message.location:
        lat, lon = message.location.latitude, message.location.longitude
        text = f"📍 Location: {lat}, {lon} https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"
        return text, {"location": {"latitude": lat, "longitude": lon}}
    if message.contact:
        c = message.contact
        name = " ".join(p for p in (c.first_name, c.last_name) if p)
        text = f"👤 Contact: {name}, {c.phone_number}"
        card = {"first_name": c.first_name, "last_name": c.last_name, "phone_number": c.phone_number,
                "user_id": c.user_id, "vcard": c.vcard}
        return text, {"contact": {k: v for k, v in card.items() if v is not None}}
    return None


def start_payload(text: str | None) -> str | None:
    """`/start PAYLOAD` (a t.me/<bot>?start=PAYLOAD deep link) -> PAYLOAD."""
    if not text or not text.startswith("/start"):
        return None
    command, _, rest = text.partition(" ")
    if command != "/start" and not command.startswith("/start@"):
        return None
    return rest.strip() or None


async def message_to_inbound(
    message: Message, *, inbox: str, fetch: Fetch, edited: bool = False
) -> Inbound:
    """One message (or an edit of one) as the record the core stores; never None."""
    chat_id = message.chat.id
    own_id = external_id(chat_id, message.message_id)
    extra: dict[str, Any] = {"chat_id": chat_id, "message_id": message.message_id}
    if message.chat.type != Chat.PRIVATE and message.from_user:
        extra["from"] = {"id": message.from_user.id, "name": message.from_user.full_name,
                         "username": message.from_user.username}
    if message.forward_origin is not None:
        extra["forward_origin"] = message.forward_origin.to_dict()
    if message.media_group_id:
        extra["media_group_id"] = message.media_group_id

    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities
    html: str | None = None
    if entities:
        html = message.text_html if message.text else message.caption_html
        extra["entities"] = [e.to_dict() for e in entities]

    attachments: list[InboundAttachment] = []
    system = False
    media = _media_of(message)
    place = _place_text(message)
    if media is not None:
        kind, m = media
        extra["kind"] = kind
        if kind == "sticker" and message.sticker:
            text = text or message.sticker.emoji or ""
            extra["sticker"] = {"emoji": message.sticker.emoji, "set_name": message.sticker.set_name}
        try:
            data = await fetch(m.file_id, m.size)
        except FileUnavailable as exc:
            note = f"[{kind} not downloaded: {exc}]"
            text = f"{text}\n{note}" if text else note
            extra["file_error"] = str(exc)
        else:
            attachments.append(InboundAttachment(kind=m.kind, mime=m.mime, data=data, filename=m.filename))
    elif place is not None:
        text, place_extra = place
        extra.update(place_extra)
        extra["kind"] = next(iter(place_extra))
    elif message.text is not None:
        extra["kind"] = "text"
    else:
        kind = _unknown_kind(message)
        extra["kind"] = kind
        system = True
        text = f"Unsupported Telegram message kind: {kind}"
        html = None

    attrs: dict[str, Any] = {}
    payload = None if edited else start_payload(message.text)
    if payload:
        attrs["start_payload"] = payload

    reply_to = None
    if message.reply_to_message is not None:
        reply_to = external_id(message.reply_to_message.chat.id, message.reply_to_message.message_id)

    return Inbound(
        inbox=inbox,
        external_id=edit_external_id(chat_id, message.message_id, message.edit_date) if edited else own_id,
        sender=sender_of(message),
        text=text,
        sent_at=_utc(message.edit_date if edited else message.date),
        html=html,
        attachments=tuple(attachments),
        reply_to=reply_to,
        edit_of=own_id if edited else None,
        system=system,
        conversation_attrs=attrs,
        extra=extra,
    )


def _allowed(chat: Chat, *, allow_groups: bool, allow_channels: bool) -> bool:
    if chat.type == Chat.PRIVATE:
        return True
    if chat.type == Chat.CHANNEL:
        return allow_channels
    return allow_groups


async def update_to_inbound(
    update: Update, *, inbox: str, fetch: Fetch, allow_groups: bool, allow_channels: bool
) -> Inbound | None:
    """The record for one update, or None when the update is deliberately ignored."""
    message = update.message or update.channel_post
    edited = update.edited_message or update.edited_channel_post
    target = message or edited
    if target is not None:
        if not _allowed(target.chat, allow_groups=allow_groups, allow_channels=allow_channels):
            return None
        return await message_to_inbound(target, inbox=inbox, fetch=fetch, edited=message is None)
    member = update.my_chat_member
    if member is not None and member.chat.type == Chat.PRIVATE:
        # The user blocked (kicked) or restarted the bot: agents should see it in the conversation.
        status = member.new_chat_member.status
        blocked = status in ("kicked", "left")
        text = "The user blocked the bot" if blocked else "The user started the bot again"
        user = member.from_user
        return Inbound(
            inbox=inbox,
            external_id=f"{member.chat.id}:member:{update.update_id}",
            sender=Sender(
                external_id=str(member.chat.id),
                name=user.full_name if user else None,
                handle=f"@{user.username}" if user and user.username else None,
                language=user.language_code if user else None,
            ),
            text=text,
            sent_at=_utc(member.date),
            system=True,
            extra={"chat_id": member.chat.id, "kind": "my_chat_member", "status": status},
        )
    return None


def update_kind(update: Update) -> str:
    """The name of the update's payload field, for logs about ignored updates."""
    data = update.to_dict()
    return next((k for k in data if k != "update_id"), "unknown")


async def download(bot: Any, file_id: str, size: int | None, limit: int) -> bytes:
    """getFile then GET <api_base_url>/file/bot<token>/<file_path>."""
    if size is not None and size > limit:
        raise FileUnavailable(f"file is larger than {limit} bytes")
    try:
        file = await bot.get_file(file_id)
        if file.file_size is not None and file.file_size > limit:
            raise FileUnavailable(f"file is larger than {limit} bytes")
        return bytes(await file.download_as_bytearray())
    except ApiError as exc:
        if exc.status == 400:  # "Bad Request: file is too big", "invalid file_id"
            raise FileUnavailable(exc.description) from exc
        raise


FILE_ATTEMPTS = 3  # transient download failures of one file before the message is stored without it


from .text import text_record  # noqa: E402 - text.py builds on the helpers above


class UpdateReader:
    """One raw update -> its record, for the poller and the webhook alike.

    Unreadable updates are quarantined (kept, with the reason); transient download errors
    raise, so the update stays unconfirmed and comes again.
    """

    def __init__(self, inbox: str, settings: TelegramSettings, log: structlog.stdlib.BoundLogger) -> None:
        self.inbox = inbox
        self.settings = settings
        self.log = log
        self._file_failures: dict[str, int] = {}

    async def read(self, bot: Bot, sink: Sink, data: object, raw: bytes | None = None) -> Inbound | None:
        raw = raw if raw is not None else json.dumps(data, ensure_ascii=False).encode()
        update_id = data.get("update_id") if isinstance(data, dict) else None
        try:
            if not isinstance(data, dict) or not isinstance(update_id, int):
                raise ValueError("not a Telegram Update object (no update_id)")
            plain = text_record(self.inbox, data)
            if plain is not None:  # the common case, without building python-telegram-bot objects
                return plain
            update = Update.de_json(data, bot)
            return await self._convert(bot, update)
        except (NetworkError, ApiError):
            raise  # a download failed for now: the update stays unconfirmed and comes again
        except Exception as exc:
            reason = f"unreadable Telegram update: {type(exc).__name__}: {exc}"
            self.log.warning("update.quarantined", update_id=update_id, reason=reason)
            await sink.quarantine(Quarantined(self.inbox, f"update:{update_id}", reason, raw))
            return None

    async def _convert(self, bot: Bot, update: Update) -> Inbound | None:
        limit = self.settings.max_download_bytes

        async def fetch(file_id: str, size: int | None) -> bytes:
            try:
                data = await download(bot, file_id, size, limit)
            except (NetworkError, ApiError) as exc:
                # Transient: the update is retried. But a file that keeps failing must not
                # hold up every later message of the inbox: after a few tries, note it and go on.
                failures = self._file_failures[file_id] = self._file_failures.get(file_id, 0) + 1
                if failures < FILE_ATTEMPTS:
                    raise
                del self._file_failures[file_id]
                raise FileUnavailable(f"download failed {failures} times: {exc}") from exc
            self._file_failures.pop(file_id, None)
            return data

        record = await update_to_inbound(
            update,
            inbox=self.inbox,
            fetch=fetch,
            allow_groups=self.settings.allow_groups,
            allow_channels=self.settings.allow_channels,
        )
        if record is None:
            self.log.info("update.ignored", update_id=update.update_id, kind=update_kind(update))
        return record
