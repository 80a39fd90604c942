"""The web chat channel: a customer page at /chat and a `<script>` snippet for the company's site.

Visitor API (JSON; the visitor token goes in `Authorization: Bearer`, or `?token=` for EventSource):
- `POST /chat/api/visitor` `{"name"?, "email"?}` -> `{"token", "visitor_id"}`: a signed token (HMAC),
  not a guessable id, so the conversation survives reloads and nobody else can read it.
- `GET /chat/api/messages` -> `{"items": [...]}`: the visitor's conversation (no private notes).
- `POST /chat/api/messages` `{"text", "client_id"?}` or multipart (`text`, `client_id`, `file`) -> 201
  `{"id", "duplicate"}`, answered only after the message is committed; the same `client_id` again is
  stored once (a retry after a lost answer).
- `GET /chat/api/events?token=` -> Server-Sent Events `message` with agent replies as they are delivered.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import structlog
from aiohttp import web
from pydantic import Field
from tpbridge.adapters.base import (
    AdapterContext,
    ChannelSettings,
    Inbound,
    InboundAttachment,
    Outbound,
    Secret,
    Sender,
    Sent,
    Sink,
)

log = structlog.get_logger(__name__)
STATIC = Path(__file__).parent / "static"
HEARTBEAT = 15.0
VERIFIED_TOKENS = 10_000  # visitor tokens remembered as checked; forgotten all at once when full


class WebchatSettings(ChannelSettings):
    path: str = "/chat"
    title: str = "Support"
    visitor_secret: Secret | None = None  # signs visitor tokens; generated and kept in the store if unset
    max_text_bytes: int = Field(64 * 1024, gt=0)
    max_attachment_bytes: int = Field(25 * 1024 * 1024, gt=0)


@runtime_checkable
class HasHistory(Protocol):
    async def history(self, sender_external_id: str, limit: int = 200) -> Sequence[Any]: ...


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _language(request: web.Request) -> str | None:
    header = request.headers.get("Accept-Language", "")
    first = header.split(",")[0].split(";")[0].strip().lower()
    return first.split("-")[0] or None


class WebchatAdapter:
    kind: ClassVar[str] = "webchat"
    Settings: ClassVar[type[ChannelSettings]] = WebchatSettings

    def __init__(self, name: str, settings: WebchatSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.sink = ctx.sink
        self._secret: bytes | None = None
        self._verified: dict[str, str] = {}  # token -> visitor id: an HMAC per message is the hot path's cost
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._log = log.bind(inbox=name)
        # The page and the snippet never change while running: read them once, not per request on the loop.
        self._page = (STATIC / "chat.html").read_text(encoding="utf-8").replace(
            "{{BASE}}", settings.path.rstrip("/")).replace("{{TITLE}}", settings.title.replace("<", "&lt;"))
        self._widget = (STATIC / "widget.js").read_text(encoding="utf-8")

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> Self:
        secret = self.settings.visitor_secret or await self.sink.kv_get("visitor_secret")
        if not secret:
            secret = secrets.token_hex(32)
            await self.sink.kv_set("visitor_secret", secret)
        self._secret = secret.encode()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def run(self, sink: Sink) -> None:
        await asyncio.Event().wait()  # nothing to poll: visitors come to us over HTTP

    async def send(self, out: Outbound) -> Sent:
        """Delivered = available to the visitor: pushed to open pages, in the history for later ones."""
        payload = {
            "id": out.message_id, "direction": "out", "text": out.text,
            "author": {"kind": "bot" if out.auto else "agent"},
            "attachments": [{"filename": a.filename, "mime": a.mime, "size": a.size} for a in out.attachments],
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        for queue in self._listeners.get(out.recipient, ()):
            if not queue.full():  # a stuck page reloads its history instead
                queue.put_nowait(payload)
        return Sent(external_id=f"web-out:{out.message_id}")

    # ------------------------------------------------------------ tokens
    def _sign(self, visitor_id: str) -> str:
        assert self._secret is not None
        mac = hmac.new(self._secret, visitor_id.encode(), hashlib.sha256).digest()
        return f"v1.{visitor_id}.{base64.urlsafe_b64encode(mac[:24]).decode().rstrip('=')}"

    def _visitor(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.query.get("token", "")
        if (known := self._verified.get(token)) is not None:
            return known
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "v1" or self._secret is None:
            return None
        if not hmac.compare_digest(self._sign(parts[1]), token):
            return None
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = parts[1]
        return parts[1]

    # ------------------------------------------------------------ routes
    def routes(self) -> Sequence[web.AbstractRouteDef]:
        p = self.settings.path.rstrip("/")
        return [
            web.get(p, self.page),
            web.get(p + "/widget.js", self.widget),
            web.get(p + "/static/{file}", self.static),
            web.post(p + "/api/visitor", self.new_visitor),
            web.get(p + "/api/messages", self.history),
            web.post(p + "/api/messages", self.post_message),
            web.get(p + "/api/events", self.events),
        ]

    def _ready(self) -> web.Response | None:
        return None if self._secret is not None else _error(503, "starting", "the web chat is starting, retry")

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'",
            "X-Content-Type-Options": "nosniff",
        })

    async def widget(self, request: web.Request) -> web.Response:
        return web.Response(text=self._widget, content_type="application/javascript")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        if name not in ("chat.js", "chat.css"):
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name)

    async def new_visitor(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        visitor_id = secrets.token_urlsafe(16)
        return web.json_response({"token": self._sign(visitor_id), "visitor_id": visitor_id}, status=201)

    async def history(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        visitor = self._visitor(request)
        if visitor is None:
            return _error(401, "unauthorized", "a valid visitor token is required")
        items: list[dict[str, Any]] = []
        if isinstance(self.sink, HasHistory):
            for msg in await self.sink.history(visitor):
                if msg.direction.value == "out" and msg.delivery is not None and msg.delivery.value != "sent":
                    continue  # not delivered yet: it arrives over the stream
                items.append({
                    "id": msg.id, "direction": msg.direction.value, "text": msg.text,
                    "author": {"kind": msg.author.kind.value},
                    "attachments": [{"filename": a.filename, "mime": a.mime, "size": a.size} for a in msg.attachments],
                    "created_at": msg.created_at.isoformat().replace("+00:00", "Z"),
                })
        return web.json_response({"items": items})

    async def _read_message(
        self, request: web.Request
    ) -> tuple[dict[str, Any], list[InboundAttachment]] | web.Response:
        s = self.settings
        if request.content_type == "application/json":
            raw = await request.read()
            if len(raw) > s.max_text_bytes + 4096:
                return _error(413, "too_large", f"text over {s.max_text_bytes} bytes")
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return _error(400, "bad_json", "the body is not valid JSON")
            if not isinstance(body, dict):
                return _error(400, "bad_json", "the body must be a JSON object")
            return body, []
        if request.content_type == "multipart/form-data":
            body, atts = {}, []
            async for part in await request.multipart():
                if part.filename:
                    data = bytearray()
                    while chunk := await part.read_chunk():
                        data.extend(chunk)
                        if len(data) > s.max_attachment_bytes:
                            return _error(413, "too_large", f"attachment over {s.max_attachment_bytes} bytes")
                    mime = part.headers.get("Content-Type", "application/octet-stream")
                    atts.append(InboundAttachment("image" if mime.startswith("image/") else "file", mime, bytes(data),
                                                  part.filename))
                elif part.name in ("text", "client_id", "name", "email"):
                    body[part.name] = (await part.read(decode=True)).decode("utf-8", "replace")
            return body, atts
        return _error(415, "unsupported_media_type", "send application/json or multipart/form-data")

    async def post_message(self, request: web.Request) -> web.Response:
        if (busy := self._ready()) is not None:
            return busy
        visitor = self._visitor(request)
        if visitor is None:
            return _error(401, "unauthorized", "a valid visitor token is required")
        parsed = await self._read_message(request)
        if isinstance(parsed, web.Response):
            return parsed
        body, atts = parsed
        text = body.get("text", "")
        if not isinstance(text, str):
            return _error(400, "bad_request", "text must be a string")
        if len(text.encode()) > self.settings.max_text_bytes:
            return _error(413, "too_large", f"text over {self.settings.max_text_bytes} bytes")
        if not text.strip() and not atts:
            return _error(422, "invalid", "a message needs text or a file")
        client_id = body.get("client_id") or uuid.uuid4().hex
        if not isinstance(client_id, str) or len(client_id) > 64:
            return _error(400, "bad_request", "client_id must be a string of at most 64 characters")
        name, email = body.get("name"), body.get("email")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            return _error(400, "bad_request", "name must be a string of at most 200 characters")
        if email is not None and (not isinstance(email, str) or len(email) > 320 or "@" not in email):
            return _error(400, "bad_request", "email must be an email address")
        rec = Inbound(
            inbox=self.name, external_id=f"{visitor}:{client_id}",
            sender=Sender(visitor, name=name or None, handle=email or None, language=_language(request)),
            text=text, sent_at=datetime.now(UTC), attachments=tuple(atts),
            extra={"visitor_email": email} if email else {},
        )
        # Stored (committed) before we answer: a 2xx means the message is safe.
        result = await self.sink.ingest([rec])
        message_id = result.message_ids[0]
        # Written out rather than json_response: this answer is most of what a busy chat sends.
        body = b'{"id":%s,"client_id":%s,"duplicate":%s}' % (
            b"null" if message_id is None else str(message_id).encode(), json.dumps(client_id).encode(),
            b"true" if message_id is None else b"false")
        return web.Response(body=body, status=201 if message_id is not None else 200, content_type="application/json")

    async def events(self, request: web.Request) -> web.StreamResponse:
        if (busy := self._ready()) is not None:
            return busy
        visitor = self._visitor(request)
        if visitor is None:
            return _error(401, "unauthorized", "a valid visitor token is required")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._listeners.setdefault(visitor, set()).add(queue)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            await resp.write(b": connected\n\n")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                await resp.write(f"event: message\ndata: {json.dumps(item, ensure_ascii=False)}\n\n".encode())
        except ConnectionResetError:
            pass
        finally:
            listeners = self._listeners.get(visitor)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    self._listeners.pop(visitor, None)
        return resp


__all__ = ["WebchatAdapter", "WebchatSettings"]
