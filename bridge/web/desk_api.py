"""The desk acting first: `POST /api/v1/conversations` (outbound), `POST /api/v1/calls` (a call log),
`GET /api/v1/callbacks` (the callback queue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from tpbridge.adapters.base import ChannelRule
from tpbridge.bridge.desk import Invalid, NotFound
from tpbridge.bridge.model import Agent, Author, AuthorKind
from tpbridge.bridge.outreach import start_conversation
from tpbridge.bridge.phone import DIRECTIONS, OUTCOMES, Call, Phone
from tpbridge.bridge.web import openapi
from tpbridge.bridge.web.admin_api import visible_contact
from tpbridge.bridge.web.api import conversation_response, read_json, render_conversations
from tpbridge.bridge.web.errors import fail, is_id
from tpbridge.bridge.web.keys import AGENT, CORE, VIEWER
from tpbridge.bridge.web.serialize import message_json

routes = web.RouteTableDef()


def _author(request: web.Request) -> Author:
    agent: Agent = request[AGENT]
    return Author(AuthorKind.AGENT, agent.id, agent.name)


def _text(body: dict[str, Any], key: str, *, required: bool = False, limit: int = 64 * 1024) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            fail(400, "bad_request", f"{key} is required")
        return None
    if not isinstance(value, str):
        fail(400, "bad_request", f"{key} must be a string")
    if len(value.encode()) > limit:
        fail(413, "too_large", f"{key} over {limit} bytes")
    return value


def _time(value: object, key: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        fail(400, "bad_request", f"{key} must be an ISO 8601 time")
    if when.tzinfo is None:
        fail(400, "bad_request", f"{key} needs a time zone (e.g. a trailing Z)")
    return when


def _phone(request: web.Request) -> Phone:
    phone = request.app[CORE].extras.get("phone")
    if not isinstance(phone, Phone):
        phone = Phone(request.app[CORE])
    return phone


@routes.post("/api/v1/conversations")
async def new_conversation(request: web.Request) -> web.Response:
    core = request.app[CORE]
    body = await read_json(request)
    inbox = _text(body, "inbox", required=True, limit=200)
    assert inbox is not None
    contact_id = body.get("contact_id")
    if contact_id is not None and not is_id(contact_id):
        fail(400, "bad_request", "contact_id must be a number")
    if contact_id is not None:
        await visible_contact(request, contact_id)  # 404 for a person none of whose conversations the agent sees
    text = _text(body, "text", required=True, limit=core.config.http.max_text_bytes) or ""
    try:
        started = await start_conversation(
            core, inbox=inbox, author=_author(request), text=text, to=_text(body, "to", limit=320),
            contact_id=contact_id, name=_text(body, "name", limit=200), subject=_text(body, "subject", limit=998))
    except ChannelRule as exc:
        fail(422, "channel_rule", f"{inbox}: {exc.message} ({exc.rule})")
    except NotFound as exc:
        fail(404 if "contact" in str(exc) else 422, "not_found" if "contact" in str(exc) else "invalid", str(exc))
    except Invalid as exc:
        fail(422, "invalid", str(exc))
    return await conversation_response(request, started.conversation, 201, message=message_json(started.message))


@routes.post("/api/v1/calls")
async def log_call(request: web.Request) -> web.Response:
    body = await read_json(request)
    inbox = _text(body, "inbox", limit=200)
    direction = body.get("direction", "in")
    if direction not in DIRECTIONS:
        fail(400, "bad_request", 'direction must be "in" or "out"')
    outcome = body.get("outcome", "resolved")
    if outcome not in OUTCOMES:
        fail(400, "bad_request", 'outcome must be "resolved", "callback" or "no_answer"')
    duration = body.get("duration_s", 0)
    if not isinstance(duration, int) or isinstance(duration, bool) or not 0 <= duration <= 24 * 3600:
        fail(400, "bad_request", "duration_s must be a number of seconds (0 to 86400)")
    call = Call(
        number=_text(body, "number", required=True, limit=64) or "", direction=direction, duration_s=duration,
        notes=_text(body, "notes") or "", outcome=outcome, name=_text(body, "name", limit=200),
        callback_at=_time(body.get("callback_at"), "callback_at"),
    )
    try:
        conv = await _phone(request).log_call(inbox, call, _author(request))
    except (NotFound, Invalid) as exc:
        fail(422, "invalid", str(exc))
    return await conversation_response(request, conv, 201)


@routes.get("/api/v1/callbacks")
async def callbacks(request: web.Request) -> web.Response:
    phone = _phone(request)
    inbox = request.query.get("inbox") or None
    if inbox is not None and inbox not in phone.hotlines():
        fail(404, "not_found", f"no phone inbox {inbox!r}")
    viewer = request[VIEWER]
    due = [c for c in await phone.queue(inbox) if viewer.may_see(c)]
    items = await render_conversations(request, due)
    for item, conv in zip(items, due, strict=True):
        item["callback"] = conv.attrs.get("callback")
    return web.json_response({"items": items, "next_cursor": None})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    S = {"type": "string"}
    openapi.register("post", "/api/v1/conversations", "Start a conversation (the first message goes through the "
                     "outbox); 422 channel_rule when the channel forbids writing first", ok=201,
                     body={"type": "object", "properties": {"inbox": S, "contact_id": {"type": "integer"}, "to": S,
                                                            "name": S, "text": S, "subject": S}})
    openapi.register("post", "/api/v1/calls", "Log a phone call in the caller's conversation (found by number)",
                     ok=201, body={"type": "object", "properties": {
                         "inbox": S, "number": S, "direction": S, "duration_s": {"type": "integer"}, "notes": S,
                         "outcome": S, "name": S, "callback_at": S}})
    openapi.register("get", "/api/v1/callbacks", "Due callbacks, soonest first (then by priority)", params=["inbox"])
