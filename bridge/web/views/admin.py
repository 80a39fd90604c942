"""Admin pages: agents, teams, canned responses, quarantine, the audit trail. Server-rendered lists; the forms
submit through static/admin.js to the admin API (same validation, CSRF header)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from tpbridge.bridge.audit import ACTIONS, entry_json
from tpbridge.bridge.web import audit_api
from tpbridge.bridge.web.keys import CORE, VIEWER
from tpbridge.bridge.web.views.render import render, signed_in, to_login


def _guard(request: web.Request) -> web.Response | None:
    if not signed_in(request):
        raise to_login(request)
    if not request[VIEWER].is_admin:
        return render(request, "admin/forbidden.html", status=403)
    return None


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value or "")


async def agents(request: web.Request) -> web.Response:
    if (denied := _guard(request)) is not None:
        return denied
    store = request.app[CORE].store
    return render(request, "admin/agents.html", {"agents": await store.list_agents(),
                                                 "teams": await store.list_teams(), "section": "agents"})


async def teams(request: web.Request) -> web.Response:
    if (denied := _guard(request)) is not None:
        return denied
    core = request.app[CORE]
    return render(request, "admin/teams.html", {
        "teams": await core.store.list_teams(), "section": "teams",
        "inboxes": [c.name for c in core.config.enabled_channels]})


async def canned(request: web.Request) -> web.Response:
    if (denied := _guard(request)) is not None:
        return denied
    items = await request.app[CORE].store.list_canned()
    return render(request, "admin/canned.html", {"items": items, "section": "canned"})


async def quarantine(request: web.Request) -> web.Response:
    if (denied := _guard(request)) is not None:
        return denied
    items = [{"when": _when(q.created_at.timestamp()), "inbox": q.inbox, "external_id": q.external_id,
              "reason": q.reason, "size": q.size} for q in await request.app[CORE].store.list_quarantine()]
    return render(request, "admin/quarantine.html", {"items": items, "section": "quarantine"})


async def audit(request: web.Request) -> web.Response:
    """The audit trail, newest first, filtered like GET /api/v1/audit (the same query parameters)."""
    if (denied := _guard(request)) is not None:
        return denied
    entries, cursor = await audit_api.page(request)
    items = [{**entry_json(e), "when": _when(e.at)} for e in entries]
    more = {**request.query, "cursor": cursor} if cursor else None
    return render(request, "admin/audit.html", {
        "items": items, "section": "audit", "actions": ACTIONS, "agent": request.query.get("agent", ""),
        "action": request.query.get("action", ""), "older": urlencode(more) if more else None})


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", admin_home)
    app.router.add_get("/admin/agents", agents)
    app.router.add_get("/admin/teams", teams)
    app.router.add_get("/admin/canned", canned)
    app.router.add_get("/admin/quarantine", quarantine)
    app.router.add_get("/admin/audit", audit)


async def admin_home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/admin/agents")
