"""The REST API under /api/v1 (SPEC.md): conversations, messages, replies, contacts."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from tpbridge.adapters import json_input
from tpbridge.adapters.uploads import Limits, UploadRefused, discard, read_multipart, spool_dir
from tpbridge.bridge.attachments import AttachmentMissing
from tpbridge.bridge.attachments.folder import AttachmentFolder
from tpbridge.bridge.desk import Invalid, NotFound
from tpbridge.bridge.model import Agent, Author, AuthorKind, Contact, Conversation, Priority, Viewer
from tpbridge.bridge.store.protocol import UNSET, ConversationFilter, StoredAttachment
from tpbridge.bridge.web import audit_api, serving
from tpbridge.bridge.web.errors import fail, parse_int
from tpbridge.bridge.web.json_body import json_response
from tpbridge.bridge.web.keys import AGENT, CORE, VIEWER
from tpbridge.bridge.web.serialize import contact_json, conversation_json, message_json, quarantine_json

routes = web.RouteTableDef()


def _viewer(request: web.Request) -> Viewer:
    return request[VIEWER]


def cursor_is_first(cursor: str | None) -> bool:
    """A search is recorded once, not once per page scrolled."""
    return not cursor


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        fail(415, "unsupported_media_type", "send application/json")
    raw = await request.read()
    try:
        body = json_input.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        fail(400, "bad_json", "the body is not valid JSON")
    if not isinstance(body, dict):
        fail(400, "bad_json", "the body must be a JSON object")
    if b"\\u0000" in raw and _holds_nul(body):  # PostgreSQL's text cannot hold it: refused on either store
        fail(400, "bad_json", "a string in the body holds U+0000 (NUL)")
    return body


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_holds_nul(v) for v in value)


async def visible_conversation(request: web.Request) -> Conversation:
    """The conversation named in the path, or 404 — also when the viewer may not see it."""
    conv_id = parse_int(request.match_info["id"], "id")
    conv = await request.app[CORE].store.get_conversation(conv_id)
    if conv is None or not _viewer(request).may_see(conv):
        fail(404, "not_found", f"conversation {conv_id} not found")
    return conv


async def render_conversations(request: web.Request, convs: list[Conversation]) -> list[dict[str, Any]]:
    """The conversations with their contacts. One whose contact is gone was erased between the two
    reads (a person's erasure deletes both in one transaction): it is left out, not shown ownerless."""
    store = request.app[CORE].store
    contacts, agents = await store.contacts_and_agents(
        [c.contact_id for c in convs], [c.assignee_id for c in convs if c.assignee_id is not None])
    return rendered(request, convs, contacts, agents)


def rendered(request: web.Request, convs: list[Conversation], contacts: dict[int, Contact],
             agents: dict[int, Agent]) -> list[dict[str, Any]]:
    anonymous = request.app[CORE].anonymous_inboxes
    return [conversation_json(c, contacts[c.contact_id], agents, anonymous) for c in convs
            if c.contact_id in contacts]


async def conversation_response(request: web.Request, conv: Conversation, status: int = 200,
                                **extra: Any) -> web.Response:
    """One conversation in the list's shape, with its contact and assignee (and `extra` fields)."""
    rendered = await render_conversations(request, [conv])
    if not rendered:  # its person was erased meanwhile
        fail(404, "not_found", "conversation not found")
    return json_response({**rendered[0], **extra}, status=status)


def _priority(word: str) -> Priority:
    try:
        return Priority.of_word(word)
    except ValueError as exc:
        fail(400, "bad_request", str(exc))


@routes.get("/api/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    q = request.query
    limit = parse_int(q.get("limit", "50"), "limit")
    if not 1 <= limit <= 200:
        fail(400, "bad_request", "limit must be between 1 and 200")
    status = q.get("status") or None
    if status not in (None, "open", "pending", "snoozed", "resolved", "all"):
        fail(400, "bad_request", 'status must be "open", "pending", "snoozed", "resolved" or "all"')
    flt = ConversationFilter(
        status=status, inbox=q.get("inbox") or None, channel=q.get("channel") or None,
        assignee=q.get("assignee") or None, team=q.get("team") or None, label=q.get("label") or None,
        priority=_priority(q["priority"]) if q.get("priority") else None,
        contact_id=parse_int(q["contact"], "contact") if q.get("contact") else None, q=q.get("q") or None,
    )
    if flt.assignee not in (None, "me", "unassigned", "all"):
        if not flt.assignee.isdigit():
            fail(400, "bad_request", 'assignee must be "me", "unassigned", "all" or an agent id')
        parse_int(flt.assignee, "assignee")  # an agent id is 64-bit in both stores
    try:  # the page with its contacts and assignees, in one read
        page, contacts, agents = await request.app[CORE].store.conversation_page(_viewer(request), flt, limit,
                                                                                 q.get("cursor"))
    except (ValueError, TypeError):
        fail(400, "bad_request", "cursor is not valid")
    if flt.q is not None and cursor_is_first(q.get("cursor")):
        codec = request.app[CORE].files.codec  # an encrypted store keeps no query in clear: its keyed hash
        query = {"q": flt.q} if codec is None else {"q_hash": codec.blind(flt.q)}
        await audit_api.record(request, "conversation_search", None, found=len(page.items), **query)
    return json_response({"items": rendered(request, page.items, contacts, agents), "next_cursor": page.next_cursor})


@routes.get("/api/v1/conversations/{id}")
async def get_conversation(request: web.Request) -> web.Response:
    return await conversation_response(request, await visible_conversation(request))


@routes.get("/api/v1/conversations/{id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Every message, oldest first; with `limit`, the newest that many (`cursor`: the page before)."""
    q = request.query
    limit = parse_int(q["limit"], "limit") if q.get("limit") else None
    if limit is not None and not 1 <= limit <= 1000:
        fail(400, "bad_request", "limit must be between 1 and 1000")
    before = parse_int(q["cursor"], "cursor") if q.get("cursor") else None
    conv = await visible_conversation(request)
    if before is None:
        await audit_api.record(request, "conversation_read", f"conversation:{conv.id}", inbox=conv.inbox)
    msgs = await request.app[CORE].store.list_messages(conv.id, limit=limit, before=before)
    anonymous = request.app[CORE].anonymous_inboxes
    more = limit is not None and len(msgs) == limit
    return json_response({"items": [message_json(m, anonymous) for m in msgs],
                          "next_cursor": str(msgs[0].id) if more else None})


async def _reply_input(request: web.Request) -> tuple[dict[str, Any], list[StoredAttachment]]:
    """JSON, or multipart with `text`, `private`, `reply_to` and files (spooled to disk as they arrive)."""
    core = request.app[CORE]
    limits = core.config.http
    if request.content_type != "multipart/form-data":
        return await read_json(request), []
    body: dict[str, Any] = {}

    async def field(name: str, part: BodyPartReader) -> None:
        if name in ("text", "private", "reply_to"):
            raw = await part.read_chunk(limits.max_text_bytes + 1)
            if len(raw) > limits.max_text_bytes or await part.read_chunk():
                fail(413, "too_large", f"{name} over {limits.max_text_bytes} bytes")
            body[name] = raw.decode("utf-8", "replace")
            if "\x00" in body[name]:
                fail(400, "bad_request", f"{name} holds U+0000 (NUL)")

    caps = Limits(limits.max_attachment_bytes, limits.max_files,
                  limits.max_upload_bytes or 4 * limits.max_attachment_bytes)
    try:
        files = await read_multipart(await request.multipart(), caps, spool_dir(core.config.data_dir), field)
    except UploadRefused as exc:
        fail(exc.status, exc.code, exc.message)
    except ValueError as exc:  # no boundary, a broken part header
        fail(400, "bad_multipart", f"the multipart body cannot be read: {exc}")
    try:
        atts = [await core.files.adopt(f.path, kind="image" if f.mime.startswith("image/") else "file",
                                       mime=f.mime, filename=f.filename) for f in files]
    finally:
        discard(files)  # whatever was not moved in
    body["private"] = str(body.get("private", "")).lower() in ("1", "true", "yes", "on")
    return body, atts


@routes.post("/api/v1/conversations/{id}/messages")
async def post_message(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    core = request.app[CORE]
    body, atts = await _reply_input(request)
    text = body.get("text", "")
    if not isinstance(text, str):
        fail(400, "bad_request", "text must be a string")
    if len(text.encode()) > core.config.http.max_text_bytes:
        fail(413, "too_large", f"text over {core.config.http.max_text_bytes} bytes")
    private = body.get("private", False)
    if not isinstance(private, bool):
        fail(400, "bad_request", "private must be true or false")
    reply_to = None
    if body.get("reply_to") not in (None, ""):
        target = await core.store.get_message(parse_int(str(body["reply_to"]), "reply_to"))
        if target is None or target.conversation_id != conv.id:
            fail(400, "bad_request", "reply_to must be a message of this conversation")
        reply_to = target.external_id
    agent: Agent = request[AGENT]
    try:
        msg = await core.desk.reply(conv.id, text, author=Author(AuthorKind.AGENT, agent.id, agent.name),
                                    private=private, attachments=atts, reply_to=reply_to)
    except Invalid as exc:
        fail(422, "invalid", str(exc))
    return web.json_response(message_json(msg), status=202)


@routes.post("/api/v1/conversations/{id}/assign")
async def assign(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    core = request.app[CORE]
    body = await read_json(request)
    agent_id: Any = UNSET
    if "agent" in body:
        ref = body["agent"]
        if ref is None:
            agent_id = None
        elif isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            agent_id = parse_int(str(ref), "agent")
        elif isinstance(ref, str):
            found = await core.store.agent_by_email(ref)
            if found is None:
                fail(422, "invalid", f"agent: no agent {ref!r}")
            agent_id = found[0].id
        else:
            fail(400, "bad_request", "agent must be an id, an email or null")
    team: Any = body.get("team", UNSET)
    if team is not UNSET and team is not None and not isinstance(team, str):
        fail(400, "bad_request", "team must be a name or null")
    try:
        conv = await core.desk.assign(conv.id, agent_id=agent_id, team=team)
    except Invalid as exc:
        fail(422, "invalid", str(exc))
    return await conversation_response(request, conv)


@routes.post("/api/v1/conversations/{id}/status")
async def set_status(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    body = await read_json(request)
    until = None
    if body.get("until"):
        try:
            until = datetime.fromisoformat(str(body["until"]).replace("Z", "+00:00"))
        except ValueError:
            fail(400, "bad_request", "until must be an ISO 8601 time")
        if until.tzinfo is None:
            fail(400, "bad_request", "until needs a time zone (e.g. a trailing Z)")
    try:
        conv = await request.app[CORE].desk.set_status(conv.id, str(body.get("status", "")), until=until)
    except Invalid as exc:
        fail(422, "invalid", str(exc))
    return await conversation_response(request, conv)


@routes.post("/api/v1/conversations/{id}/labels")
async def set_labels(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    body = await read_json(request)
    labels = body.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        fail(400, "bad_request", "labels must be a list of strings")
    try:
        conv = await request.app[CORE].desk.set_labels(conv.id, labels)
    except Invalid as exc:
        fail(422, "invalid", str(exc))
    return await conversation_response(request, conv)


@routes.post("/api/v1/conversations/{id}/read")
async def mark_read(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    conv = await request.app[CORE].desk.mark_read(conv.id)
    return await conversation_response(request, conv)


async def _visible_contact(request: web.Request) -> int:
    contact_id = parse_int(request.match_info["id"], "id")
    viewer = _viewer(request)
    store = request.app[CORE].store
    if await store.get_contact(contact_id) is None:
        fail(404, "not_found", f"contact {contact_id} not found")
    if not viewer.is_admin:
        page = await store.list_conversations(viewer, ConversationFilter(status="all", contact_id=contact_id), 1, None)
        if not page.items:
            fail(404, "not_found", f"contact {contact_id} not found")
    return contact_id


@routes.get("/api/v1/contacts/{id}")
async def get_contact(request: web.Request) -> web.Response:
    contact_id = await _visible_contact(request)
    contact = await request.app[CORE].store.get_contact(contact_id)
    return web.json_response(contact_json(contact, request.app[CORE].anonymous_inboxes))


def _admin(request: web.Request) -> None:
    if not _viewer(request).is_admin:
        fail(403, "forbidden", "only an admin may do this")


@routes.get("/api/v1/contacts/{id}/export")
async def export_contact(request: web.Request) -> web.Response:
    _admin(request)
    contact_id = parse_int(request.match_info["id"], "id")
    data = await request.app[CORE].store.export_contact(contact_id)
    if data is None:
        fail(404, "not_found", f"contact {contact_id} not found")
    await audit_api.record(request, "contact_export", f"contact:{contact_id}", by="staff")
    return web.json_response(data)


@routes.delete("/api/v1/contacts/{id}")
async def forget_contact(request: web.Request) -> web.Response:
    _admin(request)
    contact_id = parse_int(request.match_info["id"], "id")
    try:
        await request.app[CORE].desk.forget(contact_id)
    except NotFound:
        fail(404, "not_found", f"contact {contact_id} not found")
    await audit_api.record(request, "contact_forget", f"contact:{contact_id}", by="staff")
    return web.json_response({"deleted": contact_id})


@routes.get("/api/v1/attachments/{id}")
async def download_attachment(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    att_id = parse_int(request.match_info["id"], "id")
    found = await core.store.attachment(att_id)
    conv = await core.store.get_conversation(found[1]) if found else None
    if found is None or conv is None or not _viewer(request).may_see(conv):
        fail(404, "not_found", f"attachment {att_id} not found")
    att = found[0]
    files = core.files
    path: Path | None = None
    data: bytes | None = None
    if isinstance(files, AttachmentFolder) and files.codec is None:  # a plain file: sent from disk as it is
        path = files.path(att.sha256)
        if not await asyncio.to_thread(path.exists):
            fail(404, "not_found", "the attachment's bytes are gone (erased)")
        inline = await asyncio.to_thread(serving.inline_type, att.mime, path)
    else:  # sealed, or in a bucket: fetched (and opened) here, in memory (at most max_attachment_bytes)
        try:
            data = await files.read(att.sha256)
        except AttachmentMissing:
            fail(404, "not_found", "the attachment's bytes are gone (erased)")
        inline = serving.inline_type_of(att.mime, data[:16])
    headers = {
        "Content-Type": inline or "application/octet-stream",
        "Content-Disposition": serving.disposition("inline" if inline else "attachment", att.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if path is not None:
        return web.FileResponse(path, headers=headers)
    return web.Response(body=data, headers=headers)


@routes.get("/api/v1/me")
async def me(request: web.Request) -> web.Response:
    agent: Agent = request[AGENT]
    return web.json_response({
        "id": agent.id, "email": agent.email, "name": agent.name, "role": agent.role.value,
        "teams": list(agent.teams), "languages": list(agent.languages), "presence": agent.presence,
    })


@routes.get("/api/v1/quarantine")
async def quarantine(request: web.Request) -> web.Response:
    _admin(request)
    items = await request.app[CORE].store.list_quarantine()
    return web.json_response({"items": [quarantine_json(q) for q in items], "next_cursor": None})

