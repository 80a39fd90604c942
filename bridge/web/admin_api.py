"""The /api/v1 routes the inbox web app adds: canned responses, contact merges, agents, teams, me.

Everything here goes through the same auth middleware as api.py (bearer or session + CSRF);
admin-only routes answer 403 to agents, and contacts an agent may not see are 404.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from tpbridge.adapters.base import MAX_EMAIL
from tpbridge.bridge.desk import Invalid
from tpbridge.bridge.model import Agent, Canned, Role
from tpbridge.bridge.store.protocol import AgentFields, Conflict, ConversationFilter
from tpbridge.bridge.web import audit_api, openapi
from tpbridge.bridge.web.api import read_json, render_conversations
from tpbridge.bridge.web.auth import hash_password_async
from tpbridge.bridge.web.errors import fail, is_id, parse_int
from tpbridge.bridge.web.i18n import LANGUAGES
from tpbridge.bridge.web.keys import AGENT, CORE, VIEWER
from tpbridge.bridge.web.serialize import contact_json
from tpbridge.bridge.web.sse import STREAMS

routes = web.RouteTableDef()
_SHORTCUT = re.compile(r"^[\w-]{1,40}$")
S, B = {"type": "string"}, {"type": "boolean"}
_ARR = {"type": "array", "items": S}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def _admin(request: web.Request) -> None:
    if not request[VIEWER].is_admin:
        fail(403, "forbidden", "only an admin may do this")


def canned_json(c: Canned) -> dict[str, Any]:
    return {"id": c.id, "shortcut": c.shortcut, "text": c.text, "created_by": c.created_by}


def agent_json(a: Agent, *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"id": a.id, "name": a.name, "role": a.role.value, "teams": list(a.teams),
                            "presence": a.presence}
    if full:
        body.update(email=a.email, languages=list(a.languages), ui_language=a.ui_language, disabled=a.disabled)
    return body


# ---------------------------------------------------------------- canned responses
@routes.get("/api/v1/canned_responses")
async def list_canned(request: web.Request) -> web.Response:
    items = await request.app[CORE].store.list_canned()
    return web.json_response({"items": [canned_json(c) for c in items], "next_cursor": None})


def _canned_input(body: dict[str, Any], *, partial: bool) -> tuple[str | None, str | None]:
    shortcut, text = body.get("shortcut"), body.get("text")
    if shortcut is not None or not partial:
        if not isinstance(shortcut, str) or not _SHORTCUT.match(shortcut.lstrip("/")):
            fail(422, "invalid", "shortcut: 1-40 letters, digits, _ or -")
        shortcut = shortcut.lstrip("/")
    if text is not None or not partial:
        if not isinstance(text, str) or not text.strip():
            fail(422, "invalid", "text: must not be empty")
    return shortcut, text


@routes.post("/api/v1/canned_responses")
async def add_canned(request: web.Request) -> web.Response:
    _admin(request)
    shortcut, text = _canned_input(await read_json(request), partial=False)
    try:
        canned = await request.app[CORE].store.add_canned(shortcut or "", text or "", request[AGENT].id)
    except Conflict as exc:
        fail(409, "conflict", str(exc))
    return web.json_response(canned_json(canned), status=201)


@routes.patch("/api/v1/canned_responses/{id}")
async def update_canned(request: web.Request) -> web.Response:
    _admin(request)
    canned_id = parse_int(request.match_info["id"], "id")
    shortcut, text = _canned_input(await read_json(request), partial=True)
    try:
        canned = await request.app[CORE].store.update_canned(canned_id, shortcut, text)
    except Conflict as exc:
        fail(409, "conflict", str(exc))
    if canned is None:
        fail(404, "not_found", f"canned response {canned_id} not found")
    return web.json_response(canned_json(canned))


@routes.delete("/api/v1/canned_responses/{id}")
async def delete_canned(request: web.Request) -> web.Response:
    _admin(request)
    canned_id = parse_int(request.match_info["id"], "id")
    if not await request.app[CORE].store.delete_canned(canned_id):
        fail(404, "not_found", f"canned response {canned_id} not found")
    return web.json_response({"deleted": canned_id})


# ---------------------------------------------------------------- contacts: history and merges
async def visible_contact(request: web.Request, contact_id: int) -> list[int]:
    """The contact's family (itself + merged ones) if the viewer may see any of its conversations, else 404."""
    store = request.app[CORE].store
    if await store.get_contact(contact_id) is None:
        fail(404, "not_found", f"contact {contact_id} not found")
    family = await store.contact_family(contact_id)
    viewer = request[VIEWER]
    if not viewer.is_admin:
        for member in family:
            page = await store.list_conversations(viewer, ConversationFilter(status="all", contact_id=member), 1, None)
            if page.items:
                break
        else:
            fail(404, "not_found", f"contact {contact_id} not found")
    return family


