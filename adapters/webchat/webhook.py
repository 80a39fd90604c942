"""The visitor API and pages under the chat's path (`/chat` unless configured): the web chat's receiver.

Visitor API (JSON; the visitor token goes in `Authorization: Bearer`, or `?token=` for EventSource):
- `POST /chat/api/visitor` `{"name"?, "email"?}` -> `{"token", "visitor_id"}`.
- `GET /chat/api/messages` -> `{"items": [...]}`: the visitor's conversation (no private notes).
- `POST /chat/api/messages` `{"text", "client_id"?}` or multipart (`text`, `client_id`, `file`) -> 201
  `{"id", "duplicate"}`, answered only after the message is committed; the same `client_id` again is
  stored once (a retry after a lost answer).
- `GET /chat/api/events?token=` -> Server-Sent Events `message` with agent replies as they are delivered.
- `POST /chat/api/visitor` `{"identifier", "identifier_hash", "name"?, "email"?, "tier"?}`: a user the
  company's app vouches for (identity.py); a wrong hash is 401. Its token expires (`expires_in` seconds,
  `verified_token_hours`); an anonymous visitor's does not.
- `POST /chat/api/callback` `{"number", "preferred_at"?, "note"?, "language"?}` -> 201: a callback request,
  queued in the phone inbox by the core (bridge/phone.py), which answers in the chat when to expect the call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from tpbridge.adapters.base import Sink
from tpbridge.adapters.uploads import discard_spooled
from tpbridge.bridge.web.errors import error_response

from . import identity
from .api import OpenPages, VisitorTokens
from .callback import callback_inbound
from .convert import Invalid, language, read_posted, to_inbound, verified_profile
from .flood import Flood
from .send import history_items
from .settings import WebchatSettings

log = structlog.get_logger(__name__)
STATIC = Path(__file__).parent / "static"
STATIC_FILES = ("chat.js", "chat.css")
HEARTBEAT = 15.0


class VisitorRoutes:
    """The handlers behind the chat's path; what they store goes through the sink."""

    def __init__(self, inbox: str, settings: WebchatSettings, sink: Sink, tokens: VisitorTokens,
                 pages: OpenPages, spool: Path | None = None) -> None:
        self.inbox = inbox
        self.spool = spool  # where uploads are written as they arrive (under the data folder)
        self.flood = Flood(settings.flood)
        self.settings = settings
        self.sink = sink
        self.tokens = tokens
        self.pages = pages
        # The page and the snippet never change while running: read them once, not per request on the loop.
        self._page = (STATIC / "chat.html").read_text(encoding="utf-8").replace(
            "{{BASE}}", settings.path.rstrip("/")).replace("{{TITLE}}", settings.title.replace("<", "&lt;"))
        self._widget = (STATIC / "widget.js").read_text(encoding="utf-8")

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
            web.post(p + "/api/callback", self.callback),
        ]

    def _visitor(self, request: web.Request) -> str | web.Response:
        """The visitor of the request, or the answer when there is none (starting, no valid token)."""
        if not self.tokens.ready:
            return error_response(503, "starting", "the web chat is starting, retry")
        visitor = self.tokens.visitor(request)
        if visitor is None:
            return error_response(401, "unauthorized", "a valid visitor token is required")
        return visitor

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'",
            "X-Content-Type-Options": "nosniff",
        })

    async def widget(self, request: web.Request) -> web.Response:
        return web.Response(text=self._widget, content_type="application/javascript")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name)

    async def new_visitor(self, request: web.Request) -> web.Response:
        if not self.tokens.ready:
            return error_response(503, "starting", "the web chat is starting, retry")
        if (refused := self.flood.new_visitor(request)) is not None:
            return refused
        body: dict[str, Any] = {}
        if request.can_read_body and request.content_type == "application/json":
            try:
                body = (await read_posted(request, self.settings, self.spool)).fields
            except Invalid as exc:
                return error_response(exc.status, exc.code, exc.message)
        if "identifier" not in body:
            visitor_id = identity.anonymous_id()
            return web.json_response({"token": self.tokens.sign(visitor_id), "visitor_id": visitor_id}, status=201)
        try:
            profile = verified_profile(body, self.settings.identity_secret)
        except Invalid as exc:
            return error_response(exc.status, exc.code, exc.message)
        visitor_id = identity.visitor_id(profile.identifier)
        await identity.save(self.sink, visitor_id, profile)
        log.info("visitor.verified", inbox=self.inbox)
        lifetime = round(self.settings.verified_token_hours * 3600)
        return web.json_response({"token": self.tokens.sign(visitor_id, lifetime=lifetime), "visitor_id": visitor_id,
                                  "verified": True, "expires_in": lifetime}, status=201)

    async def callback(self, request: web.Request) -> web.Response:
        visitor = self._visitor(request)
        if isinstance(visitor, web.Response):
            return visitor
        if (refused := self.flood.message(request, visitor)) is not None:
            return refused
        try:
            posted = await read_posted(request, self.settings, self.spool)
            record, answer = callback_inbound(self.inbox, visitor, posted.fields, self.settings,
                                              await identity.load(self.sink, visitor))
        except Invalid as exc:
            return error_response(exc.status, exc.code, exc.message)
        await self.sink.ingest([record])  # committed before the 201: the request is safe
        return web.json_response(answer, status=201)

    async def history(self, request: web.Request) -> web.Response:
        visitor = self._visitor(request)
        if isinstance(visitor, web.Response):
            return visitor
        return web.json_response({"items": history_items(await self.sink.history(visitor))})

    async def post_message(self, request: web.Request) -> web.Response:
        visitor = self._visitor(request)
        if isinstance(visitor, web.Response):
            return visitor
        if (refused := self.flood.message(request, visitor)) is not None:
            return refused  # counted before the body is read: a flood costs no parsing
        try:
            posted = await read_posted(request, self.settings, self.spool)
        except Invalid as exc:
            return error_response(exc.status, exc.code, exc.message)
        try:
            record = to_inbound(self.inbox, visitor, posted, self.settings, language(request),
                                await identity.load(self.sink, visitor))
        except Invalid as exc:
            discard_spooled(posted.attachments)
            return error_response(exc.status, exc.code, exc.message)
        # Stored (committed) before we answer: a 2xx means the message is safe.
        try:
            result = await self.sink.ingest([record])
        except BaseException:  # not stored (the store or the attachment store unreachable: 503): no spool left
            discard_spooled(posted.attachments)
            raise
        message_id = result.message_ids[0]
        client_id = record.external_id.removeprefix(visitor + ":")
        # Written out rather than json_response: this answer is most of what a busy chat sends.
        body = b'{"id":%s,"client_id":%s,"duplicate":%s}' % (
            b"null" if message_id is None else str(message_id).encode(), json.dumps(client_id).encode(),
            b"true" if message_id is None else b"false")
        return web.Response(body=body, status=201 if message_id is not None else 200, content_type="application/json")

    async def events(self, request: web.Request) -> web.StreamResponse:
        visitor = self._visitor(request)
        if isinstance(visitor, web.Response):
            return visitor
        if (refused := self.flood.open_stream(request, visitor)) is not None:
            return refused
        held = self.tokens.holder(request)
        until = held[1] if held is not None else 0.0  # a signed-in user's token expires while the page is open
        queue = self.pages.open(visitor)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            await resp.write(b": connected\n\n")
            # The stream ends when the token expires: the page's EventSource comes back with it, is refused,
            # and the page signs the user in again (chat.js); no reply reaches an expired token.
            while (left := until - self.tokens.now()) > 0:
                try:
                    item = await asyncio.wait_for(queue.get(), min(HEARTBEAT, left))
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                await resp.write(f"event: message\ndata: {json.dumps(item, ensure_ascii=False)}\n\n".encode())
        except ConnectionError:  # the visitor left: normal
            pass
        finally:
            self.pages.close(visitor, queue)
            self.flood.close_stream(request, visitor)
        return resp
