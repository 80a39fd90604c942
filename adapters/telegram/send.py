"""Outbound: an agent's reply as Telegram messages, and Telegram's refusals as Retry/Rejected."""

from __future__ import annotations

import json

import structlog
from telegram import Bot, InputFile, Message, ReplyParameters
from telegram.error import NetworkError, TelegramError
from tpbridge.adapters.base import (
    Outbound,
    OutboundAttachment,
    Rejected,
    Retry,
    Sent,
    Sink,
)

from .api import ApiError, SendLimits

log = structlog.get_logger(__name__)

TEXT_LIMIT = 4096  # Bot API: 1-4096 characters after entities parsing
PHOTO_LIMIT = 10 * 1024 * 1024  # sendPhoto: at most 10 MB, else send it as a document
PHOTO_MIMES = {"image/jpeg", "image/png", "image/webp"}
_UNREACHABLE_400 = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split into parts of at most `limit` UTF-16 code units (how Telegram counts), in order.

    Prefers to cut after a newline, then after a space, in the last quarter of a part;
    otherwise cuts hard (never inside a surrogate pair, since we cut between code points).
    """
    parts: list[str] = []
    rest = text
    while rest:
        used = 0
        end = 0
        for ch in rest:
            if used + _units(ch) > limit:
                break
            used += _units(ch)
            end += 1
        if end == len(rest):
            parts.append(rest)
            break
        window = rest[:end]
        cut = end
        for sep in ("\n", " "):
            at = window.rfind(sep)
            if at >= end * 3 // 4:
                cut = at + 1
                break
        parts.append(rest[:cut])
        rest = rest[cut:]
    return parts


def reply_parameters(out: Outbound) -> ReplyParameters | None:
    """`reply_to` is "<chat_id>:<message_id>" (see convert.external_id); other shapes are ignored.

    Threaded only when the agent picked that message (`quote`): the core also fills
    `reply_to` with the message being answered, and quoting every reply is noise.
    """
    if not out.reply_to or not getattr(out, "quote", True):
        return None
    chat, _, message = out.reply_to.partition(":")
    message = message.split(":", 1)[0]  # an edit's id still names the original message
    if chat != out.recipient or not message.isdigit():
        return None
    # The user may have deleted the message meanwhile: send anyway rather than fail the reply.
    return ReplyParameters(message_id=int(message), allow_sending_without_reply=True)


def _chat_id(recipient: str) -> int | str:
    try:
        return int(recipient)
    except ValueError:
        return recipient  # "@channelusername"


class ReplyDelivery:
    """Delivers `Outbound`s through one bot within Telegram's rate limits."""

    def __init__(self, bot: Bot, sink: Sink, limits: SendLimits, inbox: str) -> None:
        self._bot = bot
        self._sink = sink
        self._limits = limits
        self._log = log.bind(inbox=inbox)

    async def send(self, out: Outbound) -> Sent:
        chat_id = _chat_id(out.recipient)
        reply = reply_parameters(out)
        steps: list[str | OutboundAttachment] = [*split_text(out.text.strip()), *out.attachments]
        if not steps:
            raise Rejected("nothing to send: the reply has no text and no attachment")
        # A reply split into parts may fail half-way; remember what went out so a retry
        # does not send the first parts twice (kept in the store, so a restart knows too).
        key = f"telegram.progress.{out.inbox}.{out.message_id}"
        done: list[int] = []
        if len(steps) > 1:
            saved = await self._sink.kv_get(key)
            done = json.loads(saved) if saved else []
        for index, step in enumerate(steps):
            if index < len(done):
                continue
            await self._limits.take(out.recipient)
            try:
                message = await self._send_one(chat_id, step, reply if index == 0 else None)
            except TelegramError as exc:
                raise self._translate(exc, out) from exc
            done.append(message.message_id)
            if len(steps) > 1:
                await self._sink.kv_set(key, json.dumps(done), ttl=7 * 86400)
        self._log.debug(
            "telegram.sent", conversation_id=out.conversation_id, parts=len(done), attempt=out.attempt
        )
        return Sent(external_id=f"{out.recipient}:{done[0]}", extra={"message_ids": done})

    async def _send_one(self, chat_id: int | str, step: str | OutboundAttachment,
                        reply: ReplyParameters | None) -> Message:
        if isinstance(step, str):
            return await self._bot.send_message(chat_id, step, reply_parameters=reply)
        data = await step.read()
        # Uploaded as multipart: Telegram must never fetch a URL of ours.
        upload = InputFile(data, filename=step.filename)
        if step.mime in PHOTO_MIMES and len(data) <= PHOTO_LIMIT:
            return await self._bot.send_photo(chat_id, upload, reply_parameters=reply)
        return await self._bot.send_document(chat_id, upload, reply_parameters=reply)

    def _translate(self, exc: TelegramError, out: Outbound) -> Exception:
        log_ = self._log.bind(conversation_id=out.conversation_id, attempt=out.attempt)
        if isinstance(exc, ApiError):
            if exc.status == 429:
                log_.warning("reply.throttled", retry_after=exc.retry_after)
                # The whole bot waits, on every instance (as python-telegram-bot's own rate limiter does):
                # Telegram's answer does not say whether the chat's limit or the bot's was hit.
                return Retry(exc.description, after=exc.retry_after, throttle="" if exc.retry_after else None)
            if exc.status >= 500:
                return Retry(exc.description)
            if (bad := exc.bad_credentials()) is not None:
                return bad  # the outbox marks the inbox unhealthy
            if exc.status == 403:
                log_.info("reply.rejected", reason=exc.description, unreachable=True)
                return Rejected(exc.description, unreachable=True)
            if exc.status == 400:
                unreachable = any(s in exc.description.lower() for s in _UNREACHABLE_400)
                log_.info("reply.rejected", reason=exc.description, unreachable=unreachable)
                return Rejected(exc.description, unreachable=unreachable)
            if exc.retry_after is not None:
                return Retry(exc.description, after=exc.retry_after)
            return Rejected(exc.description)
        if isinstance(exc, NetworkError):  # TimedOut included
            return Retry(f"network error: {exc.message}")
        return Retry(f"Telegram error: {exc.message}")
