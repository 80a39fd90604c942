"""The agent web app's pages (login, inbox, conversation, admin): mounted by bridge/web/app.py."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the page routes, templates and static files to the app (called once at build time)."""
