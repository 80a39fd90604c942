"""Reports: honest first response (business hours, human replies only), medians/p90, CSAT, deflection, volumes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from tpbridge.bridge.automation.hours import Hours
from tpbridge.bridge.automation.reports import compute, percentile
from tpbridge.bridge.automation.settings import TeamSettings
from tpbridge.bridge.metrics import Metrics
from tpbridge.bridge.model import Role
from tpbridge.bridge.web import openapi
from tpbridge.bridge.web.app import build_app
from tpbridge.bridge.web.auth import digest, new_token
from tpbridge.bridge.web.reports import setup_reports

from tests.automation.harness import Harness, harness

TEAMS = {"support": {"languages": ["zh", "en"]}}


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == 5 and percentile(values, 90) == 9 and percentile([], 50) is None


def test_first_response_counts_business_hours_only() -> None:
    team = TeamSettings(timezone="Asia/Shanghai", hours={"mon-fri": "09:00-18:00"})
    friday_evening = datetime(2026, 11, 27, 9, 30, tzinfo=UTC).timestamp()  # 17:30 local
    monday_morning = datetime(2026, 11, 30, 1, 30, tzinfo=UTC).timestamp()  # 09:30 local
    rows = {
        "conversations": [{"id": 1, "channel": "webchat", "inbox": "webchat.site", "category": "account",
                           "language": "zh", "resolved_at": monday_morning + 60}],
        "cycles": [{"conversation_id": 1, "team": "support", "reason": "handoff", "started_at": friday_evening,
                    "first_human_at": monday_morning, "resolved_at": monday_morning + 60}],
        "bot": [], "surveys": [], "inbound": [{"created_at": friday_evening}],
    }
    r = compute(rows, lambda t: Hours.of(team), since=0, until=2e9, tz="Asia/Shanghai")
    assert r["first_response"]["median_seconds"] == 3600  # 30 min Friday + 30 min Monday, not 64 h
    assert r["volumes"]["by_hour"][17] == 1 and r["volumes"]["by_category"] == {"account": 1}


async def _story(h: Harness) -> None:
    agent = await h.agent("a@example.com", teams=("support",))
    await h.say("充值不到账怎么办", "deflected")
    await h.say("是的，解决了", "deflected")
    conv = await h.say("转人工", "human")
    await h.answer_and_resolve(conv.id, agent, "你好，我来看看")
    await h.say("1", "human")
    await h.say("I forgot my password", "en")


async def test_report_numbers_from_a_story(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        await _story(h)
        rows = await h.core.store.report_rows(0, 2e9)
        r = compute(rows, lambda t: Hours.of(None), since=0, until=2e9)
        assert r["bot"]["answered"] == 2 and r["bot"]["deflected"] == 2
        assert r["bot"]["resolved_by_bot"] == 1
        assert r["csat"]["distribution"]["1"] == 1 and r["csat"]["satisfied_rate"] == 0
        assert r["reopen_rate"]["reopened"] == 1 and r["reopen_rate"]["rate"] == 0.5
        assert r["first_response"]["count"] == 1 and r["first_response"]["unanswered"] == 1  # the complaint
        assert r["volumes"]["by_language"]["zh-Hans"] >= 2
        assert r["volumes"]["by_channel"] == {"webchat": 3}  # the survey answer's carrier is not counted
        # per agent as well as per team: who wrote the first human reply, and how long it took
        by_agent = r["first_response"]["by_agent"]
        assert by_agent["a"]["answered"] == 1 and by_agent["a"]["count"] == 1
        assert r["first_response"]["by_team"]["support"]["count"] == 1


async def test_reports_api_page_and_metrics(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        h.core.extras["metrics"] = Metrics()
        from tpbridge.bridge.automation import Automation

        h.a = Automation(h.core)  # its counters on the daemon's registry
        await _story(h)
        admin = await h.core.store.add_agent("admin@example.com", "Admin", Role.ADMIN, None, (), ())
        token = new_token()
        await h.core.store.add_token(admin.id, digest(token), None)
        app = build_app(h.core)
        wired = any(getattr(r.resource, "canonical", "") == "/api/v1/reports" for r in app.router.routes())
        if not wired:  # until the app mounts it itself; the OpenAPI entry is taken back below
            setup_reports(app)
        try:
            await _check_routes(app, token)
        finally:
            if not wired:
                openapi.OPERATIONS.pop(("get", "/api/v1/reports"), None)


async def _check_routes(app: web.Application, token: str) -> None:
    async with TestClient(TestServer(app)) as client:
        auth = {"Authorization": f"Bearer {token}"}
        resp = await client.get("/api/v1/reports?days=7", headers=auth)
        assert resp.status == 200
        body = await resp.json()
        assert body["csat"]["responses"] == 1 and "first_response" in body and "p90_seconds" in body["resolution"]
        assert (await client.get("/api/v1/reports")).status == 401
        assert (await client.get("/api/v1/reports?days=0", headers=auth)).status == 400
        page = await client.get("/reports", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"] == "/login"
        page = await client.get("/reports", headers=auth)
        text = await page.text()
        assert page.status == 200 and "<svg" in text and "Bot deflection" in text
        doc = await (await client.get("/api/v1/openapi.json")).json()
        assert "/api/v1/reports" in doc["paths"]
        metrics = await (await client.get("/metrics")).text()
        assert "tpbridge_bot_answers_total" in metrics and "tpbridge_survey_answers_total" in metrics
        assert "tpbridge_handoffs_total" in metrics
