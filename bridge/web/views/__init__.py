"""The agent web app's pages (login, inbox, conversation, admin): mounted by bridge/web/app.py.

Pages are server-rendered (Jinja2) shells; the inbox itself is small plain JavaScript
(static/inbox.js) talking to the REST API and the SSE stream with the session cookie
and the CSRF token from `<meta name="csrf-token">`.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from tpbridge.bridge.web import admin_api, audit_api, tokens_api
from tpbridge.bridge.web.views import admin, login, pages

WEB = Path(__file__).resolve().parent.parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"


def setup(app: web.Application) -> None:
    """Add the page routes, templates and static files to the app (called once at build time)."""
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    resource = app.router.add_static("/static/", STATIC, name="static", append_version=True)
    # Versioned URLs (?v=<hash>) so a new release is never served from a stale cache.
    env.globals["static"] = lambda name: str(resource.url_for(filename=name))
    login.setup(app)
    pages.setup(app)
    admin.setup(app)
    admin_api.setup(app)
    audit_api.setup(app)
    tokens_api.setup(app)
