"""X's wire objects (API v2 polling, Account Activity webhook payloads) into `Inbound` records.

Conversations: every DM participant has one (thread key `dm:<user id>`, so a DM
never lands in a public thread's conversation); every public thread has one
(key `tweet:<conversation_id>`, marked public so agents see the answer will be).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tpbridge.adapters.base import Inbound, Sender, ThreadHint

DM_FIELDS = ["id", "text", "event_type", "created_at", "sender_id", "dm_conversation_id", "attachments", "entities"]
TWEET_FIELDS = [
    "id", "text", "author_id", "conversation_id", "created_at", "in_reply_to_user_id",
    "referenced_tweets", "entities", "attachments",
]
USER_FIELDS = ["id", "name", "username"]
# What converting an item X never sends can raise: the item is quarantined, never a 500 or a stuck
# poll (found by tests/security/test_fuzz.py: null events, timestamps out of range).
UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)
MEDIA_FIELDS = ["media_key", "type", "url", "preview_image_url"]
MEDIA_EXPANSION = "attachments.media_keys"

Json = dict[str, Any]
"""One object of X's JSON (a user, a media item)."""


def dm_id(event_id: str) -> str:
    return f"dm:{event_id}"


def tweet_id(tweet: str) -> str:
    return f"tweet:{tweet}"


def expand_urls(text: str, entities: Mapping[str, Any] | None) -> str:
    """Put the links people wrote back in place of X's t.co wrappers."""
    for url in (entities or {}).get("urls") or []:
        short, expanded = url.get("url"), url.get("expanded_url")
        if short and expanded:
            text = text.replace(short, expanded)
    return text


def post_text(text: str, entities: Mapping[str, Any] | None) -> str:
    """A post's text as written: X escapes &, < and > in post text (not in DM text)."""
    return html.unescape(expand_urls(text, entities))


def _sender(user_id: str, user: Mapping[str, Any] | None) -> Sender:
    user = user or {}
    handle = user.get("username") or user.get("screen_name")
    return Sender(external_id=user_id, name=user.get("name"), handle=f"@{handle}" if handle else None)


