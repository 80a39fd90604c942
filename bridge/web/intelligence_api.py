"""The inbox's side of service intelligence: correct a category, acknowledge a security alert, set a contact's tier.

`POST /api/v1/conversations/{id}/category {"category": "security"}` — the agent's choice is stored
(automation no longer changes it) and kept as a labelled example for the next `tpbridge train`.
`POST /api/v1/conversations/{id}/alert/ack` — stops paging the on-call for that incident.
`PATCH /api/v1/contacts/{id} {"tier": "vip" | null, "name": "..."}` (SPEC) — a tier in
`[automation] vip_tiers` raises the priority of the person's conversations.
"""

from __future__ import annotations

import time

from aiohttp import web
from tpbridge.bridge.automation import alerts, labels
from tpbridge.bridge.automation.classify import RuleClassifier, RulesError
from tpbridge.bridge.web import openapi
from tpbridge.bridge.web.api import _visible_contact, conversation_response, read_json, visible_conversation
from tpbridge.bridge.web.errors import fail
from tpbridge.bridge.web.keys import AGENT, CORE
from tpbridge.bridge.web.serialize import contact_json

routes = web.RouteTableDef()


def categories(request: web.Request) -> list[str]:
    """The categories agents may choose: those the classifier knows (example files and rules), and the configured."""
    core = request.app[CORE]
    s = core.config.automation
    found: set[str] = set(s.security_categories) | set(s.no_faq_categories) | set(s.high_priority_categories)
    found |= {p.stem for p in (core.config.config_dir / s.examples_dir).glob("*.toml")}
    try:
        found |= {r.category for r in RuleClassifier.from_toml(core.config.config_dir / s.classify_rules).rules}
    except RulesError:
        pass
    return sorted(found)


@routes.get("/api/v1/categories")
async def list_categories(request: web.Request) -> web.Response:
    return web.json_response({"items": categories(request)})


@routes.post("/api/v1/conversations/{id}/category")
async def set_category(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    body = await read_json(request)
    category = body.get("category")
    known = categories(request)
    if not isinstance(category, str) or category not in known:
        fail(422, "invalid", f"category must be one of: {', '.join(known)}")
    core = request.app[CORE]
    conv = await labels.correct(core.desk, core.store, conv, category, request[AGENT].id,
                                core.config.data_dir / "examples", time.time())
    return await conversation_response(request, conv)


@routes.post("/api/v1/conversations/{id}/alert/ack")
async def acknowledge_alert(request: web.Request) -> web.Response:
    conv = await visible_conversation(request)
    alert = conv.attrs.get("alert")
    if not isinstance(alert, dict):
        fail(409, "no_alert", "this conversation has no security alert")
    core = request.app[CORE]
    conv = await alerts.acknowledge_in(core.desk, core.store, conv, request[AGENT].id, time.time())
    return await conversation_response(request, conv)


@routes.patch("/api/v1/contacts/{id}")
async def update_contact(request: web.Request) -> web.Response:
    contact_id = await _visible_contact(request)
    body = await read_json(request)
    unknown = sorted(set(body) - {"tier", "name"})
    if unknown:
        fail(400, "bad_request", f"unknown field(s): {', '.join(unknown)} (tier and name can be set)")
    fields: dict[str, str | None] = {}
    if "tier" in body:
        tier = body["tier"]
        if tier is not None and (not isinstance(tier, str) or not tier.strip() or len(tier) > 40):
            fail(422, "invalid", "tier must be a short name such as \"vip\", or null")
        fields["tier"] = tier.strip().lower() if isinstance(tier, str) else None
    if "name" in body:
        name = body["name"]
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            fail(422, "invalid", "name must be a string of at most 200 characters, or null")
        fields["name"] = name
    core = request.app[CORE]
    try:
        contact = await core.store.update_contact(contact_id, **fields)
    except LookupError:
        fail(404, "not_found", f"contact {contact_id} not found")
    return web.json_response(contact_json(contact, core.anonymous_inboxes))


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    openapi.register("get", "/api/v1/categories", "The categories a conversation can be given")
    openapi.register("post", "/api/v1/conversations/{id}/category",
                     "Correct the conversation's category (kept as a labelled example)",
                     body={"type": "object", "properties": {"category": {"type": "string"}}})
    openapi.register("post", "/api/v1/conversations/{id}/alert/ack",
                     "Acknowledge the security alert: the on-call is no longer paged")
    openapi.register("patch", "/api/v1/contacts/{id}", "Set a contact's tier (\"vip\" or null) and name",
                     body={"type": "object", "properties": {"tier": {"type": ["string", "null"]},
                                                            "name": {"type": ["string", "null"]}}})
