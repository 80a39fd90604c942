"""The inbox pages: `/` (the list) and `/conversations/{id}` (a deep link), one shell for both."""

from __future__ import annotations

import json

from aiohttp import web
from tpbridge.bridge.config import adapter_entry_points
from tpbridge.bridge.web.keys import AGENT, CORE, VIEWER
from tpbridge.bridge.web.views.render import render, signed_in, to_login


async def _shell(request: web.Request, conversation_id: int | None) -> web.Response:
    if not signed_in(request):
        raise to_login(request)
    agent = request[AGENT]
    core = request.app[CORE]
    boot = {
        "me": {"id": agent.id, "name": agent.name, "email": agent.email, "role": agent.role.value,
               "teams": list(agent.teams), "ui_language": agent.ui_language, "presence": agent.presence},
        "is_admin": request[VIEWER].is_admin,
        "conversation_id": conversation_id,
        "inboxes": [{"name": c.name, "channel": c.kind} for c in core.config.enabled_channels],
        # Every installed channel kind (conversations outlive an inbox's removal from the config).
        "channels": sorted(adapter_entry_points()),
    }
    # Inside <script type="application/json">: "<" escaped so no name can close the tag.
    text = json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return render(request, "inbox.html", {"boot": text})


async def inbox(request: web.Request) -> web.Response:
    return await _shell(request, None)


async def conversation(request: web.Request) -> web.Response:
    try:
        conv_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    return await _shell(request, conv_id)


def setup(app: web.Application) -> None:
    app.router.add_get("/", inbox)
    app.router.add_get("/conversations/{id}", conversation)
