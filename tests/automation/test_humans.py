"""Assignment, queue updates, business hours, surveys and first-response cycles, in process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tpbridge.adapters.base import ThreadHint
from tpbridge.bridge.model import Author, AuthorKind, Priority

from tests.automation.harness import harness
from tests.support.core import inbound

TEAMS = {"support": {"languages": ["zh", "en"], "lead": "lead@example.com"}}


def closed_today(tz: str = "Asia/Shanghai") -> dict[str, object]:
    """A team whose today (in its zone) is a holiday: closed now, back tomorrow at 09:00 local."""
    today = datetime.now(ZoneInfo(tz)).date()
    return {"support": {"timezone": tz, "hours": {"mon-sun": "09:00-18:00"}, "holidays": [today],
                        "lead": "lead@example.com"}}


async def test_online_agent_speaking_the_language_gets_it(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        await h.agent("en@example.com", teams=("support",), languages=("en",))
        zh = await h.agent("zh@example.com", teams=("support",), languages=("zh",))
        await h.agent("away@example.com", teams=("support",), languages=("zh",), online=False)
        conv = await h.say("转人工，我的提现有问题")
        assert conv.assignee_id == zh
        assert "zh" in (await h.bot_texts(conv.id))[-1] or "将很快" in (await h.bot_texts(conv.id))[-1]


async def test_balanced_by_open_conversations(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        a = await h.agent("a@example.com", teams=("support",))
        b = await h.agent("b@example.com", teams=("support",))
        got = [(await h.say("转人工", f"u{i}")).assignee_id for i in range(4)]
        assert sorted(got) == [a, a, b, b]


async def test_queue_waits_then_an_agent_coming_online_takes_the_highest_priority(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        agent = await h.agent("a@example.com", teams=("support",), online=False, capacity=1)
        normal = await h.say("转人工", "a")
        urgent = await h.say("my funds were stolen", "b")
        assert normal.assignee_id is None and urgent.assignee_id is None
        await h.core.store.update_agent(agent, presence="online")
        await h.settle(sweep=True)
        assert (await h.core.store.get_conversation(urgent.id)).assignee_id == agent  # type: ignore[union-attr]
        assert (await h.core.store.get_conversation(normal.id)).assignee_id is None  # type: ignore[union-attr]


async def test_position_update_only_when_it_moved_materially(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        convs = [await h.say("human please", f"u{i}") for i in range(6)]
        last = convs[-1]
        assert "number 6 in the queue" in (await h.bot_texts(last.id))[-1]
        agent = await h.agent("a@example.com", teams=("support",), capacity=1)
        await h.settle(sweep=True)  # one place: no message
        assert len(await h.bot_texts(last.id)) == 1
        await h.core.store.update_agent(agent, capacity=4)
        await h.settle(sweep=True)  # 6 -> 2: worth telling
        texts = await h.bot_texts(last.id)
        assert len(texts) == 2 and "now number 2" in texts[-1]


async def test_off_hours_acknowledgement_says_when_the_team_is_back_in_its_zone(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=closed_today()) as h:
        conv = await h.say("转人工")
        ack = (await h.bot_texts(conv.id))[-1]
        tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
        assert tomorrow.isoformat() in ack and "09:00" in ack and "Asia/Shanghai" in ack
        assert "充值未到账" in ack  # the FAQ is offered meanwhile


async def test_bot_only_off_hours_mode(tmp_path: Path) -> None:
    open_team = {"support": {}}
    async with harness(tmp_path, {"inboxes": {"*": {"bot": "off_hours"}}}, teams=open_team) as h:
        conv = await h.say("充值不到账怎么办")
        assert conv.attrs["automation"]["stage"] == "human"  # team open: humans answer
    async with harness(tmp_path / "closed", {"inboxes": {"*": {"bot": "off_hours"}}}, teams=closed_today()) as h:
        conv = await h.say("充值不到账怎么办")
        assert conv.attrs["automation"]["stage"] == "bot"  # team closed: the bot answers


async def test_survey_on_resolve_good_score_stays_resolved(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        agent = await h.agent("a@example.com", teams=("support",))
        conv = await h.say("转人工")
        await h.answer_and_resolve(conv.id, agent, "Hi, fixed it")
        assert "1 (很差)" in (await h.bot_texts(conv.id))[-1] or "1（很差）" in (await h.bot_texts(conv.id))[-1]
        carrier = await h.say("很满意")
        assert carrier.status.value == "resolved" and carrier.linked_conversation_id == conv.id
        conv = await h.core.store.get_conversation(conv.id)  # type: ignore[assignment]
        assert conv.status.value == "resolved"
        assert (await h.bot_texts(conv.id))[-1] == "感谢您的评价！"
        report = await h.core.store.report_rows(0, 2e9)
        assert [s["score"] for s in report["surveys"]] == [5]


async def test_survey_score_of_1_reopens_as_complaint_for_the_team_lead(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        agent = await h.agent("a@example.com", teams=("support",))
        lead = await h.agent("lead@example.com", teams=("support",), online=False)
        conv = await h.say("human please")
        await h.answer_and_resolve(conv.id, agent, "Done")
        await h.say("1")
        conv = await h.core.store.get_conversation(conv.id)  # type: ignore[assignment]
        assert conv.status.value == "open" and conv.category == "complaint"
        assert conv.assignee_id == lead and conv.priority >= Priority.HIGH
        assert "team lead" in (await h.bot_texts(conv.id))[-1]
        assert "Satisfaction 1/5" in (await h.notes(conv.id))[-1]


async def test_a_new_question_after_resolve_restarts_the_first_response_clock(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        agent = await h.agent("a@example.com", teams=("support",))
        author = Author(AuthorKind.AGENT, agent, "a")
        conv = await h.say("human please")
        await h.answer_and_resolve(conv.id, agent, "Hello")
        first = (await h.messages(conv.id))[0]
        conv = await h.say("Actually my withdrawal is stuck again since this morning",
                           thread=ThreadHint(references=(first.external_id,)))
        assert conv.status.value == "open" and conv.attrs["automation"]["stage"] == "human"
        await h.core.desk.reply(conv.id, "Looking", author=author)
        await h.settle()
        cycles = (await h.core.store.report_rows(0, 2e9))["cycles"]
        assert [c["reason"] for c in cycles] == ["handoff", "reopen"]
        assert all(c["first_human_at"] for c in cycles)
        assert datetime.fromtimestamp(cycles[1]["started_at"], UTC) > datetime.fromtimestamp(
            cycles[0]["first_human_at"], UTC)


async def test_forgetting_a_contact_leaves_only_anonymous_report_rows(tmp_path: Path) -> None:
    """The privacy design: an erasure keeps reports' counts as anonymous rows, nothing that names the person."""
    async with harness(tmp_path, teams=TEAMS) as h:
        agent = await h.agent("a@example.com", teams=("support",))
        conv = await h.say("human please")
        await h.answer_and_resolve(conv.id, agent, "Done")
        await h.say("5")
        await h.core.store.forget_contact(conv.contact_id)
        assert await h.core.store.get_conversation(conv.id) is None
        rows = await h.core.store.report_rows(0, 2e9)
        assert all(r.get("contact_id") is None for r in rows["surveys"])


