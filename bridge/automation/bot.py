"""The FAQ bot's side of a conversation: detect the language, answer, ask if it helped, or hand over.

While the bot handles a conversation it is `pending` (as in Chatwoot); a handoff
makes it `open` for humans. The bot never answers a message its channel marked
`no_auto_reply` (auto-submitted mail, imported history).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from tpbridge.bridge.automation import handoff, survey_flow
from tpbridge.bridge.automation.templates import mentions, says
from tpbridge.bridge.model import Conversation, Message, Status

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation

log = structlog.get_logger(__name__)


async def detect_language(a: Automation, conv: Conversation, msg: Message) -> Conversation:
    """Store the message's language, and the conversation's and contact's when it changed."""
    contact = await a.store.get_contact(conv.contact_id)
    fallback = (contact.language if contact else None) or conv.language
    chosen = msg.extra.get("chosen_language")  # picked by the person (web chat): it wins over detection
    lang = chosen if isinstance(chosen, str) and chosen else await a.detector.detect_async(msg.text or "", fallback)
    if lang is None:
        return conv
    await a.desk.set_message_language(msg.id, lang)
    if contact is not None and contact.language != lang:
        await a.desk.set_contact_language(contact.id, lang)
    if conv.language != lang:
        conv = await a.desk.update(conv.id, language=lang)
    return conv


def bot_on(a: Automation, conv: Conversation) -> bool:
    mode = a.settings.inbox(conv.inbox).bot
    if mode == "off":
        return False
    if mode == "off_hours":
        team = handoff.team_for(a, conv, None)
        return not a.team_hours(team).is_open(a.now())
    return True


async def on_customer_message(a: Automation, conv_id: int, msg: Message) -> None:
    conv = await a.store.get_conversation(conv_id)
    if conv is None:
        return
    lg = log.bind(inbox=conv.inbox, conversation_id=conv.id, message_id=msg.id)
    conv = await detect_language(a, conv, msg)
    if msg.extra.get("no_auto_reply"):
        lg.info("automation.skipped", reason="no_auto_reply")
        return
    state = a.state(conv)
    if not state and await survey_flow.answer_in_new_conversation(a, conv, msg):
        return
    if state.get("resolved"):
        # The person wrote after the conversation was resolved: a survey answer, or the matter is back.
        if await survey_flow.maybe_answer(a, conv, msg, state):
            return
        conv = await a.set_state(conv.id, resolved=False, survey={"state": "expired"},
                                 cycle=int(state.get("cycle", 0)) + 1)
        state = a.state(conv)
        if state.get("stage") == "human":
            await handoff.reopened(a, conv)
            return
    stage = state.get("stage")
    if stage is None and (conv.assignee_id is not None or conv.first_response_at is not None):
        await a.set_state(conv.id, stage="human")  # a person took it before the bot saw it
        return
    if stage == "human":
        return  # humans have it; the acknowledgement was given once
    text = msg.text or ""
    if not bot_on(a, conv):
        await handoff.hand_over(a, conv, msg, "the bot is off for this inbox at this time")
        return
    if mentions(text, a.settings.handoff_words):
        if not await bot_only(a, conv, "asked for a person"):
            await handoff.hand_over(a, conv, msg, "asked for a person")
        return
    cls = a.classifier.classify(text, conv.language)
    if cls.category in a.settings.high_priority_categories and a.settings.inbox(conv.inbox).bot != "only":
        await handoff.hand_over(a, conv, msg, f"{cls.category} matter: straight to a person")
        return
    lang = a.language(conv)
    if stage == "bot" and state.get("awaiting") == "feedback":
        if says(text, a.templates.words("no", lang)):
            if not await bot_only(a, conv, "said the answer did not help"):
                await handoff.hand_over(a, conv, msg, "said the answer did not help", feedback="no")
            return
        if says(text, a.templates.words("yes", lang), extra_words=2):
            await resolved_by_bot(a, conv)
            return
    await try_answer(a, conv, msg, state)


