"""The public privacy pages: the plain-language notice for the people who write in, and export downloads.

Neither needs an agent: the notice is public, and an export link is its own credential
(a random token of 32 bytes, valid for an hour, only its hash stored).
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web
from tpbridge.bridge.privacy import export
from tpbridge.bridge.web import i18n
from tpbridge.bridge.web.keys import CORE
from tpbridge.bridge.web.views.render import secure


async def notice(request: web.Request) -> web.Response:
    core = request.app[CORE]
    lang = request.query.get("lang") if request.query.get("lang") in i18n.LANGUAGES else None
    lang = lang or i18n.from_header(request.headers.get("Accept-Language", ""))
    response = aiohttp_jinja2.render_template("privacy.html", request, {
        "lang": lang, "retain_days": core.config.privacy.retain_days,
        "encrypted": bool(getattr(core.config.store, "encryption_key", None)),
        "anonymous": any(c.settings.anonymous for c in core.config.enabled_channels),
    })
    secure(response)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


async def download(request: web.Request) -> web.Response:
    core = request.app[CORE]
    contact_id = await export.link_contact(core.store, request.match_info["token"])
    data = await core.store.export_contact(contact_id) if contact_id is not None else None
    if contact_id is None or data is None:
        raise web.HTTPNotFound(text="This link has expired or was already used up. Ask again with /mydata.")
    blob = await export.build_zip(data, core.files)
    return web.Response(body=blob, headers={
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="my-data-{contact_id}.zip"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
    })


def setup(app: web.Application) -> None:
    app.router.add_get("/privacy", notice)
    app.router.add_get("/privacy/export/{token}", download)
