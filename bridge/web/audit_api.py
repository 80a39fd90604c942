"""The audit trail on the web: recording what an agent does, and reading it back (admins only)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tpbridge.bridge.audit import AuditEntry, entry_json
from tpbridge.bridge.web import openapi
from tpbridge.bridge.web.errors import fail, parse_int
from tpbridge.bridge.web.keys import AGENT, CORE, VIEWER

routes = web.RouteTableDef()


def client_address(request: web.Request) -> str | None:
    return request.remote


async def record(request: web.Request, action: str, object: str | None = None, **detail: Any) -> AuditEntry:
    """One entry for the agent behind this request (the caller checked it may do this)."""
    agent = request.get(AGENT)
    return await request.app[CORE].audit.record(
        action, agent_id=agent.id if agent else None, agent=agent.email if agent else None, object=object,
        address=client_address(request), **detail)


async def page(request: web.Request) -> tuple[list[AuditEntry], str | None]:
    """The newest entries first, filtered by `agent` (id or email) and `action`, paged by cursor."""
    if not request[VIEWER].is_admin:
        fail(403, "forbidden", "only an admin may read the audit trail")
    q = request.query
    limit = parse_int(q.get("limit", "50"), "limit")
    if not 1 <= limit <= 500:
        fail(400, "bad_request", "limit must be between 1 and 500")
    before = parse_int(q["cursor"], "cursor") if q.get("cursor") else None
    agent_id = None
    if ref := q.get("agent"):
        if ref.isdigit():
            agent_id = parse_int(ref, "agent")
        else:
            found = await request.app[CORE].store.agent_by_email(ref)
            if found is None:
                return [], None
            agent_id = found[0].id
    items = await request.app[CORE].store.audit_list(limit + 1, before, agent_id, q.get("action") or None)
    more = len(items) > limit
    items = items[:limit]
    return items, str(items[-1].id) if more else None


@routes.get("/api/v1/audit")
async def list_audit(request: web.Request) -> web.Response:
    items, cursor = await page(request)
    return web.json_response({"items": [entry_json(e) for e in items], "next_cursor": cursor})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    openapi.register("get", "/api/v1/audit", "The audit trail, newest first (admin)",
                     params=["limit", "cursor", "agent", "action"])
