"""The public help centre: `/help`, `/help?q=`, `/help/<entry-id>`, and the JSON the web chat reads.

Pages are rendered on the server from content loaded once at start (bridge/helpcentre.py);
they work without JavaScript. The language comes from `?lang=` (which also sets a cookie, so
the choice sticks across pages and the web chat), then that cookie, then Accept-Language.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import structlog
from aiohttp import web
from markupsafe import Markup
from tpbridge.bridge.helpcentre import (
    DEFAULT_LANGUAGE,
    Entry,
    HelpCentre,
    HelpError,
    from_accept_language,
    normalise,
)
from tpbridge.bridge.phone import Hotline
from tpbridge.bridge.web.keys import CORE

log = structlog.get_logger(__name__)
HELP: web.AppKey[HelpCentre] = web.AppKey("help", HelpCentre)
LANG_COOKIE = "tpb_lang"  # shared with the web chat page (same origin)
MAX_QUERY = 200
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'self'")


def language(request: web.Request, centre: HelpCentre) -> tuple[str, bool]:
    """The page's language, and whether the URL chose it (then it is remembered)."""
    asked = normalise(request.query.get("lang"), centre.languages)
    if asked is not None:
        return asked, True
    remembered = normalise(request.cookies.get(LANG_COOKIE), centre.languages)
    if remembered is not None:
        return remembered, False
    return from_accept_language(request.headers.get("Accept-Language", ""), centre.languages) or DEFAULT_LANGUAGE, False


def _url(path: str, lang: str, **query: str) -> str:
    return f"{path}?{urlencode({'lang': lang, **query})}"


def _item(entry: Entry, lang: str, snippet: bool = False) -> dict[str, Any]:
    v = entry.version(lang)
    item: dict[str, Any] = {"id": entry.id, "title": v.title, "language": v.language, "kind": entry.kind,
                            "url": _url(f"/help/{entry.id}", lang)}
    if snippet:
        text = " ".join(v.text.replace("#", " ").replace("*", "").split())
        item["snippet"] = text[:160] + ("…" if len(text) > 160 else "")
    return item


def _page(request: web.Request, template: str, lang: str, remember: bool, ctx: dict[str, Any],
          status: int = 200) -> web.Response:
    centre = request.app[HELP]
    here = request.path
    extra = {k: v for k, v in request.query.items() if k != "lang"}
    ctx = {
        "lang": lang, "t": centre.t(lang), "switch": [
            {"code": code, "name": centre.names[code], "url": _url(here, code, **extra), "current": code == lang}
            for code in centre.languages],
        "home": _url("/help", lang), "chat": _url("/chat", lang), "search_url": "/help", **ctx,
    }
    response = aiohttp_jinja2.render_template(template, request, ctx, status=status)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["Vary"] = "Accept-Language, Cookie"
    if remember:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Lax")
    return response


async def index(request: web.Request) -> web.Response:
    centre = request.app[HELP]
    lang, remember = language(request, centre)
    q = request.query.get("q", "").strip()[:MAX_QUERY]
    if q:
        hits = [_item(h.entry, lang, snippet=True) for h in centre.search(q)]
        t = centre.t(lang)
        heading = (t.get("results") or "{n} results for “{q}”").format(n=len(hits), q=q)
        empty = (t.get("no_results") or "Nothing found for “{q}”.").format(q=q)
        return _page(request, "help/search.html", lang, remember, {"q": q, "hits": hits, "heading": heading,
                                                                   "empty": empty})
    guides = [_item(e, lang) for e in centre.order if e.kind == "article"]
    faq = [_item(e, lang) for e in centre.order if e.kind == "faq"]
    suggested = [_item(centre.entries[s], lang) for s in centre.suggested]
    return _page(request, "help/index.html", lang, remember,
                 {"q": "", "guides": guides, "faq": faq, "suggested": suggested})


async def article(request: web.Request) -> web.Response:
    centre = request.app[HELP]
    lang, remember = language(request, centre)
    entry = centre.entries.get(request.match_info["entry"])
    if entry is None:
        t = centre.t(lang)
        return _page(request, "help/search.html", lang, remember, {
            "q": "", "hits": [], "heading": t.get("title", "Help"),
            "empty": (t.get("no_results") or "").format(q=request.match_info["entry"])}, status=404)
    v = entry.version(lang)
    related = [_item(h.entry, lang) for h in centre.search(v.title, limit=4) if h.entry.id != entry.id][:3]
    return _page(request, "help/article.html", lang, remember, {
        "q": "", "entry": entry, "title": v.title, "body": Markup(v.html), "content_lang": v.language,
        "fallback": normalise(v.language, centre.languages) != lang,
        "related": related,
    })


async def widget(request: web.Request) -> web.Response:
    """What the web chat shows before the visitor writes: languages, its words, suggested questions."""
    centre = request.app[HELP]
    lang, _ = language(request, centre)
    return web.json_response({
        "language": lang,
        "languages": [{"code": c, "name": centre.names[c]} for c in centre.languages],
        "strings": centre.t(lang),
        "suggested": [_item(centre.entries[s], lang) for s in centre.suggested],
        "help_url": _url("/help", lang),
        "phone": [{k: info[k] for k in ("inbox", "number", "display", "hours_text", "click_to_call")}
                  for line in request.app[CORE].adapters.values() if isinstance(line, Hotline)
                  for info in (line.public_info(),)],
    }, headers={"Cache-Control": "public, max-age=60", "Vary": "Accept-Language, Cookie"})


async def search(request: web.Request) -> web.Response:
    centre = request.app[HELP]
    lang, _ = language(request, centre)
    q = request.query.get("q", "").strip()[:MAX_QUERY]
    return web.json_response({"items": [_item(h.entry, lang, snippet=True) for h in centre.search(q, limit=8)],
                              "next_cursor": None})


def setup(app: web.Application) -> None:
    """Load the help centre's content once and add its routes (after views.setup: its templates)."""
    config = app[CORE].config
    try:
        app[HELP] = HelpCentre.load(config.config_dir / config.automation.faq_dir, config.config_dir / "help")
    except HelpError as exc:  # a broken article must not take the desk down: say so, serve an empty centre
        log.error("help.invalid", error=str(exc))
        app[HELP] = HelpCentre([], {DEFAULT_LANGUAGE: {}}, ())
    app.router.add_get("/help", index)
    app.router.add_get("/help/api/widget", widget)
    app.router.add_get("/help/api/search", search)
    app.router.add_get("/help/{entry}", article)
