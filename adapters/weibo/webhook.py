"""`/hooks/weibo/<name>`: the URL check (GET) and the pushes (POST).

Both are signed alike: sha1 over the sorted app_secret, timestamp and nonce, in the
query string. Weibo's documented example timestamp is in milliseconds
(1397022061823), so the freshness check accepts seconds or milliseconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import time
from typing import Any

import structlog
from aiohttp import web
from tpbridge.adapters.base import Inbound, InboundAttachment, Sink
from tpbridge.adapters.capped_read import read_capped
from tpbridge.bridge.web.errors import error_response

from . import convert
from .api import WeiboApi, WeiboError
from .settings import Settings

log = structlog.get_logger(__name__)
PROFILE_TTL = 24 * 3600.0


class Forbidden(Exception):
    pass


def sign(app_secret: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted((app_secret, timestamp, nonce))).encode()).hexdigest()


def check_signature(app_secret: str, query: Any, *, max_age: float) -> None:
    signature, timestamp, nonce = query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")
    if not (signature and timestamp and nonce):
        raise Forbidden("signature, timestamp or nonce missing")
    expected = sign(app_secret, timestamp, nonce).encode()
    if not hmac.compare_digest(expected, signature.lower().encode("utf-8", "replace")):
        raise Forbidden("wrong signature")
    if max_age > 0:
        try:
            stamp = int(timestamp)
        except ValueError:
            raise Forbidden("timestamp is not a number") from None
        seconds = stamp / 1000 if stamp > 10**11 else stamp
        if abs(time.time() - seconds) > max_age:
            raise Forbidden("stale signature")


class Webhook:
    def __init__(self, inbox: str, settings: Settings, api: WeiboApi, sink: Sink) -> None:
        self.inbox = inbox
        self.settings = settings
        self.api = api
        self.sink = sink
        self.log = log.bind(inbox=inbox)
        self.ready = False
        self.uid: str | None = settings.uid

    async def verify(self, request: web.Request) -> web.StreamResponse:
        """The URL check when developer mode is switched on: echo `echostr` if signed by Weibo."""
        try:
            check_signature(self.settings.app_secret, request.query, max_age=self.settings.signature_max_age)
        except Forbidden as exc:
            self.log.warning("webhook.forbidden", reason=str(exc), method="GET")
            return error_response(403, "forbidden", "bad signature")
        self.log.info("webhook.verified")
        return web.Response(text=request.query.get("echostr", ""), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """Verify, parse, store, then answer with an empty body ("no passive reply", no retry)."""
        if not self.ready:
            return error_response(503, "starting", "the inbox is starting")
        try:
            check_signature(self.settings.app_secret, request.query, max_age=self.settings.signature_max_age)
        except Forbidden as exc:
            self.log.warning("webhook.forbidden", reason=str(exc), method="POST")
            return error_response(403, "forbidden", "bad signature")
        raw = await read_capped(request, self.settings.max_body_bytes, chunk_size=16 * 1024)
        if raw is None:
            return error_response(413, "too_large", "body too large")
        try:
            push = convert.parse(raw)
        except convert.BadPush as exc:
            self.log.warning("webhook.rejected", reason=str(exc))
            return error_response(400, "bad_push", str(exc))
        if self.uid and push.receiver_id != self.uid:
            self.log.warning("webhook.rejected", reason="push for another account", receiver_id=push.receiver_id)
            return error_response(403, "forbidden", "push for another account")
        mlog = self.log.bind(external_id=push.external_id, msg_type=push.kind)
        known = await self.sink.known([push.external_id])
        if known:
            mlog.debug("webhook.duplicate")  # a retry of a stored push: acknowledge again
            return web.Response(text="", content_type="text/plain")
        deadline = asyncio.get_running_loop().time() + self.settings.media_timeout  # shared by both look-ups
        profile = await self._profile(push.sender_id, mlog)
        inbound, media = convert.to_inbound(self.inbox, push, convert.sender(push.sender_id, profile),
                                            window_hours=self.settings.reply_window_hours)
        if media is not None:
            inbound = await self._attach(inbound, media, deadline, mlog)
        try:
            await self.sink.ingest([inbound])
        except Exception as exc:
            # Not stored, so not acknowledged: Weibo retries the same body.
            mlog.error("message.store_failed", error=f"{type(exc).__name__}: {exc}")
            return error_response(503, "store_failed", "not stored, send again")
        mlog.debug("webhook.stored")
        return web.Response(text="", content_type="text/plain")

    async def _profile(self, uid: str, mlog: Any) -> dict[str, Any] | None:
        """The sender's screen name, cached in the store; never worth missing Weibo's 5 s for."""
        if not self.settings.fetch_profiles:
            return None
        key = f"weibo.profile:{uid}"
        cached = await self.sink.kv_get(key)
        if cached is not None:
            return {"screen_name": cached} if cached else None
        try:
            async with asyncio.timeout(self.settings.media_timeout / 2):
                profile = await self.api.user(uid)
        except Exception as exc:  # best effort: the uid is the identity, the name only a label
            mlog.info("weibo.profile_failed", reason=str(exc) or type(exc).__name__)
            return None
        await self.sink.kv_set(key, str(profile.get("screen_name") or ""), ttl=PROFILE_TTL)
        return profile

    async def _attach(self, inbound: Inbound, ref: convert.MediaRef, deadline: float, mlog: Any) -> Inbound:
        try:
            async with asyncio.timeout_at(deadline):
                got = await self.api.download(ref.fid, max_bytes=self.settings.media_max_bytes)
        except Exception as exc:  # best effort: the message itself must land
            reason = "timeout" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            if isinstance(exc, WeiboError):
                reason = str(exc)
            mlog.warning("media.download_failed", reason=reason)
            note = f"[{ref.kind} not downloaded: {reason}; Weibo fid {ref.fid}]"
            return dataclasses.replace(inbound, text=note, extra={**inbound.extra, "media_error": reason})
        ext = got.mime.split("/")[-1]
        att = InboundAttachment(kind=ref.kind, mime=got.mime, data=got.data, filename=f"{ref.fid}.{ext}")
        return dataclasses.replace(inbound, attachments=(att,))
