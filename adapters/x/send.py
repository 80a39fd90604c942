"""Replies: a DM to the participant, or a public reply thread under the user's post.

A reply that needs several requests (a thread, a DM per extra image) remembers
which parts went out (in the store's kv), so a retry after a 429 in the middle
continues where it stopped instead of posting the first parts twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tpbridge.adapters.base import Outbound, OutboundAttachment, Rejected, Retry, Sent

from .convert import dm_id, tweet_id
from .text import split_thread

if TYPE_CHECKING:
    from .adapter import XAdapter

POST_TWEET = "POST /2/tweets"
POST_DM = "POST /2/dm_conversations/with/{id}/messages"
DM_MAX_CHARS = 10_000
MAX_TWEET_MEDIA = 4  # images per post
PROGRESS_TTL = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class Part:
    text: str | None
    media: tuple[OutboundAttachment, ...] = ()


def _category(att: OutboundAttachment, prefix: str) -> str:
    if att.mime == "image/gif":
        return f"{prefix}_gif"
    if att.mime.startswith("video/"):
        return f"{prefix}_video"
    if att.mime.startswith("image/"):
        return f"{prefix}_image"
    raise Rejected(f"X cannot carry a {att.mime} attachment ({att.filename})")


PostPart = Callable[["Part", str | None], Awaitable[str]]  # (part, id it answers) -> id of the new post/DM


def _media_groups(media: tuple[OutboundAttachment, ...]) -> list[tuple[OutboundAttachment, ...]]:
    """What X lets one post carry: up to 4 images, or a single GIF or video."""
    groups: list[tuple[OutboundAttachment, ...]] = []
    images: list[OutboundAttachment] = []
    for att in media:
        if _category(att, "tweet") == "tweet_image":
            images.append(att)
            if len(images) == MAX_TWEET_MEDIA:
                groups.append(tuple(images))
                images = []
        else:
            groups.append((att,))
    if images:
        groups.append(tuple(images))
    return groups


def _chunks(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] if text else []


def reply_target(out: Outbound) -> str | None:
    """The post to answer: the user's latest post, else the newest post of the thread."""
    candidates = [out.reply_to, *reversed(out.thread_refs)]
    for ref in candidates:
        if ref and ref.startswith("tweet:"):
            return ref.removeprefix("tweet:")
    conversation = out.conversation_attrs.get("tweet_conversation_id")
    return str(conversation) if conversation else None


class Replier:
    """The send path of an X inbox."""

    def __init__(self, adapter: XAdapter) -> None:
        self.adapter = adapter

    async def send(self, out: Outbound) -> Sent:
        log = self.adapter.log.bind(conversation_id=out.conversation_id, message_id=out.message_id)
        public = out.public
        sent = await (self._public(out) if public else self._dm(out))
        log.info("reply.sent", external_id=sent.external_id, public=public, attempt=out.attempt,
                 parts=len(sent.extra.get("ids", ())))
        return sent

    async def _dm(self, out: Outbound) -> Sent:
        """One DM with the text and the first attachment; one more DM per further attachment."""
        for att in out.attachments:
            _category(att, "dm")
        texts = _chunks(out.text.strip(), DM_MAX_CHARS)
        parts = [Part(t) for t in texts] or [Part(None)]
        if out.attachments:
            parts[0] = Part(parts[0].text, out.attachments[:1])
            parts.extend(Part(None, (att,)) for att in out.attachments[1:])
        if parts == [Part(None)]:
            raise Rejected("empty reply")
        client = self.adapter.require_api().client

        async def post(part: Part, _previous: str | None) -> str:
            media = await self._upload(part.media, "dm")
            body = await self._call(POST_DM, client.create_direct_message, participant_id=out.recipient,
                                    text=part.text, media_id=media[0] if media else None)
            return str(body["data"]["dm_event_id"])

        ids = await self._deliver(out, parts, post, first_previous=None)
        return Sent(external_id=dm_id(ids[0]), extra={"ids": [dm_id(i) for i in ids]})

    async def _public(self, out: Outbound) -> Sent:
        """A reply thread: each part answers the previous one; images go with the first part."""
        target = reply_target(out)
        if target is None:
            raise Rejected("no post to reply to in this conversation")
        texts = split_thread(out.text)
        groups = _media_groups(out.attachments)
        if not texts and not groups:
            raise Rejected("empty reply")
        # Media rides on the first parts; more media than parts makes media-only posts at the end.
        parts = [Part(texts[i] if i < len(texts) else None, groups[i] if i < len(groups) else ())
                 for i in range(max(len(texts), len(groups)))]
        client = self.adapter.require_api().client

        async def post(part: Part, previous: str | None) -> str:
            media_ids = await self._upload(part.media, "tweet")
            body = await self._call(POST_TWEET, client.create_tweet, text=part.text,
                                    in_reply_to_tweet_id=previous, media_ids=media_ids or None)
            return str(body["data"]["id"])

        ids = await self._deliver(out, parts, post, first_previous=target)
        return Sent(external_id=tweet_id(ids[0]), extra={"ids": [tweet_id(i) for i in ids]})

    async def _deliver(
        self, out: Outbound, parts: list[Part], post: PostPart, *, first_previous: str | None
    ) -> list[str]:
        """Post the parts in order, resuming after the ones a previous attempt already posted."""
        sink = self.adapter.ctx.sink
        key = f"x:progress:{out.message_id}"  # the core's kv is per inbox already
        raw = await sink.kv_get(key)
        done: list[str] = json.loads(raw) if raw else []
        for part in parts[len(done):]:
            previous = done[-1] if done else first_previous
            done.append(await post(part, previous))
            await sink.kv_set(key, json.dumps(done), ttl=PROGRESS_TTL)
        return done

    async def _upload(self, media: tuple[OutboundAttachment, ...], prefix: str) -> list[str]:
        api = self.adapter.require_api()
        ids: list[str] = []
        for att in media:
            data = await att.read()
            ids.append(await api.upload_media(data, att.mime, _category(att, prefix)))
        return ids

    async def _call(self, key: str, fn: Callable[..., Awaitable[Any]], /, **kwargs: Any) -> dict[str, Any]:
        api = self.adapter.require_api()
        await self.adapter.ctx.sink.send_slot(key)  # an exhausted window another instance met holds here too
        wait = api.limits.exhausted_for(key)
        if wait > 0:  # X would answer 429: let the outbox worker come back at the reset (every instance)
            raise Retry("rate limit window exhausted", after=wait, throttle=key)
        return await api.call(key, fn, **kwargs)