async def test_survey_answer_in_the_same_thread_resolves_it_again(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        agent = await h.agent("a@example.com", teams=("support",))
        conv = await h.say("human please")
        await h.answer_and_resolve(conv.id, agent, "Done")
        first = (await h.messages(conv.id))[0]
        again = await h.say("⭐⭐⭐⭐⭐", thread=ThreadHint(references=(first.external_id,)))
        assert again.id == conv.id and again.status.value == "resolved"
        texts = await h.bot_texts(conv.id)
        assert texts[-1] == "Thank you for your feedback!" and sum("rate" in t for t in texts) == 1
        rows = await h.core.store.report_rows(0, 2e9)
        assert [s["score"] for s in rows["surveys"]] == [5] and rows["cycles"][0]["resolved_at"]


async def test_bot_stays_out_of_a_conversation_a_person_already_took(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        agent = await h.agent("a@example.com", teams=("support",))
        items = await h.core.pipeline.ingest("webchat.site", "webchat", [inbound("x1", "u9", "hello")])
        conv_id = items[0].conversation.id  # type: ignore[union-attr]
        await h.core.desk.assign(conv_id, agent_id=agent)
        h.sub.queue.get_nowait()  # the automation did not see the first message (it was off)
        while not h.sub.queue.empty():
            h.sub.queue.get_nowait()
        conv = await h.say("充值不到账怎么办", "u9")
        assert await h.bot_texts(conv.id) == [] and conv.attrs["automation"]["stage"] == "human"