@routes.get("/api/v1/contacts/{id}/conversations")
async def contact_conversations(request: web.Request) -> web.Response:
    """The person's whole history across channels (merged contacts included), newest first."""
    contact_id = parse_int(request.match_info["id"], "id")
    family = await visible_contact(request, contact_id)
    store = request.app[CORE].store
    convs = []
    for member in family:
        page = await store.list_conversations(request[VIEWER], ConversationFilter(status="all", contact_id=member),
                                              200, None)
        convs.extend(page.items)
    convs.sort(key=lambda c: (c.last_activity_at, c.id), reverse=True)
    return web.json_response({"items": await render_conversations(request, convs), "next_cursor": None})


@routes.post("/api/v1/contacts/{id}/merge")
async def merge_contacts(request: web.Request) -> web.Response:
    """`{"contact": other_id}`: the other contact becomes part of this one (undo: .../unmerge)."""
    target = parse_int(request.match_info["id"], "id")
    body = await read_json(request)
    source = body.get("contact")
    if not is_id(source):
        fail(400, "bad_request", "contact must be the id of the contact to merge in")
    if source == target:
        fail(422, "invalid", "contact: cannot merge a contact into itself")
    await visible_contact(request, target)
    await visible_contact(request, source)
    try:
        merged = await request.app[CORE].desk.merge(target, source)
    except Invalid as exc:
        fail(422, "invalid", str(exc))
    await audit_api.record(request, "contact_merge", f"contact:{target}", merged=source)
    return web.json_response(contact_json(merged, request.app[CORE].anonymous_inboxes))


@routes.post("/api/v1/contacts/{id}/unmerge")
async def unmerge_contact(request: web.Request) -> web.Response:
    """Undo a merge: this contact stands on its own again."""
    contact_id = parse_int(request.match_info["id"], "id")
    store = request.app[CORE].store
    contact = await store.get_contact(contact_id)
    if contact is None:
        fail(404, "not_found", f"contact {contact_id} not found")
    # Visibility first: a contact the agent may not see is 404 whatever its state.
    await visible_contact(request, contact.merged_into if contact.merged_into is not None else contact_id)
    if contact.merged_into is None:
        fail(422, "invalid", f"contact {contact_id} is not merged")
    unmerged = await request.app[CORE].desk.unmerge(contact_id)
    await audit_api.record(request, "contact_unmerge", f"contact:{contact_id}")
    return web.json_response(contact_json(unmerged, request.app[CORE].anonymous_inboxes))


# ---------------------------------------------------------------- agents, teams, me
@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    """Everyone may list agents (to assign); only admins see emails and settings."""
    full = request[VIEWER].is_admin
    agents = await request.app[CORE].store.list_agents()
    return web.json_response({"items": [agent_json(a, full=full) for a in agents if full or not a.disabled],
                              "next_cursor": None})


