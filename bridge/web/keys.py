"""Typed application and request keys (aiohttp's AppKey) shared by the web modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from aiohttp import web
from tpbridge.bridge.model import Agent, Viewer

if TYPE_CHECKING:
    from tpbridge.bridge.core import Core

CORE: web.AppKey[Core] = web.AppKey("core")
AGENT: web.RequestKey[Agent] = web.RequestKey("tpb.agent", Agent)  # the authenticated agent, or absent
VIEWER: web.RequestKey[Viewer] = web.RequestKey("tpb.viewer", Viewer)  # decides visibility
VIA_SESSION: web.RequestKey[bool] = web.RequestKey("tpb.via_session", bool)  # authenticated by the cookie
CSRF: web.RequestKey[str] = web.RequestKey("tpb.csrf", str)  # the session's CSRF token (for templates)
CREDENTIAL: web.RequestKey[tuple[Literal["token", "session"], str]] = web.RequestKey("tpb.credential", tuple)
