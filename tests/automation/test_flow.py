"""The FAQ bot, handoff, routing and queue, in process (Chinese and English)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tpbridge.bridge.model import Priority

from tests.automation.harness import harness

TEAMS = {"support": {"languages": ["zh", "en"]}}


async def test_deposit_question_in_chinese_gets_the_deposit_answer_in_chinese(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        conv = await h.say("充值不到账怎么办")
        texts = await h.bot_texts(conv.id)
        assert len(texts) == 1
        assert "充值未到账" in texts[0] and "解决您的问题" in texts[0]
        assert conv.language == "zh-Hans" and conv.status.value == "pending"
        assert conv.attrs["automation"]["tried"][0]["entry"] == "deposit-not-arrived"
        msgs = await h.messages(conv.id)
        assert msgs[0].language == "zh-Hans"
        contact = await h.core.store.get_contact(conv.contact_id)
        assert contact is not None and contact.language == "zh-Hans"


async def test_english_question_gets_the_english_answer(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        conv = await h.say("My deposit did not arrive yet")
        texts = await h.bot_texts(conv.id)
        assert conv.language == "en"
        assert texts and "deposit has not arrived" in texts[0] and "Did this answer" in texts[0]


async def test_transfer_to_human_hands_over_with_a_note(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        await h.say("充值不到账怎么办")
        conv = await h.say("转人工")
        assert conv.status.value == "open" and conv.handoff_at is not None and conv.team == "support"
        notes = await h.notes(conv.id)
        assert len(notes) == 1
        assert "充值不到账怎么办" in notes[0] and "转人工" in notes[0]
        assert "deposit-not-arrived" in notes[0] and "asked for a person" in notes[0]
        texts = await h.bot_texts(conv.id)
        assert "排在第 1 位" in texts[-1]


class _Where:
    """The automation's classifier, noting which thread each classification ran in."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.threads = inner, []  # type: list[int]

    def classify(self, text: str, language: str | None) -> Any:
        self.threads.append(threading.get_ident())
        return self.inner.classify(text, language)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_the_handoff_classifies_off_the_event_loop(tmp_path: Path) -> None:
    """The learned model takes milliseconds per handoff (25 ms for four long questions): run on the loop, it
    held up every webhook and page request meanwhile; it runs in a thread, as the understanding step does."""
    async with harness(tmp_path, teams=TEAMS) as h:
        where = _Where(h.a.classifier)
        h.a.classifier = where  # type: ignore[assignment]
        await h.say("充值不到账怎么办")
        conv = await h.say("转人工")
        assert conv.attrs["automation"]["stage"] == "human" and conv.category == "transaction"
        assert where.threads and threading.get_ident() not in where.threads


async def test_no_that_did_not_help_hands_over_in_english(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        await h.say("how much is the withdrawal fee")
        conv = await h.say("no, that did not help")
        assert conv.attrs["automation"]["stage"] == "human"
        assert "did not help" in conv.attrs["automation"]["handoff_reason"]
        notes = await h.notes(conv.id)
        assert "FAQ fees" in notes[0] and "the customer said it did not help" in notes[0]
        assert "number 1 in the queue" in (await h.bot_texts(conv.id))[-1]


async def test_yes_resolves_and_counts_as_deflected(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        await h.say("I forgot my password")
        conv = await h.say("yes, thanks")
        assert conv.status.value == "resolved"
        texts = await h.bot_texts(conv.id)
        assert "Glad I could help" in texts[-1]
        assert not any("rate" in t for t in texts)  # no survey after the bot by default


async def test_unknown_question_goes_to_humans_with_what_the_bot_tried(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        conv = await h.say("Can I get an invoice for my corporate account for last quarter?")
        assert conv.attrs["automation"]["stage"] == "human"
        notes = await h.notes(conv.id)
        assert "Can I get an invoice" in notes[0] and "Bot tried: nothing" in notes[0]
        assert conv.category is not None and conv.attrs["classification"]["reason"] in notes[0]


async def test_stolen_money_is_an_urgent_security_incident_that_jumps_the_queue(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        first = await h.say("转人工", "a")
        second = await h.say("human please", "b")
        urgent = await h.say("我的钱被盗了", "c")
        assert urgent.category == "security" and urgent.priority == Priority.URGENT
        queue = await h.core.store.waiting("support")
        assert [w.conversation_id for w in queue] == [urgent.id, first.id, second.id]
        texts = await h.bot_texts(urgent.id)
        assert len(texts) == 1 and "助记词" in texts[0] and "客服绝不会索要" in texts[0]  # the safety reply, in zh
        note = (await h.notes(urgent.id))[0]
        assert "security" in note and "urgent" in note


async def test_vip_contact_gets_high_priority(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        conv = await h.say("I forgot my password")
        await h.core.store.update_contact(conv.contact_id, tier="vip")
        conv = await h.say("agent please")
        assert conv.priority == Priority.HIGH
        assert "vip contact" in (await h.notes(conv.id))[0]


async def test_acknowledgement_once_per_conversation(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        await h.say("转人工")
        await h.say("还在吗？")
        conv = await h.say("请快点")
        acks = [m for m in await h.messages(conv.id) if m.extra.get("automation") == "ack"]
        assert len(acks) == 1


async def test_no_auto_reply_messages_are_never_answered(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        conv = await h.say("充值不到账怎么办", no_auto_reply=True)
        assert await h.bot_texts(conv.id) == []
        assert conv.language == "zh-Hans"


async def test_bot_off_for_inbox_goes_straight_to_humans(tmp_path: Path) -> None:
    async with harness(tmp_path, {"inboxes": {"webchat.site": {"bot": "off"}}}, teams=TEAMS) as h:
        conv = await h.say("充值不到账怎么办")
        assert conv.attrs["automation"]["stage"] == "human"
        assert conv.category == "transaction"
        assert "deposit-not-arrived" not in "".join(await h.bot_texts(conv.id))


async def test_bot_only_inbox_never_queues_for_humans(tmp_path: Path) -> None:
    async with harness(tmp_path, {"inboxes": {"webchat.site": {"bot": "only"}}}, teams=TEAMS) as h:
        conv = await h.say("转人工")
        assert conv.handoff_at is None and conv.attrs["automation"]["stage"] == "bot"
        assert "仅由智能客服服务" in (await h.bot_texts(conv.id))[-1]
        conv = await h.say("充值不到账怎么办")
        assert "充值未到账" in (await h.bot_texts(conv.id))[-1]


async def test_short_reply_keeps_the_contacts_language(tmp_path: Path) -> None:
    async with harness(tmp_path, teams=TEAMS) as h:
        await h.say("提现被冻结了怎么办")
        conv = await h.say("ok")
        assert conv.language == "zh-Hans"
        msgs = [m for m in await h.messages(conv.id) if m.direction.value == "in"]
        assert [m.language for m in msgs] == ["zh-Hans", "zh-Hans"]


async def test_loop_breaker_caps_automatic_replies_per_conversation(tmp_path: Path) -> None:
    async with harness(tmp_path, {"max_auto_replies_per_hour": 2, "bot_turns": 10}, teams=TEAMS) as h:
        for question in ("forgot password", "withdrawal fee", "supported chains", "deposit not received"):
            conv = await h.say(question)
        assert len(await h.bot_texts(conv.id)) == 2