def _str_list(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        fail(400, "bad_request", f"{key} must be a list of names")
    return [x.strip() for x in value]


def _role(body: dict[str, Any]) -> Role | None:
    if body.get("role") is None:
        return None
    try:
        return Role(body["role"])
    except ValueError:
        fail(422, "invalid", 'role must be "admin" or "agent"')


@routes.post("/api/v1/agents")
async def add_agent(request: web.Request) -> web.Response:
    _admin(request)
    body = await read_json(request)
    email, name, password = body.get("email"), body.get("name"), body.get("password")
    if not isinstance(email, str) or "@" not in email or len(email) > MAX_EMAIL:
        fail(422, "invalid", "email: must be an email address")
    if not isinstance(name, str) or not name.strip():
        fail(422, "invalid", "name: must not be empty")
    if not isinstance(password, str) or len(password) < 8:
        fail(422, "invalid", "password: at least 8 characters")
    store = request.app[CORE].store
    if await store.agent_by_email(email) is not None:
        fail(409, "conflict", f"an agent {email} already exists")
    pw_hash = await hash_password_async(password)
    agent = await store.add_agent(email.strip(), name.strip(), _role(body) or Role.AGENT, pw_hash,
                                  _str_list(body, "teams") or [], _str_list(body, "languages") or [])
    await audit_api.record(request, "agent_create", f"agent:{agent.id}", email=agent.email, role=agent.role.value,
                           teams=list(agent.teams))
    return web.json_response(agent_json(agent), status=201)


@routes.patch("/api/v1/agents/{id}")
async def update_agent(request: web.Request) -> web.Response:
    _admin(request)
    agent_id = parse_int(request.match_info["id"], "id")
    store = request.app[CORE].store
    if await store.get_agent(agent_id) is None:
        fail(404, "not_found", f"agent {agent_id} not found")
    body = await read_json(request)
    fields: AgentFields = {}
    if isinstance(body.get("name"), str) and body["name"].strip():
        fields["name"] = body["name"].strip()
    if (role := _role(body)) is not None:
        if role is Role.AGENT and agent_id == request[AGENT].id:
            fail(422, "invalid", "role: you cannot take away your own admin role")
        fields["role"] = role
    if (teams := _str_list(body, "teams")) is not None:
        fields["teams"] = teams
    if (languages := _str_list(body, "languages")) is not None:
        fields["languages"] = languages
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            fail(400, "bad_request", "disabled must be true or false")
        if body["disabled"] and agent_id == request[AGENT].id:
            fail(422, "invalid", "disabled: you cannot disable yourself")
        fields["disabled"] = body["disabled"]
    if body.get("password") is not None:
        if not isinstance(body["password"], str) or len(body["password"]) < 8:
            fail(422, "invalid", "password: at least 8 characters")
        fields["password_hash"] = await hash_password_async(body["password"])
    if not fields:
        fail(422, "invalid", "nothing to change")
    updated = await store.update_agent(agent_id, **fields)
    changes = {k: (v.value if isinstance(v, Role) else v) for k, v in fields.items() if k != "password_hash"}
    await audit_api.record(request, "agent_update", f"agent:{agent_id}", **changes,
                           **({"password": "changed"} if "password_hash" in fields else {}))
    if fields.keys() & {"teams", "role", "disabled", "password_hash"}:
        # The store ended the sessions and tokens (new password, disable); open event streams end here,
        # and a client that reconnects sees only what the agent may now see.
        request.app[STREAMS].end(agent_id)
    return web.json_response(agent_json(updated))


@routes.get("/api/v1/teams")
async def list_teams(request: web.Request) -> web.Response:
    teams = await request.app[CORE].store.list_teams()
    return web.json_response({"items": [{"id": t.id, "name": t.name, "inboxes": list(t.inboxes)} for t in teams],
                              "next_cursor": None})


@routes.post("/api/v1/teams")
async def add_team(request: web.Request) -> web.Response:
    """`{"name", "inboxes": [...]}`: create a team, or set the inboxes of an existing one."""
    _admin(request)
    body = await read_json(request)
    name = body.get("name")
    if not isinstance(name, str) or not re.match(r"^[\w.-]{1,40}$", name):
        fail(422, "invalid", "name: 1-40 letters, digits, _, . or -")
    inboxes = _str_list(body, "inboxes") or []
    store = request.app[CORE].store
    await store.ensure_team(name)
    team = await store.set_team_inboxes(name, inboxes)
    if team is None:  # deleted in between
        fail(404, "not_found", f"team {name} not found")
    return web.json_response({"id": team.id, "name": team.name, "inboxes": list(team.inboxes)}, status=201)


@routes.delete("/api/v1/teams/{name}")
async def delete_team(request: web.Request) -> web.Response:
    _admin(request)
    name = request.match_info["name"]
    if not await request.app[CORE].store.delete_team(name):
        fail(404, "not_found", f"team {name} not found")
    return web.json_response({"deleted": name})


@routes.get("/api/v1/inboxes")
async def list_inboxes(request: web.Request) -> web.Response:
    """The configured inboxes and their health (for the list's filters)."""
    core = request.app[CORE]
    health = core.health.snapshot()
    items = [{"name": c.name, "channel": c.kind, "state": health.get(c.name, {}).get("state")}
             for c in core.config.enabled_channels]
    return web.json_response({"items": items, "next_cursor": None})


@routes.patch("/api/v1/me")
async def update_me(request: web.Request) -> web.Response:
    """An agent's own settings: `ui_language` ("zh" | "en" | null = browser) and `presence`."""
    body = await read_json(request)
    fields: AgentFields = {}
    if "ui_language" in body:
        if body["ui_language"] not in (None, *LANGUAGES):
            fail(422, "invalid", f"ui_language must be one of {', '.join(LANGUAGES)} or null")
        fields["ui_language"] = body["ui_language"]
    if "presence" in body:
        if body["presence"] not in ("online", "away"):
            fail(422, "invalid", 'presence must be "online" or "away"')
        fields["presence"] = body["presence"]
    if not fields:
        fail(422, "invalid", "give ui_language and/or presence")
    agent = await request.app[CORE].store.update_agent(request[AGENT].id, **fields)
    return web.json_response(agent_json(agent))


_DOCS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("get", "/api/v1/canned_responses", "Canned responses (typed as /shortcut)", {}),
    ("post", "/api/v1/canned_responses", "Add a canned response (admin)",
     {"ok": 201, "body": _obj(shortcut=S, text=S)}),
    ("patch", "/api/v1/canned_responses/{id}", "Change a canned response (admin)", {"body": _obj(shortcut=S, text=S)}),
    ("delete", "/api/v1/canned_responses/{id}", "Delete a canned response (admin)", {}),
    ("get", "/api/v1/contacts/{id}/conversations", "The person's conversations on every channel", {}),
    ("post", "/api/v1/contacts/{id}/merge", "Merge another contact into this one",
     {"body": _obj(contact={"type": "integer"})}),
    ("post", "/api/v1/contacts/{id}/unmerge", "Undo a merge", {}),
    ("get", "/api/v1/agents", "Agents (emails and settings for admins only)", {}),
    ("post", "/api/v1/agents", "Add an agent (admin)",
     {"ok": 201, "body": _obj(email=S, name=S, password=S, role={"enum": ["admin", "agent"]}, teams=_ARR,
                              languages=_ARR)}),
    ("patch", "/api/v1/agents/{id}", "Change an agent (admin)",
     {"body": _obj(name=S, password=S, role={"enum": ["admin", "agent"]}, teams=_ARR, languages=_ARR,
                   disabled=B)}),
    ("get", "/api/v1/teams", "Teams and the inboxes they own", {}),
    ("post", "/api/v1/teams", "Create a team or set its inboxes (admin)", {"ok": 201, "body": _obj(name=S,
                                                                                                  inboxes=_ARR)}),
    ("delete", "/api/v1/teams/{name}", "Delete a team (admin)", {}),
    ("get", "/api/v1/inboxes", "Configured inboxes and their state", {}),
    ("patch", "/api/v1/me", "Own settings: UI language, presence",
     {"body": _obj(ui_language={"enum": [*LANGUAGES, None]}, presence={"enum": ["online", "away"]})}),
]


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    for method, path, summary, kw in _DOCS:
        openapi.register(method, path, summary, **kw)
