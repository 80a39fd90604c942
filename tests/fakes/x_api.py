"""A faithful fake of the X API v2 (and the Account Activity webhook's side), on 127.0.0.1.

It speaks the documented wire format: `data` / `includes` / `meta` bodies, the
`errors` array and RFC 7807 problem bodies, both shapes of 429, and the
`x-rate-limit-limit/remaining/reset` headers on every response. OAuth 1.0a
signatures are verified against the `Host` the client signed for, so a client
that rewrites the origin but breaks the signature is caught. Tests make it fail
on demand (`fail`), exhaust a window (`set_rate_limit`), and watch what it got
(`requests`, `wait_for`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import math
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import oauthlib.common
from aiohttp import web
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from tests.fakes.server import serve, stop_serving, wait_until

UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY_PROBLEM = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
TOO_MANY_ERRORS = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
DM_FORBIDDEN = {
    "detail": "You cannot send messages to this user.",
    "title": "Forbidden",
    "status": 403,
    "type": "about:blank",
}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}


def invalid_request(parameter: str, message: str) -> dict:
    return {
        "errors": [{"parameters": {parameter: []}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def weighted_length(text: str) -> int:
    """twitter-text v3, written independently of the adapter: light ranges weigh 1, the rest 2."""
    light = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
    total = 0
    for word in unicodedata.normalize("NFC", text).split(" "):
        if word.startswith(("http://", "https://")):
            total += 23 + 1
            continue
        total += sum(1 if any(a <= ord(c) <= b for a, b in light) else 2 for c in word) + 1
    return total - 1


def activity_signature(body: bytes, consumer_secret: str) -> str:
    """`x-twitter-webhooks-signature` as X computes it for a webhook POST."""
    digest = hmac.new(consumer_secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


@dataclass
class Recorded:
    method: str
    route: str  # e.g. "GET /2/users/{id}/mentions"
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float
    status: int = 0


@dataclass
class Window:
    limit: int
    remaining: int
    reset: int


@dataclass
class Failure:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeXApi:
    """The fake server; `base_url` is what the adapter's `api_base_url` points at."""

    def __init__(
        self,
        *,
        me_id: str = "1000",
        username: str = "acme_help",
        consumer_key: str = "ck",
        consumer_secret: str = "cs",
        access_token: str = "at",
        access_token_secret: str = "ats",
        bearer_token: str = "bt",
        rate_limit: int = 100_000,  # generous by default; tests narrow a window with set_rate_limit
        window: int = 900,
    ) -> None:
        self.me_id = me_id
        self.keys = (consumer_key, consumer_secret, access_token, access_token_secret)
        self.bearer_token = bearer_token
        self.users: dict[str, dict] = {me_id: {"id": me_id, "name": "ACME Help", "username": username}}
        self.dm_events: list[dict] = []
        self.tweets: dict[str, dict] = {}
        self.media: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.limits: dict[str, Window] = {}
        self.default_limit = rate_limit
        self.window = window
        self.too_many_shape = "problem"  # or "errors": X uses both
        self.failures: dict[str, list[Failure]] = {}
        self.dm_closed: set[str] = set()  # users who do not accept our DMs
        self._next_id = 1_860_000_000_000_000_000
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeXApi:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        app.add_routes([
            web.get("/2/users/me", self._me),
            web.get("/2/dm_events", self._dm_events),
            web.get("/2/users/{id}/mentions", self._mentions),
            web.get("/2/tweets", self._get_tweets),
            web.post("/2/tweets", self._post_tweet),
            web.post("/2/dm_conversations/with/{id}/messages", self._post_dm),
            web.post("/2/media/upload", self._upload),
            web.get("/media/{key}.png", self._media_file),  # pbs.twimg.com: public
            web.get("/1.1/ton/data/dm/{id}/{key}.png", self._media_file),  # ton.twitter.com: OAuth 1.0a
        ])
        self._runner, self.base_url = await serve(app, access_log=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop_serving(self._runner)

    # ------------------------------------------------------------ test controls

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """The `[channels.x.<name>]` values that point an adapter at this fake."""
        ck, cs, at, ats = self.keys
        values: dict[str, Any] = {
            "bearer_token": self.bearer_token, "consumer_key": ck, "consumer_secret": cs,
            "access_token": at, "access_token_secret": ats, "api_base_url": self.base_url,
        }
        return {**values, **overrides}

    def new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def add_user(self, user_id: str, username: str, name: str | None = None) -> dict:
        self.users[user_id] = {"id": user_id, "name": name or username, "username": username}
        return self.users[user_id]

    def add_media(self, data: bytes, mime: str, *, dm: bool) -> str:
        """Media someone attached; DM media is served only to signed requests (ton.twitter.com)."""
        media_id = self.new_id()
        key = f"3_{media_id}"
        path = f"/1.1/ton/data/dm/{media_id}/{key}.png" if dm else f"/media/{key}.png"
        self.media[media_id] = {"media_key": key, "data": data, "mime": mime, "category": None,
                                "url": self.base_url + path, "type": "photo"}
        return key

    def media_object(self, key: str) -> dict:
        item = next(m for m in self.media.values() if m["media_key"] == key)
        return {"media_key": key, "type": item["type"], "url": item.get("url")}

    def add_dm(self, sender_id: str, text: str, *, recipient_id: str | None = None,
               media_keys: tuple[str, ...] = ()) -> dict:
        """A DM between `sender_id` and `recipient_id` (us by default) as GET /2/dm_events shows it."""
        other = recipient_id or self.me_id
        a, b = sorted((sender_id, other), key=int)
        event = {
            "id": self.new_id(),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender_id,
            "dm_conversation_id": f"{a}-{b}",
            "created_at": _now_iso(),
            "participant_ids": [a, b],
        }
        if media_keys:
            event["attachments"] = {"media_keys": list(media_keys)}
        self.dm_events.append(event)
        return event

    def add_tweet(self, author_id: str, text: str, *, in_reply_to: str | None = None,
                  media_keys: tuple[str, ...] = ()) -> dict:
        tid = self.new_id()
        tweet: dict[str, Any] = {
            "id": tid,
            "text": text,
            "author_id": author_id,
            "created_at": _now_iso(),
            "conversation_id": tid,
            "edit_history_tweet_ids": [tid],
        }
        if in_reply_to is not None:
            parent = self.tweets[in_reply_to]
            tweet["conversation_id"] = parent["conversation_id"]
            tweet["in_reply_to_user_id"] = parent["author_id"]
            tweet["referenced_tweets"] = [{"type": "replied_to", "id": in_reply_to}]
        if media_keys:
            tweet["attachments"] = {"media_keys": list(media_keys)}
        self.tweets[tid] = tweet
        return tweet

    def set_rate_limit(self, route: str, *, limit: int, remaining: int, reset: float) -> None:
        self.limits[route] = Window(limit, remaining, math.ceil(reset))

    def fail(self, route: str, status: int, body: Any, *, times: int = 1, headers: dict | None = None) -> None:
        """The next `times` requests to `route` get this answer (rate-limit headers still added)."""
        self.failures.setdefault(route, []).extend(Failure(status, body, headers or {}) for _ in range(times))

    def calls(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        await wait_until(self._changed, predicate, timeout)

    # ------------------------------------------------------------ the wire

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        info = request.match_info.route.resource
        route = f"{request.method} {info.canonical if info else request.path}"
        body: Any = None
        if request.can_read_body and request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = "<invalid json>"
        record = Recorded(request.method, route, request.path, dict(request.query), body,
                          dict(request.headers), time.time())
        self.requests.append(record)
        response = await self._answer(request, route, handler)
        record.status = response.status
        window = self._window(route)
        response.headers["x-rate-limit-limit"] = str(window.limit)
        response.headers["x-rate-limit-remaining"] = str(window.remaining)
        response.headers["x-rate-limit-reset"] = str(window.reset)
        async with self._changed:
            self._changed.notify_all()
        return response

    def _window(self, route: str) -> Window:
        now = time.time()
        window = self.limits.get(route)
        if window is None or now >= window.reset:
            window = self.limits[route] = Window(self.default_limit, self.default_limit, math.ceil(now + self.window))
        return window

    async def _answer(
        self, request: web.Request, route: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.match_info.route.resource:
            return web.json_response({"title": "Not Found Error", "status": 404, "type": "about:blank",
                                      "detail": "Sorry, that page does not exist."}, status=404)
        if route == "GET /media/{key}.png":
            return await handler(request)  # public, no rate-limit window
        user_only = route not in ("GET /2/users/{id}/mentions", "GET /2/tweets")
        if not self._authorized(request, user_only=user_only):
            return web.json_response(UNAUTHORIZED, status=401)
        window = self._window(route)
        if window.remaining <= 0:
            return web.json_response(TOO_MANY_ERRORS if self.too_many_shape == "errors" else TOO_MANY_PROBLEM,
                                     status=429)
        window.remaining -= 1
        queued = self.failures.get(route)
        if queued:
            failure = queued.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        return await handler(request)

    def _authorized(self, request: web.Request, *, user_only: bool) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return not user_only and hmac.compare_digest(auth[7:], self.bearer_token)
        if not auth.startswith("OAuth "):
            return False
        ck, cs, at, ats = self.keys
        params = {k: oauth_utils.unescape(v) for k, v in oauth_utils.parse_authorization_header(auth)}
        if params.get("oauth_consumer_key") != ck or params.get("oauth_token") != at:
            return False
        # The signature covers the URL the client meant: scheme https, the Host it sent.
        scheme = "https" if request.host == "api.twitter.com" else request.scheme  # rebased, or fetched as is
        uri = f"{scheme}://{request.host}{request.rel_url.raw_path}"
        signed = oauthlib.common.Request(uri, request.method, headers={"Authorization": auth})
        signed.params = oauth_signature.collect_parameters(
            uri_query=request.rel_url.raw_query_string, headers={"Authorization": auth},
            exclude_oauth_signature=True,
        )
        signed.signature = params.get("oauth_signature", "")
        return oauth_signature.verify_hmac_sha1(signed, cs, ats)

    # ------------------------------------------------------------ endpoints

    async def _me(self, request: web.Request) -> web.Response:
        return web.json_response({"data": self.users[self.me_id]})

    def _users_include(self, ids: list[str], request: web.Request) -> list[dict]:
        fields = {"id", "name", "username", *_csv(request.query.get("user.fields"))}
        seen: dict[str, dict] = {}
        for uid in ids:
            if uid in self.users and uid not in seen:
                seen[uid] = {k: v for k, v in self.users[uid].items() if k in fields}
        return list(seen.values())

    def _includes(self, items: list[dict], request: web.Request, *, user_key: str) -> dict[str, list]:
        expansions = _csv(request.query.get("expansions"))
        includes: dict[str, list] = {}
        if user_key in expansions:
            includes["users"] = self._users_include([i[user_key] for i in items], request)
        if "attachments.media_keys" in expansions:
            fields = {"media_key", "type", *_csv(request.query.get("media.fields"))}
            keys = [k for i in items for k in (i.get("attachments") or {}).get("media_keys", [])]
            media = [{k: v for k, v in self.media_object(key).items() if k in fields} for key in keys]
            if media:
                includes["media"] = media
        return includes

    async def _media_file(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        item = next((m for m in self.media.values() if m["media_key"] == key and m.get("url")), None)
        if item is None or (("/ton/" in request.path) != ("/ton/" in item["url"])):
            return web.Response(status=404)
        return web.Response(body=item["data"], content_type=item["mime"])

    async def _dm_events(self, request: web.Request) -> web.Response:
        q = request.query
        types = _csv(q.get("event_types")) or {"MessageCreate", "ParticipantsJoin", "ParticipantsLeave"}
        events = [e for e in self.dm_events if self.me_id in e["participant_ids"] and e["event_type"] in types]
        events.sort(key=lambda e: int(e["id"]), reverse=True)
        try:
            size = int(q.get("max_results", "100"))
            offset = int(q["pagination_token"], 16) if "pagination_token" in q else 0
        except ValueError:
            return web.json_response(invalid_request("max_results", "invalid parameter"), status=400)
        if not 1 <= size <= 100:
            return web.json_response(invalid_request("max_results", "must be between 1 and 100"), status=400)
        page = events[offset:offset + size]
        fields = {"id", "event_type", "text", *_csv(q.get("dm_event.fields"))}
        body: dict[str, Any] = {}
        if page:
            body["data"] = [{k: v for k, v in e.items() if k in fields} for e in page]
            includes = self._includes(page, request, user_key="sender_id")
            if includes:
                body["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if offset + size < len(events):
            meta["next_token"] = format(offset + size, "x")
        if offset:
            meta["previous_token"] = format(max(0, offset - size), "x")
        body["meta"] = meta
        return web.json_response(body)

    def _mentions_of(self, user_id: str) -> list[dict]:
        handle = "@" + self.users[user_id]["username"].lower()
        return [
            t for t in self.tweets.values()
            if handle in t["text"].lower() or t.get("in_reply_to_user_id") == user_id
        ]

    async def _mentions(self, request: web.Request) -> web.Response:
        user_id = request.match_info["id"]
        if user_id not in self.users:
            missing = {"value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                       "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                       "type": "https://api.twitter.com/2/problems/resource-not-found"}
            return web.json_response({"errors": [missing]})
        q = request.query
        try:
            size = int(q.get("max_results", "10"))
            offset = int(q["pagination_token"], 16) if "pagination_token" in q else 0
            since = int(q.get("since_id", "0"))
        except ValueError:
            return web.json_response(invalid_request("since_id", "invalid parameter"), status=400)
        if not 5 <= size <= 100:
            return web.json_response(invalid_request("max_results", "must be between 5 and 100"), status=400)
        tweets = sorted((t for t in self._mentions_of(user_id) if int(t["id"]) > since),
                        key=lambda t: int(t["id"]), reverse=True)
        page = tweets[offset:offset + size]
        fields = {"id", "text", "edit_history_tweet_ids", *_csv(q.get("tweet.fields"))}
        body: dict[str, Any] = {}
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            body["data"] = [_public(t, fields) for t in page]
            includes = self._includes(page, request, user_key="author_id")
            if includes:
                body["includes"] = includes
            meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if offset + size < len(tweets):
            meta["next_token"] = format(offset + size, "x")
        body["meta"] = meta
        return web.json_response(body)

    async def _get_tweets(self, request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        fields = {"id", "text", "edit_history_tweet_ids", *_csv(request.query.get("tweet.fields"))}
        found = [_public(self.tweets[i], fields) for i in ids if i in self.tweets]
        body: dict[str, Any] = {}
        if found:
            body["data"] = found
        missing = [i for i in ids if i not in self.tweets]
        if missing:
            body["errors"] = [{
                "value": i, "detail": f"Could not find tweet with ids: [{i}].", "title": "Not Found Error",
                "resource_type": "tweet", "parameter": "ids", "resource_id": i,
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            } for i in missing]
        return web.json_response(body)

    async def _post_tweet(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return web.json_response(invalid_request("body", "invalid JSON"), status=400)
        text = body.get("text") or ""
        media_ids = (body.get("media") or {}).get("media_ids") or []
        if not text and not media_ids:
            return web.json_response(invalid_request("text", "text or media is required"), status=400)
        if weighted_length(text) > 280:
            return web.json_response(invalid_request("text", "Tweet text is too long."), status=400)
        if any(m not in self.media for m in media_ids):
            return web.json_response(invalid_request("media.media_ids", "Your media IDs are invalid."), status=400)
        parent = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if parent is not None and parent not in self.tweets:
            return web.json_response(invalid_request("reply.in_reply_to_tweet_id",
                                                     "The Tweet being replied to is not visible."), status=400)
        if text and any(t["author_id"] == self.me_id and t["text"] == text for t in self.tweets.values()):
            return web.json_response(DUPLICATE, status=403)
        tweet = self.add_tweet(self.me_id, text, in_reply_to=parent)
        if media_ids:
            tweet["attachments"] = {"media_keys": [self.media[m]["media_key"] for m in media_ids]}
        return web.json_response(
            {"data": {"id": tweet["id"], "text": text, "edit_history_tweet_ids": [tweet["id"]]}}, status=201
        )

    async def _post_dm(self, request: web.Request) -> web.Response:
        participant = request.match_info["id"]
        body = await _json(request)
        if not isinstance(body, dict) or not (body.get("text") or body.get("attachments")):
            return web.json_response(invalid_request("text", "text or attachments is required"), status=400)
        if participant in self.dm_closed or participant not in self.users:
            return web.json_response(DM_FORBIDDEN, status=403)
        media_ids = [a.get("media_id") for a in body.get("attachments") or []]
        if len(media_ids) > 1 or any(m not in self.media for m in media_ids):
            return web.json_response(invalid_request("attachments", "one valid media_id at most"), status=400)
        event = self.add_dm(self.me_id, body.get("text") or "", recipient_id=participant)
        if media_ids:
            event["attachments"] = {"media_keys": [self.media[m]["media_key"] for m in media_ids]}
        return web.json_response(
            {"data": {"dm_conversation_id": event["dm_conversation_id"], "dm_event_id": event["id"]}}, status=201
        )

    async def _upload(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await _json(request)
            if not isinstance(body, dict) or "media" not in body:
                return web.json_response(invalid_request("media", "media is required"), status=400)
            try:
                data = base64.b64decode(body["media"], validate=True)
            except (binascii.Error, TypeError):
                return web.json_response(invalid_request("media", "media is not valid base64"), status=400)
            category, mime = body.get("media_category"), body.get("media_type")
        else:
            form = await request.post()
            part = form.get("media")
            if not isinstance(part, web.FileField):
                return web.json_response(invalid_request("media", "media is required"), status=400)
            data, category, mime = part.file.read(), form.get("media_category"), part.content_type
        media_id = self.new_id()
        self.media[media_id] = {"media_key": f"3_{media_id}", "data": data, "category": category, "mime": mime}
        return web.json_response({"data": {
            "id": media_id, "media_key": f"3_{media_id}", "size": len(data), "expires_after_secs": 86400,
            "image": {"image_type": mime, "w": 1, "h": 1},
        }})

    # ------------------------------------------------------------ Account Activity (X -> us)

    def activity_dm(self, sender_id: str, text: str, *, recipient_id: str | None = None,
                    media_key: str | None = None) -> dict:
        """A webhook payload carrying one DM, in the Account Activity (v1.1 object) shape."""
        recipient = recipient_id or self.me_id
        event = self.add_dm(sender_id, text, recipient_id=recipient if sender_id == self.me_id else None,
                            media_keys=(media_key,) if media_key else ())
        users = {u: self._activity_user(u) for u in {sender_id, recipient} if u in self.users}
        message_data: dict[str, Any] = {
            "text": text, "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
        }
        if media_key:
            media = self.media_object(media_key)
            message_data["attachment"] = {"type": "media", "media": {
                "id_str": media_key.split("_", 1)[1], "media_url_https": media["url"], "type": "photo",
            }}
        return {
            "for_user_id": self.me_id,
            "direct_message_events": [{
                "type": "message_create",
                "id": event["id"],
                "created_timestamp": str(int(time.time() * 1000)),
                "message_create": {
                    "target": {"recipient_id": recipient},
                    "sender_id": sender_id,
                    "message_data": message_data,
                },
            }],
            "users": users,
        }

    def activity_tweet(self, author_id: str, text: str, *, in_reply_to: str | None = None,
                       media_key: str | None = None) -> dict:
        """A webhook payload carrying one post (a mention or a reply), v1.1 object shape."""
        tweet = self.add_tweet(author_id, text, in_reply_to=in_reply_to, media_keys=(media_key,) if media_key else ())
        user = self._activity_user(author_id)
        extra: dict[str, Any] = {}
        if media_key:
            media = self.media_object(media_key)
            extra["extended_entities"] = {"media": [{
                "id_str": media_key.split("_", 1)[1], "media_url_https": media["url"], "type": "photo",
            }]}
        return {
            "for_user_id": self.me_id,
            "tweet_create_events": [{
                "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
                "id": int(tweet["id"]),
                "id_str": tweet["id"],
                "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
                "truncated": False,
                "in_reply_to_status_id_str": in_reply_to,
                "in_reply_to_user_id_str": tweet.get("in_reply_to_user_id"),
                "user": user,
                "entities": {"hashtags": [], "urls": [], "user_mentions": []},
                **extra,
            }],
        }

    def _activity_user(self, user_id: str) -> dict:
        user = self.users[user_id]
        return {"id": int(user_id), "id_str": user_id, "name": user["name"], "screen_name": user["username"]}


def _public(tweet: dict, fields: set[str]) -> dict:
    """A post as API v2 shows it: the requested fields, text HTML-escaped (&, <, >) as X does."""
    shown = {k: v for k, v in tweet.items() if k in fields}
    if "text" in shown:
        shown["text"] = shown["text"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return shown


def _csv(value: str | None) -> set[str]:
    return {v for v in (value or "").split(",") if v}


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError:
        return None


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def dumps(payload: dict) -> bytes:
    """The exact bytes to POST (the signature covers them)."""
    return json.dumps(payload, separators=(",", ":")).encode()
