"""Every rule with the daemon running: a real subprocess, visitors on the web chat, agents on the REST API."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.automation.harness import CONFIG
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow

LEAD = "lead@example.com"
# The daemons of one test session share the trained classifier (keyed by the examples' fingerprint).
MODEL_DIR = Path(tempfile.gettempdir()) / f"tpbridge-tests-model-{os.getuid()}"


def automation_toml(team_extra: str = "") -> str:
    return f"""
[automation]
enabled = true
faq_dir = "{CONFIG / 'faq'}"
templates_dir = "{CONFIG / 'templates'}"
classify_rules = "{CONFIG / 'classify.toml'}"
examples_dir = "{CONFIG / 'examples'}"
model_dir = "{MODEL_DIR}"
sweep_seconds = 0.2

[teams.support]
languages = ["zh", "en"]
lead = "{LEAD}"
{team_extra}
"""


async def bot_says(v: Visitor, d: Daemon, fragment: str, timeout: float = 15) -> dict[str, Any]:
    async def seen() -> dict[str, Any] | None:
        return next((m for m in await v.history() if m["author"]["kind"] == "bot" and fragment in m["text"]), None)

    return await d.wait_for(seen, timeout=timeout)


# The automation answers once its models are loaded (scikit-learn and lingua, a few seconds after READY on a
# busy machine; what arrives meanwhile waits in its queue): the first answer of a daemon may take longer.
FIRST = 90


async def conversation_of(d: Daemon, v: Visitor, check: Callable[[dict[str, Any]], bool] = lambda c: True,
                          ) -> dict[str, Any]:
    """The visitor's newest conversation once `check` holds for it, found by the visitor's own messages
    (web chat visitors are anonymous to agents: their identities carry no id to match)."""

    async def found() -> dict[str, Any] | None:
        mine = {m["id"] for m in await v.history()}
        status, body = await d.api("GET", "/api/v1/conversations?status=all&limit=100")
        assert status == 200, body
        for conv in body["items"]:  # newest first; a test has a handful
            _s, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
            if mine & {m["id"] for m in msgs["items"]}:
                return conv if check(conv) else None
        return None

    return await d.wait_for(found, timeout=15)


async def wait(d: Daemon, predicate: Callable[[], Awaitable[Any]]) -> Any:
    return await d.wait_for(predicate, timeout=15)


async def test_chinese_faq_answer_handoff_note_and_security_jumping_the_queue(tmp_path: Path) -> None:
    async with Daemon(tmp_path, extra_toml=automation_toml()) as d:
        # 1. the deposit question is answered in Chinese by the bot
        v = await Visitor(d).start()
        await v.say("充值不到账怎么办")
        answer = await bot_says(v, d, "充值未到账", FIRST)
        assert "交易哈希" in answer["text"] and "解决您的问题" in answer["text"]
        conv = await conversation_of(d, v, lambda c: c["language"] == "zh-Hans" and c["status"] == "pending")

        # 2. 转人工 hands over with a note: the agent sees the question and what the bot tried
        await v.say("转人工")
        ack = await bot_says(v, d, "排在第 1 位")
        assert "预计等待" in ack["text"]
        conv = await conversation_of(d, v, lambda c: c["status"] == "open" and c["team"] == "support")

        async def note() -> dict[str, Any] | None:
            _s, body = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
            return next((m for m in body["items"] if m["private"]), None)

        handoff_note = await wait(d, note)
        assert "充值不到账怎么办" in handoff_note["text"] and "deposit-not-arrived" in handoff_note["text"]
        assert not any("Handoff" in m["text"] for m in await v.history())  # the visitor never sees the note

        # 3. another waits, then stolen money: security, urgent, first in the queue, a safety reply at once
        other = await Visitor(d).start()
        await other.say("human please")
        await bot_says(other, d, "number 2 in the queue")
        victim = await Visitor(d).start()
        await victim.say("我的钱被盗了")
        await bot_says(victim, d, "客服绝不会索要")
        urgent = await conversation_of(d, victim, lambda c: c["category"] == "security")
        assert urgent["priority"] == "urgent" and urgent["status"] == "open"
        assert "助记词" in next(m for m in await victim.history() if m["author"]["kind"] == "bot")["text"]
        # the reports API counts it
        status, report = await d.api("GET", "/api/v1/reports?days=1")
        if status == 200:  # served once the app mounts bridge.web.reports.setup_reports
            assert report["volumes"]["by_category"].get("security") == 1


async def test_agent_pickup_survey_and_low_score_reopens_as_complaint_for_the_lead(tmp_path: Path) -> None:
    async with Daemon(tmp_path, extra_toml=automation_toml()) as d:
        agent_token = d.add_agent("agent@example.com", "Ann", teams=("support",), langs="en")
        lead_token = d.add_agent(LEAD, "Lee", teams=("support",), langs="en,zh")
        v = await Visitor(d).start()
        await v.say("I cannot find the button to export my transaction history as a spreadsheet")
        await bot_says(v, d, "number 1 in the queue", FIRST)
        # Ann comes online: the waiting conversation is assigned to her
        status, _ = await d.api("PATCH", "/api/v1/me", {"presence": "online"}, token=agent_token)
        assert status == 200
        conv = await conversation_of(d, v, lambda c: (c["assignee"] or {}).get("name") == "Ann")
        status, _ = await d.api("POST", f"/api/v1/conversations/{conv['id']}/messages",
                                {"text": "Settings > Export."}, token=agent_token)
        assert status == 202
        status, _ = await d.api("POST", f"/api/v1/conversations/{conv['id']}/status", {"status": "resolved"},
                                token=agent_token)
        assert status == 200
        await bot_says(v, d, "from 1 (poor) to 5")
        await v.say("1")
        await bot_says(v, d, "team lead will follow up")

        async def complaint() -> dict[str, Any] | None:
            _s, c = await d.api("GET", f"/api/v1/conversations/{conv['id']}")
            return c if c["status"] == "open" and c["category"] == "complaint" else None

        c = await wait(d, complaint)
        assert c["assignee"]["name"] == "Lee" and c["priority"] in ("high", "urgent")
        _s, me = await d.api("GET", "/api/v1/me", token=lead_token)
        assert me["email"] == LEAD


async def test_off_hours_message_gets_the_back_at_time_in_the_teams_zone(tmp_path: Path) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    today = datetime.now(zone).date()
    team = f'timezone = "Asia/Shanghai"\nhours = {{ "mon-sun" = "09:00-18:00" }}\nholidays = [{today.isoformat()}]\n'
    async with Daemon(tmp_path, extra_toml=automation_toml(team)) as d:
        v = await Visitor(d).start()
        await v.say("I need a person to look at my account")
        ack = await bot_says(v, d, "Asia/Shanghai", FIRST)
        tomorrow = today + timedelta(days=1)
        assert f"{tomorrow.isoformat()} at 09:00" in ack["text"]
        assert "Deposit not arrived" in ack["text"]  # the FAQ is offered meanwhile


async def test_security_incident_pages_the_on_call_telegram_chat_through_the_outbox(tmp_path: Path) -> None:
    from tests.adapters.test_telegram_daemon import channels
    from tests.fakes.telegram_api import FakeTelegram, message_update

    async with FakeTelegram() as fake:
        fake.push_update(message_update(1, user_id=777, text="/start"))  # the on-call chat wrote to the bot once
        alerts_toml = '\n[automation.alerts]\ntelegram_chat = "telegram.main:777"\nrepeat_minutes = 60\n'
        async with Daemon(tmp_path, channels(fake) + automation_toml() + alerts_toml) as d:
            token = d.add_agent("sec@example.com", "Sam", teams=("support",), langs="en")

            def paged() -> bool:
                return any(c.params.get("chat_id") in (777, "777") and "SECURITY" in str(c.params.get("text"))
                           for c in fake.calls_of("sendMessage"))

            victim = await Visitor(d).start()
            await victim.say("someone drained my wallet, all my USDT is gone")
            await bot_says(victim, d, "Never share your seed phrase", FIRST)
            await fake.wait_for(paged, timeout=30)
            incident = await conversation_of(d, victim, lambda c: c["category"] == "security")
            # the alert is a message of the on-call's own Telegram conversation, delivered by the outbox
            status, body = await d.api("GET", "/api/v1/conversations?inbox=telegram.main&status=all")
            assert status == 200
            oncall = [c for c in body["items"] if (c.get("attrs") or {}).get("oncall")]
            assert len(oncall) == 1
            _s, msgs = await d.api("GET", f"/api/v1/conversations/{oncall[0]['id']}/messages")
            sent = [m for m in msgs["items"] if m["direction"] == "out" and "SECURITY" in m["text"]]
            assert sent and sent[0]["delivery"] in ("queued", "sent")
            # an agent acknowledges it in the inbox: no more pages
            status, _ = await d.api("POST", f"/api/v1/conversations/{incident['id']}/alert/ack", {}, token=token)
            assert status == 200
