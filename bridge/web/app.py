"""The one aiohttp application: API, SSE, agent web app, web chat, channel webhooks, health."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware
from tpbridge.adapters.base import HasWebhooks
from tpbridge.bridge.store.protocol import StoreUnavailable
from tpbridge.bridge.web import api, client_address, desk_api, help, intelligence_api, openapi, privacy, sse, views
from tpbridge.bridge.web.auth import auth_middleware
from tpbridge.bridge.web.errors import error_response
from tpbridge.bridge.web.keys import CORE
from tpbridge.bridge.web.reports import setup_reports

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every /api error is JSON; nothing unexpected escapes as a bare traceback; a request whose path or
    query string names U+0000 goes no further (`_names_nul`)."""
    if "%00" in request.rel_url.raw_path_qs and _names_nul(request):
        return error_response(400, "bad_request", "the path or query string holds a NUL character (%00)")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith("/api/") and exc.content_type != "application/json" and exc.status >= 400:
            code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "http_error")
            return error_response(exc.status, code, exc.reason)
        raise
    except StoreUnavailable as exc:  # nothing was stored: the client (or the channel) retries later
        log.warning("http.store_unavailable", path=request.path, error=str(exc)[:200])
        resp = error_response(503, "store_unavailable", "the store cannot be reached; nothing was stored, retry")
        resp.headers["Retry-After"] = "2"
        return resp
    except HttpProcessingError as exc:  # a malformed part of the request (e.g. a multipart header)
        log.info("http.malformed", path=request.path, method=request.method, reason=exc.message)
        return error_response(400, "malformed", f"the request cannot be read: {exc.message}")
    except RecursionError:  # a nesting too deep for a parser: the input's fault
        log.warning("http.too_deep", path=request.path, method=request.method)
        return error_response(400, "too_deep", "the input is nested too deeply")
    except ConnectionError:  # the client went away mid-answer: normal
        log.debug("http.client_gone", path=request.path, method=request.method)
        raise
    except Exception:
        log.exception("http.unhandled", path=request.path, method=request.method)
        return error_response(500, "internal", "internal error (logged)")


def _names_nul(request: web.Request) -> bool:
    """PostgreSQL's text cannot hold U+0000 (SQLite's can): a filter, a search or a name in the path that
    carries one is refused here, on either store alike, rather than failing in a statement."""
    return "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.query.items())


async def healthz(request: web.Request) -> web.Response:
    """200 while the store answers (`degraded` when a channel refused its credentials); 503 when the store
    does not: nothing can be stored, so a load balancer should send the traffic to another instance."""
    core = request.app[CORE]
    try:
        await core.store.ping()
    except Exception as exc:
        return web.json_response({"status": "degraded", "store": {"state": "unreachable", "reason": str(exc)[:200]},
                                  "channels": core.health.snapshot()}, status=503)
    return web.json_response({"status": "ok" if core.health.ok else "degraded", "store": {"state": "ok"},
                              "channels": core.health.snapshot()})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text; behind `[http] metrics_token` when one is set (compared in constant time)."""
    core = request.app[CORE]
    expected = core.config.http.metrics_token
    if expected:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return error_response(401, "unauthorized", "a valid metrics token is required",
                                  **{"WWW-Authenticate": "Bearer"})
    body = core.extras["metrics"].render(core.health)
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def build_metrics_app(core: object) -> web.Application:
    """/metrics alone, for `[http] metrics_listen` (a scrape-only address kept off the public one)."""
    from tpbridge.bridge.core import Core

    assert isinstance(core, Core)
    app = web.Application()
    app[CORE] = core
    app.router.add_get("/metrics", metrics)
    return app


def build_app(core: object) -> web.Application:
    from tpbridge.bridge.core import Core

    assert isinstance(core, Core)
    limit = core.config.http.max_attachment_bytes + 1024 * 1024
    proxies = core.config.http.proxy_networks
    middlewares: list[Middleware] = [error_middleware, auth_middleware]
    if proxies:  # first: before anything reads request.remote
        middlewares.insert(0, client_address.middleware(proxies))
    app = web.Application(middlewares=middlewares, client_max_size=limit)
    app[CORE] = core
    app[sse.STREAMS] = sse.Streams()
    app.router.add_get("/healthz", healthz)
    if core.config.http.metrics_listen is None:
        app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi.serve)
    app.router.add_get("/api/v1/events", sse.events)
    app.add_routes(api.routes)
    desk_api.setup(app)
    for name, adapter in core.adapters.items():
        if isinstance(adapter, HasWebhooks):
            app.add_routes(adapter.routes())
            log.info("webhooks.mounted", inbox=name)
    views.setup(app)
    privacy.setup(app)
    help.setup(app)
    intelligence_api.setup(app)
    setup_reports(app)
    return app
