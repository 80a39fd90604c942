"""Rendering a page: the agent, the UI language, the CSRF token and strict security headers."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
from aiohttp import web
from tpbridge.bridge.web import i18n
from tpbridge.bridge.web.keys import AGENT, CSRF, VIA_SESSION, VIEWER

# No inline scripts anywhere, so a stored message can never run script in an agent's session;
# images only from us (email tracking pixels stay dark), frames only srcdoc (email HTML).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "frame-src 'self' about:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def secure(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def signed_in(request: web.Request) -> bool:
    """Pages accept only the session cookie (a bearer token is for the API)."""
    return AGENT in request and bool(request.get(VIA_SESSION))


def render(request: web.Request, template: str, context: dict[str, Any] | None = None, *,
           status: int = 200) -> web.Response:
    agent = request.get(AGENT) if signed_in(request) else None
    lang = i18n.language(request, agent)
    viewer = request.get(VIEWER) if agent else None
    ctx: dict[str, Any] = {
        "lang": lang, "t": i18n.strings(lang), "me": agent, "csrf": request.get(CSRF, ""),
        "is_admin": bool(viewer and viewer.is_admin), "path": request.path,
    }
    ctx.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, ctx, status=status)
    secure(response)
    return response


def to_login(request: web.Request) -> web.HTTPFound:
    if request.path == "/":
        return web.HTTPFound("/login")
    return web.HTTPFound("/login?" + urlencode({"next": request.path_qs}))


def safe_next(value: str | None) -> str:
    """Only a local path: `next` must not turn login into an open redirect.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    `/\t/evil.example` and `/\\evil.example` both mean `//evil.example`: any control or
    format character is refused first, then anything that has a scheme or a host once normalised.
    """
    if not value or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        return "/"
    normal = value.replace("\\", "/")
    parts = urlsplit(normal)
    if parts.scheme or parts.netloc or not normal.startswith("/") or normal.startswith("//"):
        return "/"
    return value
