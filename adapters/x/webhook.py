"""The Account Activity webhook: the CRC challenge and signed event deliveries.

X signs every POST with `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256
of the body, keyed with the consumer secret>` and checks the endpoint with a GET
carrying `crc_token`, expecting the same HMAC of the token back.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from tpbridge.adapters import json_input
from tpbridge.adapters.base import AdapterError, Inbound, Quarantined
from tpbridge.bridge.web.errors import error_response

from .convert import UNREADABLE, dm_event_from_activity, tweet_from_activity
from .media import attach_media

if TYPE_CHECKING:
    from .adapter import XAdapter

CRC_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{1,128}")
LOOKUP_TIMEOUT = 2.0  # X expects a quick answer; the conversation id is a nicety, not a must
MEDIA_DEADLINE = 5.0  # pictures not fetched by then are noted on the message, not waited for


def _hmac(secret: str, data: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


def crc_response_token(consumer_secret: str, crc_token: str) -> str:
    """The `response_token` answering a CRC challenge."""
    return _hmac(consumer_secret, crc_token.encode())


def signature_valid(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """Whether `x-twitter-webhooks-signature` matches the body (constant-time)."""
    return header is not None and hmac.compare_digest(_hmac(consumer_secret, body).encode(),
                                                      header.encode("utf-8", "replace"))


class Webhook:
    """The routes an X inbox mounts at the webhook path the core gives it (/hooks/x/<name>)."""

    def __init__(self, adapter: XAdapter) -> None:
        self.adapter = adapter
        self.path = adapter.ctx.webhook_path

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        # Polling inboxes have no webhook: nothing to forge deliveries to, no CRC to ask.
        if self.adapter.settings.mode != "webhook":
            return []
        return [web.get(self.path, self.crc), web.post(self.path, self.receive)]

    async def crc(self, request: web.Request) -> web.Response:
        if not self.adapter.ready:
            return error_response(503, "not_ready", "the channel is starting")
        token = request.query.get("crc_token")
        if not token:
            return error_response(400, "crc_token_missing", "crc_token is required")
        # The answer is the HMAC a signed delivery carries: answered for any string, it would sign a
        # forged body. X's tokens are short base64; nothing shaped like a JSON body is answered.
        if not CRC_TOKEN.fullmatch(token):
            self.adapter.log.warning("webhook.crc_refused", size=len(token))
            return error_response(400, "bad_crc_token", "crc_token is not shaped like X's")
        return web.json_response(
            {"response_token": crc_response_token(self.adapter.settings.consumer_secret, token)}
        )

    async def receive(self, request: web.Request) -> web.Response:
        """Verify, convert, store; only then answer 200 (X redelivers otherwise)."""
        adapter = self.adapter
        log = adapter.log
        if not adapter.ready:
            return error_response(503, "not_ready", "the channel is starting")
        body = await request.read()
        if not signature_valid(adapter.settings.consumer_secret, body,
                               request.headers.get("x-twitter-webhooks-signature")):
            log.warning("webhook.rejected", reason="bad signature", size=len(body))
            return error_response(403, "bad_signature", "x-twitter-webhooks-signature does not match")
        sink = adapter.ctx.sink
        try:
            payload = json_input.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            await sink.quarantine(Quarantined(adapter.name, _raw_id(body), f"invalid JSON: {exc}", body))
            return error_response(400, "bad_json", "the body is not a JSON object")
        if str(payload.get("for_user_id", adapter.me_id)) != adapter.me_id:
            log.warning("webhook.ignored", reason="for another account", for_user_id=payload.get("for_user_id"))
            return web.json_response({"ok": True})
        try:
            records = await self.convert(payload)
        except UNREADABLE as exc:  # a shape X never sends
            await sink.quarantine(Quarantined(adapter.name, _raw_id(body), f"unreadable event: {exc!r}", body))
            log.warning("webhook.quarantined", reason=repr(exc))
            return web.json_response({"ok": True})
        if records:
            try:
                result = await sink.ingest(records)
            except Exception as exc:  # not stored: X must redeliver, so never answer 200
                log.error("webhook.store_failed", error=repr(exc), received=len(records))
                return error_response(503, "store_unavailable", "could not store the events; retry")
            log.info("webhook.stored", received=len(records),
                     stored=sum(1 for m in result.message_ids if m is not None))
        return web.json_response({"ok": True})

    async def convert(self, payload: dict[str, Any]) -> list[Inbound]:
        """The DMs and posts of one delivery, without our own echoes."""
        adapter = self.adapter
        me = adapter.me_id
        records: list[Inbound] = []
        users = payload.get("users") or {}
        for event in payload.get("direct_message_events") or []:
            converted = dm_event_from_activity(adapter.name, event, users)
            if converted is not None and converted[0] != me:  # sender == for_user_id: our own DM
                records.append(converted[1])
        tweets = [
            t for t in payload.get("tweet_create_events") or []
            if str((t.get("user") or {}).get("id_str")) != me and "retweeted_status" not in t
        ]
        if tweets:
            conversation_ids = await self._conversation_ids([str(t["id_str"]) for t in tweets])
            records.extend(tweet_from_activity(adapter.name, t, conversation_ids)[1] for t in tweets)
        return await attach_media(adapter.require_api(), records, adapter.log, deadline=MEDIA_DEADLINE)

    async def _conversation_ids(self, ids: list[str]) -> dict[str, str]:
        """v1.1 post objects lack `conversation_id`: ask API v2, or do without it."""
        api = self.adapter.require_api()
        try:
            body = await asyncio.wait_for(api.call(
                "GET /2/tweets", api.client.get_tweets, ids, tweet_fields=["conversation_id"],
                user_auth=not self.adapter.settings.bearer_token,
            ), LOOKUP_TIMEOUT)
        except (AdapterError, TimeoutError) as exc:
            self.adapter.log.warning("webhook.lookup_failed", reason=str(exc) or exc.__class__.__name__)
            return {}
        return {str(t["id"]): str(t["conversation_id"]) for t in body.get("data") or [] if "conversation_id" in t}


def _raw_id(body: bytes) -> str:
    return "activity:" + hashlib.sha256(body).hexdigest()[:24]
