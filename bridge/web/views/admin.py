"""Admin pages: agents, teams, canned responses, quarantine. Server-rendered lists; the forms
submit through static/admin.js to the admin API (same validation, CSRF header)."""

from __future__ import annotations

from datetime import UTC

from aiohttp import web
from tpbridge.bridge.web.keys import CORE, VIEWER
from tpbridge.bridge.web.views.render import render, signed_in, to_login


def _guard(request: web.Request) -> web.Response | None:
    if not signed_in(request):
        raise to_login(request)
    if not request[VIEWER].is_admin:
        return render(request, "admin/forbidden.html", status=403)
    return None


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
    items = [{"when": q.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), "inbox": q.inbox,
              "external_id": q.external_id, "reason": q.reason, "size": q.size}
             for q in await request.app[CORE].store.list_quarantine()]
    return render(request, "admin/quarantine.html", {"items": items, "section": "quarantine"})


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", admin_home)
    app.router.add_get("/admin/agents", agents)
    app.router.add_get("/admin/teams", teams)
    app.router.add_get("/admin/canned", canned)
    app.router.add_get("/admin/quarantine", quarantine)


async def admin_home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/admin/agents")
