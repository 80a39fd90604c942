"""Typed application and request keys (aiohttp's AppKey) shared by the web modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tpbridge.bridge.core import Core

CORE: web.AppKey[Core] = web.AppKey("core")
AGENT = "tpb.agent"  # request[AGENT]: the authenticated Agent, or absent
VIEWER = "tpb.viewer"  # request[VIEWER]: the Viewer deciding visibility
VIA_SESSION = "tpb.via_session"  # True when authenticated by the web session cookie
CSRF = "tpb.csrf"  # the session's CSRF token (for templates)
