"""The WeChat Official Account adapter: webhook in, customer-service messages out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import structlog
from aiohttp import web
from tpbridge.adapters.base import (
    AdapterContext,
    BadCredentials,
    ChannelState,
    Outbound,
    Retry,
    Sent,
    Sink,
)
from wechatpy.crypto import WeChatCrypto

from . import convert, wire
from .api import WechatApi
from .media import MediaFetcher
from .send import deliver
from .settings import WechatSettings

log = structlog.get_logger(__name__)


class WechatAdapter:
    """One Official Account: `/hooks/wechat/<name>` receives, message/custom/send replies."""

    kind: ClassVar[str] = "wechat"
    Settings: ClassVar[type[WechatSettings]] = WechatSettings

    def __init__(self, name: str, settings: WechatSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.sink: Sink = ctx.sink
        self.log = log.bind(inbox=name)
        self.api = WechatApi(
            base_url=settings.api_base_url, app_id=settings.app_id, app_secret=settings.app_secret,
            sink=ctx.sink, timeout=settings.http_timeout, refresh_margin=settings.token_refresh_margin,
        )
        self.crypto = (
            WeChatCrypto(settings.token, settings.encoding_aes_key, settings.app_id)
            if settings.encoding_aes_key else None
        )
        self.media = MediaFetcher(self.api, inline_timeout=settings.media_timeout,
                                  later_timeout=settings.http_timeout, max_bytes=settings.media_max_bytes)
        self._entered = False
        self._unhealthy = False

    @property
    def path(self) -> str:
        return f"/hooks/wechat/{self.name.split('.', 1)[-1]}"

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.api.open()
        try:
            await self.api.token()  # verifies appid/secret (or reuses the store's token)
        except BadCredentials as exc:
            self.sink.report(ChannelState.BAD_CREDENTIALS, reason=str(exc))
            await self.api.close()
            raise
        except Retry as exc:
            # Receiving needs no token: keep the webhook up, replies will retry.
            self.log.warning("wechat.api_unreachable", reason=exc.reason)
        self._entered = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._entered = False
        await self.api.close()

    async def run(self, sink: Sink) -> None:
        """Nothing to poll (WeChat pushes to the webhook): fetch the media that was too slow."""
        sink.report(ChannelState.CONNECTED)
        await self.media.run(sink)

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        return [web.get(self.path, self.verify), web.post(self.path, self.receive)]

    # ------------------------------------------------------------ webhook

    async def verify(self, request: web.Request) -> web.StreamResponse:
        """URL verification: echo `echostr` back when the signature is WeChat's."""
        if not self._entered:
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
        """Verify, parse, store, answer `success` — never waiting for anyone.

        WeChat retries three times if we take longer than 5 s: the only slow step
        allowed is the media download, capped by `media_timeout`.
        """
        if not self._entered:
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
            inbound, media = convert.to_inbound(self.name, fields, msg,
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
        envelope = wire.parse_xml(await self._body(request))
        plain = wire.decrypt(self.crypto, envelope, q.get("msg_signature", ""), timestamp, nonce,
                             max_age=max_age)
        return wire.parse_xml(plain.encode())

    async def _body(self, request: web.Request) -> bytes:
        limit = self.settings.max_body_bytes
        if (request.content_length or 0) > limit:
            raise _TooLarge
        body = bytearray()
        async for chunk in request.content.iter_chunked(16 * 1024):
            body += chunk
            if len(body) > limit:
                raise _TooLarge
        return bytes(body)

    # ------------------------------------------------------------ replies

    async def send(self, out: Outbound) -> Sent:
        """Text (split at WeChat's 2048-byte limit), then images/voice via media/upload.

        The outbox logs reply.sent / reply.retry / reply.failed; only the health change is ours.
        """
        try:
            sent = await deliver(self.api, self.sink, out)
        except BadCredentials as exc:
            self._unhealthy = True
            self.sink.report(ChannelState.BAD_CREDENTIALS, reason=str(exc))
            raise
        if self._unhealthy:  # the operator fixed the app (secret, IP whitelist): healthy again
            self._unhealthy = False
            self.sink.report(ChannelState.CONNECTED)
        return sent


class _TooLarge(Exception):
    pass
