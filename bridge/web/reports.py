"""Support reports: `GET /api/v1/reports` (JSON) and the `/reports` page (plain HTML with inline SVG charts).

Mounted by `setup_reports(app)` (called from the app's setup); the OpenAPI entry
is registered there too, so the document names exactly the routes served.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from tpbridge.bridge.automation.hours import Hours
from tpbridge.bridge.automation.reports import compute
from tpbridge.bridge.model import Viewer
from tpbridge.bridge.web import openapi
from tpbridge.bridge.web.errors import fail
from tpbridge.bridge.web.keys import AGENT, CORE, VIEWER
from tpbridge.bridge.web.views.render import secure

MAX_DAYS = 366


def _period(request: web.Request) -> tuple[float, float]:
    q = request.query
    try:
        until = datetime.fromisoformat(q["until"].replace("Z", "+00:00")) if q.get("until") else datetime.now(UTC)
        if q.get("since"):
            since = datetime.fromisoformat(q["since"].replace("Z", "+00:00"))
        else:
            days = int(q.get("days", "30"))
            if not 0 < days <= MAX_DAYS:
                raise ValueError
            since = until - timedelta(days=days)
    except ValueError:
        fail(400, "bad_request", f"since/until must be ISO 8601 times and days a number from 1 to {MAX_DAYS}")
    if since.tzinfo is None or until.tzinfo is None:
        fail(400, "bad_request", "since/until need a time zone (e.g. a trailing Z)")
    if since >= until:
        fail(400, "bad_request", "since must be before until")
    return since.timestamp(), until.timestamp()


async def report(request: web.Request) -> dict[str, Any]:
    core = request.app[CORE]
    since, until = _period(request)
    rows = scoped(await core.store.report_rows(since, until), request[VIEWER])
    teams = core.config.teams
    hours = {name: Hours.of(t) for name, t in teams.items()}

    def hours_of(team: str | None) -> Hours:
        return hours.get(team or "", Hours.of(None))

    return compute(rows, hours_of, since=since, until=until, tz=core.config.automation.reports_timezone)


def scoped(rows: dict[str, list[dict[str, Any]]], viewer: Viewer) -> dict[str, list[dict[str, Any]]]:
    """An agent's report counts only the conversations of their teams' inboxes; an admin's counts all."""
    if viewer.is_admin:
        return rows

    def visible(conv: dict[str, Any]) -> bool:
        if conv.get("team") is not None:
            return conv["team"] in viewer.teams
        return "*" in viewer.team_inboxes or conv.get("inbox") in viewer.team_inboxes

    convs = [c for c in rows["conversations"] if visible(c)]
    ids = {c["id"] for c in convs}
    out = {key: [r for r in value if r.get("conversation_id") in ids] for key, value in rows.items()}
    out["conversations"] = convs
    return out


async def reports_json(request: web.Request) -> web.Response:
    return web.json_response(await report(request))


# ---------------------------------------------------------------- the page
def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def bars(title: str, data: dict[str, int] | list[int], *, width: int = 520) -> str:
    """A horizontal bar chart as inline SVG: no script, no build step, readable without colour."""
    items = list(data.items()) if isinstance(data, dict) else [(f"{i:02d}", v) for i, v in enumerate(data)]
    row, label_w = 18, 110
    top = max([v for _k, v in items] + [1])
    parts = [f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>',
             f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" height="{row * len(items) + 4}">']
    for i, (key, value) in enumerate(items):
        y = i * row
        w = (width - label_w - 50) * value / top
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="12">{html.escape(str(key))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="#3b82f6"></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="12">{value}</text>')
    parts.append("</svg></figure>")
    return "".join(parts)


def render_page(r: dict[str, Any]) -> str:
    v, frt, res, csat, bot = r["volumes"], r["first_response"], r["resolution"], r["csat"], r["bot"]
    tiles = [
        ("Conversations", str(v["conversations"])),
        ("First response (median / p90)", f"{_dur(frt['median_seconds'])} / {_dur(frt['p90_seconds'])}"),
        ("Resolution (median / p90)", f"{_dur(res['median_seconds'])} / {_dur(res['p90_seconds'])}"),
        ("Reopen rate", _pct(r["reopen_rate"]["rate"])),
        ("CSAT (4–5)", f"{_pct(csat['satisfied_rate'])} of {csat['responses']}"),
        ("Bot deflection", f"{_pct(bot['deflection_rate'])} of {bot['answered']}"),
    ]
    tile_html = "".join(f'<div class="tile"><div class="k">{html.escape(k)}</div><div class="v">{html.escape(val)}'
                        "</div></div>" for k, val in tiles)
    defs = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(d)}</li>" for k, d in r["definitions"].items())
    period = r["period"]
    charts = "".join([
        bars(f"Messages by hour ({period['timezone']})", v["by_hour"]),
        bars("Conversations by channel", v["by_channel"]),
        bars("Conversations by category", v["by_category"]),
        bars("Conversations by language", v["by_language"]),
        bars("Satisfaction answers (1–5)", csat["distribution"]),
        bars("First response median by team (minutes)",
             {t: round((s["median_seconds"] or 0) / 60) for t, s in frt["by_team"].items()}),
        bars("First response median by agent (minutes)",
             {a: round((s["median_seconds"] or 0) / 60) for a, s in frt.get("by_agent", {}).items()}),
        bars("Conversations first answered, by agent",
             {a: s["answered"] for a, s in frt.get("by_agent", {}).items()}),
    ])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reports · tpbridge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#111}} a{{color:#2563eb}}
.tiles{{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}}
.tile{{border:1px solid #ddd;border-radius:6px;padding:.6rem .9rem;min-width:11rem}}
.tile .k{{font-size:.8rem;color:#555}} .tile .v{{font-size:1.3rem;font-weight:600}}
.charts{{display:flex;flex-wrap:wrap;gap:1.5rem}} figure{{margin:0}} figcaption{{font-weight:600;margin:.3rem 0}}
form{{margin:.5rem 0}} details{{margin-top:1.5rem;color:#444}}
</style></head><body>
<p><a href="/">← Inbox</a></p>
<h1>Reports</h1>
<form method="get"><label>Last <input name="days" type="number" min="1" max="{MAX_DAYS}" value="{r['_days']}"
 style="width:4rem"> days</label> <button>Show</button>
 · <a href="/api/v1/reports?days={r['_days']}">JSON</a></form>
<p>{html.escape(period['since'])} – {html.escape(period['until'])}</p>
<div class="tiles">{tile_html}</div>
<div class="charts">{charts}</div>
<details><summary>How these are measured</summary><ul>{defs}</ul></details>
</body></html>"""


async def reports_page(request: web.Request) -> web.Response:
    if AGENT not in request:
        raise web.HTTPSeeOther("/login")
    data = await report(request)
    data["_days"] = html.escape(request.query.get("days", "30"))
    response = web.Response(text=render_page(data), content_type="text/html")
    secure(response)
    return response


def setup_reports(app: web.Application) -> None:
    """Add the reports routes and their OpenAPI entry (once, at build time)."""
    app.router.add_get("/api/v1/reports", reports_json)
    app.router.add_get("/reports", reports_page)
    openapi.register("get", "/api/v1/reports", "Support reports: first response, resolution, reopens, CSAT, "
                     "bot deflection, volumes (medians and p90)", params=["days", "since", "until"])