def _iso(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _dm(inbox: str, event_id: str, sender: Sender, text: str, sent_at: datetime, extra: dict[str, Any]) -> Inbound:
    return Inbound(
        inbox=inbox,
        external_id=dm_id(event_id),
        sender=sender,
        text=text,
        sent_at=sent_at,
        thread=ThreadHint(key=f"dm:{sender.external_id}"),
        public=False,
        extra=extra,
    )


def _mention(
    inbox: str, tid: str, sender: Sender, text: str, sent_at: datetime,
    conversation_id: str | None, parent: str | None, media: list[dict[str, Any]] | None = None,
) -> Inbound:
    handle = (sender.handle or "").lstrip("@") or "i"
    refs = (tweet_id(parent),) if parent else ()
    attrs: dict[str, Any] = {}
    if conversation_id:
        attrs["tweet_conversation_id"] = conversation_id
    return Inbound(
        inbox=inbox,
        external_id=tweet_id(tid),
        sender=sender,
        text=text,
        sent_at=sent_at,
        # Without the conversation id (a webhook whose lookup failed) the parent post still
        # finds the thread, and anything else is a new public conversation.
        thread=ThreadHint(key=tweet_id(conversation_id) if conversation_id else None,
                          references=refs, per_thread=True),
        reply_to=tweet_id(parent) if parent else None,
        public=True,
        conversation_attrs=attrs,
        extra={"tweet_id": tid, "conversation_id": conversation_id, "url": f"https://x.com/{handle}/status/{tid}",
               **({"media": media} if media else {})},
    )


# ---------------------------------------------------------------- API v2 (polling)


def users_by_id(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["id"]: u for u in (body.get("includes") or {}).get("users") or []}


def media_by_key(body: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["media_key"]: m for m in (body.get("includes") or {}).get("media") or []}


def _media_refs(keys: list[str], media: Mapping[str, dict[str, Any]], *, signed: bool) -> list[dict[str, Any]]:
    """What to download for `attachments.media_keys`: a photo, or a video's preview image.

    DM media (ton.twitter.com) is only served to OAuth 1.0a-signed requests; post media is public.
    """
    refs = []
    for key in keys:
        item = media.get(key) or {}
        url = item.get("url") or item.get("preview_image_url")
        if url:
            refs.append({"url": url, "type": item.get("type", "photo"), "signed": signed})
    return refs


def dm_event_from_v2(
    inbox: str, event: Mapping[str, Any], users: Mapping[str, Json], media: Mapping[str, Json] | None = None,
) -> Inbound | None:
    """A `MessageCreate` DM event; None for the other event types (joins, leaves)."""
    if event.get("event_type", "MessageCreate") != "MessageCreate":
        return None
    sender_id = str(event["sender_id"])
    extra: dict[str, Any] = {"dm_conversation_id": event.get("dm_conversation_id")}
    keys = list((event.get("attachments") or {}).get("media_keys") or [])
    if keys:
        extra["media"] = _media_refs(keys, media or {}, signed=True)
    return _dm(
        inbox, str(event["id"]), _sender(sender_id, users.get(sender_id)),
        expand_urls(event.get("text") or "", event.get("entities")), _iso(event.get("created_at")), extra,
    )


def tweet_from_v2(
    inbox: str, tweet: Mapping[str, Any], users: Mapping[str, Json], media: Mapping[str, Json] | None = None,
) -> Inbound:
    """A post that mentions us (GET /2/users/:id/mentions)."""
    author = str(tweet["author_id"])
    parent = next(
        (str(r["id"]) for r in tweet.get("referenced_tweets") or [] if r.get("type") == "replied_to"), None
    )
    keys = list((tweet.get("attachments") or {}).get("media_keys") or [])
    return _mention(
        inbox, str(tweet["id"]), _sender(author, users.get(author)),
        post_text(tweet.get("text") or "", tweet.get("entities")), _iso(tweet.get("created_at")),
        tweet.get("conversation_id"), parent, _media_refs(keys, media or {}, signed=False),
    )


# ---------------------------------------------------------------- Account Activity (webhook)


def dm_event_from_activity(
    inbox: str, event: Mapping[str, Any], users: Mapping[str, Any]
) -> tuple[str, Inbound] | None:
    """(sender id, record) for a `message_create` event of the webhook payload."""
    if event.get("type") != "message_create":
        return None
    create = event["message_create"]
    sender_id = str(create["sender_id"])
    data = create.get("message_data") or {}
    sent_at = datetime.fromtimestamp(int(event["created_timestamp"]) / 1000, UTC)
    extra: dict[str, Any] = {"recipient_id": str((create.get("target") or {}).get("recipient_id", ""))}
    attached = (data.get("attachment") or {}).get("media") or {}
    if attached.get("media_url_https"):
        extra["media"] = [{"url": attached["media_url_https"], "type": attached.get("type", "photo"), "signed": True}]
    text = expand_urls(data.get("text") or "", data.get("entities"))
    return sender_id, _dm(inbox, str(event["id"]), _sender(sender_id, users.get(sender_id)), text, sent_at, extra)


def tweet_from_activity(
    inbox: str, tweet: Mapping[str, Any], conversation_ids: Mapping[str, str]
) -> tuple[str, Inbound]:
    """(author id, record) for a v1.1 post object of `tweet_create_events`."""
    user = tweet.get("user") or {}
    tid = str(tweet["id_str"])
    extended = tweet.get("extended_tweet") or {}
    text = extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or ""
    entities = extended.get("entities") or tweet.get("entities")
    sent_at = (
        datetime.strptime(tweet["created_at"], "%a %b %d %H:%M:%S %z %Y")
        if tweet.get("created_at") else datetime.now(UTC)
    )
    author = str(user.get("id_str") or user.get("id"))
    media_entities = (extended.get("extended_entities") or tweet.get("extended_entities") or {}).get("media") or []
    media = [{"url": m["media_url_https"], "type": m.get("type", "photo"), "signed": False}
             for m in media_entities if m.get("media_url_https")]
    record = _mention(
        inbox, tid, _sender(author, user), post_text(text, entities), sent_at,
        conversation_ids.get(tid), tweet.get("in_reply_to_status_id_str"), media,
    )
    return author, record
