"""The inbox's intelligence routes through the real web app: category corrections kept as examples,
alerts acknowledged, contact tiers by API and CLI; bad input is a clear 4xx."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tpbridge.bridge import cli
from tpbridge.bridge.automation import Automation
from tpbridge.bridge.automation.examples import load_corrections
from tpbridge.bridge.model import Priority, Role

from tests.automation.harness import automation_raw
from tests.web.support import web_app


def raw() -> dict[str, object]:
    return {"channels": {"webchat": {"site": {}}}, "automation": automation_raw(),
            "teams": {"support": {"languages": []}}}


async def test_an_agent_corrects_the_category_and_it_becomes_a_labelled_example(tmp_path: Path) -> None:
    async with web_app(tmp_path, raw()) as w:
        a = Automation(w.core)
        await w.agent("ann@example.com", "Ann", Role.ADMIN)
        conv = await w.say("m1", "u1", "the chart page stays blank since yesterday")
        status, body = await w.api("POST", f"/api/v1/conversations/{conv.id}/category", "ann@example.com",
                                   {"category": "technical"})
        assert status == 200 and body["category"] == "technical"
        stored = await w.core.store.get_conversation(conv.id)
        assert stored is not None and stored.attrs["classification"]["by"] == "agent"
        examples = load_corrections(w.core.config.data_dir / "examples")
        assert [(e.text, e.category) for e in examples] == [("the chart page stays blank since yesterday",
                                                             "technical")]
        # a category nobody knows is refused with the list
        status, body = await w.api("POST", f"/api/v1/conversations/{conv.id}/category", "ann@example.com",
                                   {"category": "weather"})
        assert status == 422 and "technical" in body["error"]["message"]
        status, body = await w.api("GET", "/api/v1/categories", "ann@example.com")
        assert status == 200 and {"security", "complaint", "technical"} <= set(body["items"])
        assert a.brain is not None


async def test_tier_by_api_and_by_cli(tmp_path: Path) -> None:
    async with web_app(tmp_path, raw()) as w:
        await w.agent("ann@example.com", "Ann", Role.ADMIN)
        conv = await w.say("m1", "u1", "hello")
        path = f"/api/v1/contacts/{conv.contact_id}"
        status, body = await w.api("PATCH", path, "ann@example.com", {"tier": "VIP"})
        assert status == 200 and body["tier"] == "vip"
        status, body = await w.api("PATCH", path, "ann@example.com", {"tier": None})
        assert status == 200 and body["tier"] is None
        status, body = await w.api("PATCH", path, "ann@example.com", {"tier": 5})
        assert status == 422 and body["error"]["code"] == "invalid"
        status, body = await w.api("PATCH", path, "ann@example.com", {"colour": "red"})
        assert status == 400 and "colour" in body["error"]["message"]
        status, body = await w.api("PATCH", "/api/v1/contacts/999", "ann@example.com", {"tier": "vip"})
        assert status == 404
    toml = tmp_path / "tpbridge.toml"
    toml.write_text(f'[bridge]\ndata_dir = "{tmp_path / "data"}"\n[store]\nurl = "{w.core.config.store.url}"\n',
                    encoding="utf-8")
    args = cli.parser().parse_args(["contact", "tier", str(conv.contact_id), "vip", "-c", str(toml)])
    assert await asyncio.to_thread(args.fn, args) == 0  # the command runs its own event loop
    args = cli.parser().parse_args(["contact", "tier", "999", "vip", "-c", str(toml)])
    assert await asyncio.to_thread(args.fn, args) == 1


async def test_alert_is_acknowledged_from_the_inbox(tmp_path: Path) -> None:
    cfg = raw()
    cfg["automation"] = automation_raw(alerts={"webhook_url": "http://127.0.0.1:9/never"})
    async with web_app(tmp_path, cfg) as w:
        a = Automation(w.core)
        await w.agent("ann@example.com", "Ann", Role.ADMIN)
        conv = await w.say("m1", "u1", "someone drained my wallet")
        status, body = await w.api("POST", f"/api/v1/conversations/{conv.id}/alert/ack", "ann@example.com")
        assert status == 409 and body["error"]["code"] == "no_alert"
        await w.core.desk.update(conv.id, category="security", priority=int(Priority.URGENT))
        from tpbridge.bridge.automation import alerts

        await alerts.raise_alert(a, await w.core.desk.conversation(conv.id))
        stored = await w.core.desk.conversation(conv.id)
        assert stored.attrs["alert"]["state"] == "open"
        assert stored.attrs["alert"]["targets"]["webhook"]["error"]  # port 9: refused, recorded, retried later
        status, body = await w.api("POST", f"/api/v1/conversations/{conv.id}/alert/ack", "ann@example.com")
        assert status == 200
        stored = await w.core.desk.conversation(conv.id)
        assert stored.attrs["alert"]["state"] == "acknowledged"
        assert json.loads(await w.core.store.kv_get(alerts.OPEN_KEY) or "[]") == []