async def bot_only(a: Automation, conv: Conversation, reason: str) -> bool:
    """A bot-only inbox has no humans behind it: say so (pointing to the FAQ) instead of queueing."""
    if a.settings.inbox(conv.inbox).bot != "only":
        return False
    lang = a.language(conv)
    topics = ", ".join(e.title.get(lang) or e.title.get("en") or e.id for e in a.kb.entries)
    await a.say(conv, a.templates.render("bot_only", lang, faq_topics=topics))
    await a.set_state(conv.id, stage="bot", awaiting=None)
    log.info("bot.no_humans", inbox=conv.inbox, conversation_id=conv.id, reason=reason)
    return True


async def try_answer(a: Automation, conv: Conversation, msg: Message, state: dict[str, Any]) -> None:
    text = msg.text or ""
    lang = a.language(conv)
    turns = int(state.get("turns", 0))
    matches = a.kb.search(text) if text.strip() else []
    best = matches[0] if matches else None
    if turns >= a.settings.bot_turns and a.settings.inbox(conv.inbox).bot != "only":
        await handoff.hand_over(a, conv, msg, f"the bot already answered {turns} times")
        return
    if best is None or best.confidence < a.settings.faq_threshold:
        why = "no confident FAQ answer" if best is None else (
            f"best FAQ match below the threshold {a.settings.faq_threshold:g}: {best.explain()}")
        if not await bot_only(a, conv, why):
            await handoff.hand_over(a, conv, msg, why)
        return
    answer = best.entry.answer(lang, a.settings.default_language)
    body = f"{answer}\n\n{a.templates.render('faq_followup', lang)}"
    await a.say(conv, body, extra={"faq": best.entry.id})
    tried = [*state.get("tried", []), {
        "question": text[:300], "entry": best.entry.id, "confidence": round(best.confidence, 3),
        "matched": list(best.matched),
    }]
    fields: dict[str, Any] = {
        "stage": "bot", "awaiting": "feedback", "turns": turns + 1, "tried": tried,
        "questions": [*state.get("questions", []), text[:500]],
    }
    await a.set_state(conv.id, **fields)
    if conv.status is Status.OPEN:
        await a.desk.update(conv.id, status=Status.PENDING)
    await a.store.bot_event(conv.id, conv.inbox, conv.channel, conv.language, answered=True)
    a.metrics.bot_answers.labels(conv.inbox, best.entry.id).inc()
    log.info("bot.answered", inbox=conv.inbox, conversation_id=conv.id, entry=best.entry.id,
             confidence=round(best.confidence, 3), matched=list(best.matched))


async def resolved_by_bot(a: Automation, conv: Conversation) -> None:
    lang = a.language(conv)
    await a.say(conv, a.templates.render("bot_resolved", lang))
    await a.store.bot_event(conv.id, conv.inbox, conv.channel, conv.language, resolved=True)
    a.metrics.bot_resolved.labels(conv.inbox).inc()
    log.info("bot.resolved", inbox=conv.inbox, conversation_id=conv.id)
    if a.settings.resolve_on_yes:
        await a.set_state(conv.id, stage=None, awaiting=None, turns=0, tried=[], questions=[],
                          resolved_by="bot")
        await a.desk.set_status(conv.id, Status.RESOLVED.value)
    else:
        await a.set_state(conv.id, awaiting=None)


async def on_agent_reply(a: Automation, conv_id: int, msg: Message) -> None:
    """A human answered: stop the bot, and stop the first-response clock of the open cycle."""
    conv = await a.store.get_conversation(conv_id)
    if conv is None:
        return
    state = a.state(conv)
    if state.get("stage") != "human":
        await a.set_state(conv.id, stage="human", awaiting=None)
    cycle = await a.store.cycle_first_human(conv.id, msg.created_at.timestamp())
    if cycle is None:
        return
    team = cycle.team
    started = handoff.from_ts(cycle.started_at)
    waited = a.team_hours(team).seconds_between(started, msg.created_at)
    a.metrics.first_response.labels(team or "").observe(waited)
    # Seconds per place in the queue (an immediate assignment counts as place 1).
    per_place = waited / max(1, cycle.position or 1)
    await a.store.add_team_wait(team, per_place, a.settings.ewma_alpha)
    log.info("automation.first_response", inbox=conv.inbox, conversation_id=conv.id, team=team,
             business_seconds=round(waited))
