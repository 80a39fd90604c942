"""The callback URL: WeChat's URL verification (GET) and pushed messages (POST).

Verify, parse, store, answer `success` — never waiting for anyone: WeChat retries three
times if we take longer than 5 s, so the only slow step allowed is the media download,
capped by `media_timeout` (media.py fetches what was too slow later).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from aiohttp import web
from tpbridge.adapters.base import Sink
from tpbridge.adapters.capped_read import read_capped
from wechatpy.crypto import WeChatCrypto

from . import convert, wire
from .media import MediaFetcher
from .settings import WechatSettings


class _TooLarge(Exception):
    pass


class Webhook:
    """Receives at the path the core gave this inbox; answers 503 until the adapter is entered."""

    def __init__(self, inbox: str, path: str, settings: WechatSettings, sink: Sink, media: MediaFetcher,
                 log: structlog.stdlib.BoundLogger) -> None:
        self.inbox = inbox
        self.path = path
        self.settings = settings
        self.sink = sink
        self.media = media
        self.log = log
        self.ready = False
        self.crypto = (
            WeChatCrypto(settings.token, settings.encoding_aes_key, settings.app_id)
            if settings.encoding_aes_key else None
        )

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.get(self.path, self.verify), web.post(self.path, self.receive)]

    async def verify(self, request: web.Request) -> web.StreamResponse:
        """URL verification: echo `echostr` back when the signature is WeChat's."""
        if not self.ready:
            return web.Response(status=503, text="starting")
        q = request.query
        try:
            wire.check_signature(self.settings.token, q.get("signature", ""), q.get("timestamp", ""),
                                 q.get("nonce", ""), max_age=self.settings.signature_max_age)
        except wire.Forbidden as exc:
            self.log.warning("webhook.forbidden", reason=str(exc), method="GET")
            return web.Response(status=403, text="forbidden")
        self.log.info("webhook.verified")
        return web.Response(text=q.get("echostr", ""), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        if not self.ready:
            return web.Response(status=503, text="starting")
        try:
            fields = await self._read(request)
        except wire.Forbidden as exc:
            self.log.warning("webhook.forbidden", reason=str(exc), method="POST")
            return web.Response(status=403, text="forbidden")
        except wire.BadRequest as exc:
            self.log.warning("webhook.rejected", reason=str(exc))
            return web.Response(status=400, text="bad request")
        except _TooLarge:
            self.log.warning("webhook.rejected", reason="body too large", limit=self.settings.max_body_bytes)
            return web.Response(status=413, text="too large")
        try:
            msg = wire.message(fields)
        except wire.BadRequest as exc:
            self.log.warning("webhook.rejected", reason=str(exc))
            return web.Response(status=400, text="bad request")
        if convert.ignored(fields):
            self.log.info("webhook.ignored", wechat_event=fields.get("Event"))
            return web.Response(text="success", content_type="text/plain")
        try:
            inbound, media = convert.to_inbound(self.inbox, fields, msg,
                                                window_hours=self.settings.reply_window_hours)
        except (ValueError, OverflowError, OSError) as exc:  # e.g. a CreateTime out of range
            self.log.warning("webhook.rejected", reason=f"{type(exc).__name__}: {exc}")
            return web.Response(status=400, text="bad request")
        mlog = self.log.bind(external_id=inbound.external_id, msg_type=fields.get("MsgType"))
        if media is not None and not await self.sink.known([inbound.external_id]):
            inbound = await self.media.attach(inbound, media, mlog)
        try:
            result = await self.sink.ingest([inbound])
        except Exception as exc:
            # Not stored, so not acknowledged: WeChat retries (the same external id) shortly.
            mlog.error("message.store_failed", error=f"{type(exc).__name__}: {exc}")
            return web.Response(status=503, text="try again")
        duplicate = bool(result.message_ids) and result.message_ids[0] is None
        mlog.debug("webhook.stored", duplicate=duplicate)  # the core logs message.received
        return web.Response(text="success", content_type="text/plain")

    async def _read(self, request: web.Request) -> dict[str, Any]:
        q = request.query
        max_age = self.settings.signature_max_age
        signature, timestamp, nonce = q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", "")
        aes = q.get("encrypt_type", "raw").lower() == "aes"
        if self.crypto is None:
            if aes:
                raise wire.BadRequest("safe-mode message but no encoding_aes_key is configured")
            wire.check_signature(self.settings.token, signature, timestamp, nonce, max_age=max_age)
            return wire.parse_xml(await self._body(request))
        if not aes:
            # The operator chose safe mode; a plaintext push is a downgrade we refuse.
            raise wire.Forbidden("plaintext push while encoding_aes_key is configured (safe mode)")
        # WeChat signs the query in safe mode too (`signature` over token, timestamp and nonce): checked
        # before a byte of the body is read, so a stranger's envelope is never parsed. `msg_signature`
        # covers the ciphertext, so it is checked after the envelope (size-capped, defused, depth-limited).
        wire.check_signature(self.settings.token, signature, timestamp, nonce, max_age=max_age)
        envelope = wire.parse_xml(await self._body(request))
        plain = wire.decrypt(self.crypto, envelope, q.get("msg_signature", ""), timestamp, nonce,
                             max_age=max_age)
        return wire.parse_xml(plain.encode())

    async def _body(self, request: web.Request) -> bytes:
        body = await read_capped(request, self.settings.max_body_bytes, chunk_size=16 * 1024)
        if body is None:
            raise _TooLarge
        return body
