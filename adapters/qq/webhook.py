"""`/hooks/qq/<name>`: QQ's HTTP callbacks (op 0 dispatches, op 13 URL validation).

Every dispatch is signed with ed25519 over `X-Signature-Timestamp + body`. The op 13
check is documented without signature headers, and answering it means signing
`event_ts + plain_token` with the bot's key: unguarded, that is a signing oracle
(send `plain_token` = a forged dispatch body, get a valid signature for it). So a
signed op 13 is answered as is, and an unsigned one only when `plain_token` looks
like QQ's (short, alphanumeric) and `event_ts` is a number.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from typing import Any

import structlog
from aiohttp import web
from tpbridge.adapters.base import Inbound, InboundAttachment, Sink
from tpbridge.adapters.capped_read import read_capped
from tpbridge.bridge.web.errors import error_response

from . import convert, sign
from .api import QQApi
from .settings import Settings

log = structlog.get_logger(__name__)
PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ACK = {"op": 12, "d": 0}


class Webhook:
    def __init__(self, inbox: str, settings: Settings, api: QQApi, sink: Sink) -> None:
        self.inbox = inbox
        self.settings = settings
        self.api = api
        self.sink = sink
        self.key = sign.private_key(settings.app_secret)
        self.log = log.bind(inbox=inbox)
        self.ready = False

    async def receive(self, request: web.Request) -> web.StreamResponse:
        if not self.ready:
            return error_response(503, "starting", "the inbox is starting")
        appid = request.headers.get("X-Bot-Appid")
        if appid is not None and appid != self.settings.app_id:
            self.log.warning("webhook.forbidden", reason="callback for another bot")
            return error_response(403, "forbidden", "callback for another bot")
        raw = await read_capped(request, self.settings.max_body_bytes, chunk_size=16 * 1024)  # signed bytes
        if raw is None:
            return error_response(413, "too_large", "body too large")
        signed, reason = self._signed(request, raw)
        try:
            payload = convert.parse(raw)
        except convert.BadPayload as exc:
            if not signed:
                return self._forbidden(reason)
            self.log.warning("webhook.rejected", reason=str(exc))
            return error_response(400, "bad_payload", str(exc))
        if payload.op == 13:
            return self._validate(payload, signed, reason)
        if not signed:
            return self._forbidden(reason)
        if payload.op != 0:
            self.log.warning("webhook.rejected", reason=f"unexpected op {payload.op}")
            return error_response(400, "bad_payload", f"unexpected op {payload.op}")
        return await self._dispatch(payload)

    def _signed(self, request: web.Request, raw: bytes) -> tuple[bool, str]:
        signature = request.headers.get("X-Signature-Ed25519", "")
        timestamp = request.headers.get("X-Signature-Timestamp", "")
        if not signature or not timestamp:
            return False, "signature headers missing"
        if not sign.verify(self.key, signature, timestamp.encode() + raw):
            return False, "wrong signature"
        if self.settings.signature_max_age > 0:
            try:
                age = abs(time.time() - int(timestamp))
            except ValueError:
                return False, "timestamp is not a number"
            if age > self.settings.signature_max_age:
                return False, "stale signature"
        return True, ""

    def _forbidden(self, reason: str) -> web.Response:
        self.log.warning("webhook.forbidden", reason=reason)
        return error_response(403, "forbidden", "bad signature")

    def _validate(self, payload: convert.Payload, signed: bool, reason: str) -> web.Response:
        plain, event_ts = payload.data.get("plain_token"), payload.data.get("event_ts")
        if not isinstance(plain, str) or not isinstance(event_ts, str) or not event_ts.isdigit():
            return error_response(400, "bad_payload", "op 13 needs plain_token and a numeric event_ts")
        if not signed and not PLAIN_TOKEN.match(plain):
            return self._forbidden(f"unsigned op 13 with an unusual plain_token ({reason})")
        self.log.info("webhook.verified", signed=signed)
        signature = sign.sign(self.key, (event_ts + plain).encode())
        return web.json_response({"plain_token": plain, "signature": signature})

    async def _dispatch(self, payload: convert.Payload) -> web.StreamResponse:
        try:
            built = convert.to_inbound(self.inbox, payload, c2c_window=self.settings.c2c_reply_window_minutes,
                                       group_window=self.settings.group_reply_window_minutes)
        except convert.BadPayload as exc:
            self.log.warning("webhook.rejected", reason=str(exc), qq_event=payload.event)
            return error_response(400, "bad_payload", str(exc))
        if built is None:
            self.log.info("webhook.ignored", qq_event=payload.event)
            return web.json_response(ACK)
        inbound, refs = built
        mlog = self.log.bind(external_id=inbound.external_id, qq_event=payload.event)
        if refs and not await self.sink.known([inbound.external_id]):
            inbound = await self._attach(inbound, refs, mlog)
        try:
            await self.sink.ingest([inbound])
        except Exception as exc:
            mlog.error("message.store_failed", error=f"{type(exc).__name__}: {exc}")
            return error_response(503, "store_failed", "not stored, send again")
        mlog.debug("webhook.stored")
        return web.json_response(ACK)

    async def _attach(self, inbound: Inbound, refs: list[convert.AttachmentRef], mlog: Any) -> Inbound:
        """Download what fits in `media_timeout` (QQ waits 3 s); note the rest with its URL."""
        got: list[InboundAttachment] = []
        notes: list[str] = []
        try:
            async with asyncio.timeout(self.settings.media_timeout):
                for ref in refs:
                    try:
                        media = await self.api.download(ref.url, max_bytes=self.settings.media_max_bytes)
                    except Exception as exc:  # best effort: the message itself must land
                        notes.append(f"[{ref.kind} not downloaded: {exc}]")
                        mlog.warning("media.download_failed", reason=str(exc) or type(exc).__name__)
                        continue
                    mime = ref.mime if "/" in ref.mime else media.mime
                    got.append(InboundAttachment(kind=ref.kind, mime=mime, data=media.data, filename=ref.filename))
        except TimeoutError:
            notes.append(f"[{len(refs) - len(got) - len(notes)} attachment(s) not downloaded: timeout]")
            mlog.warning("media.download_failed", reason="timeout")
        text = "\n".join(part for part in (inbound.text, *notes) if part)
        extra = {**inbound.extra, "attachment_urls": [r.url for r in refs]} if notes else inbound.extra
        return dataclasses.replace(inbound, text=text, attachments=tuple(got), extra=extra)
