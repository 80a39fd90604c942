"""The FAQ bot's side of a conversation: detect the language, answer, ask if it helped, or hand over.

While the bot handles a conversation it is `pending` (as in Chatwoot); a handoff
makes it `open` for humans. The bot never answers a message its channel marked
`no_auto_reply` (auto-submitted mail, imported history).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from tpbridge.bridge.automation import handoff, labels, security, survey_flow
from tpbridge.bridge.automation.templates import mentions, says
from tpbridge.bridge.automation.understand import Understanding
from tpbridge.bridge.model import Conversation, Message, Status

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation

log = structlog.get_logger(__name__)


async def store_language(a: Automation, conv: Conversation, msg: Message, language: str | None) -> Conversation:
    """Store the message's language, and the conversation's and contact's when it changed."""
    if language is None:
        return conv
    await a.desk.set_message_language(msg.id, language)
    contact = await a.store.get_contact(conv.contact_id)
    if contact is not None and contact.language != language:
        await a.desk.set_contact_language(contact.id, language)
    if conv.language != language:
        conv = await a.desk.update(conv.id, language=language)
    return conv


async def understand(a: Automation, conv: Conversation, msg: Message) -> tuple[Conversation, Understanding]:
    """Language, category, security and the FAQ answer for this message; stored on the conversation.

    The category is the conversation's: while no human has it, it is re-decided on everything
    the person said so far, so a second message can change it (and an agent's choice is kept).
    """
    contact = await a.store.get_contact(conv.contact_id)
    fallback = (contact.language if contact else None) or conv.language
    state = a.state(conv)
    text = msg.text or ""
    nobody = conv.assignee_id is None  # no human has it (waiting in a queue counts as nobody yet)
    earlier = [q for q in state.get("questions", []) if q][-4:] if nobody else []
    chosen = msg.extra.get("chosen_language")  # picked by the person (web chat): it wins over detection
    human = state.get("stage") == "human" and not state.get("resolved")  # the bot will not answer
    u = await asyncio.to_thread(a.brain.understand, text, fallback, context="\n".join(earlier) or None,
                                language=chosen if isinstance(chosen, str) and chosen else None, faq=not human)
    conv = await store_language(a, conv, msg, u.language)
    if nobody:
        conv = await labels.record(a, conv, u.classification)
    return conv, u


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
    if conv.attrs.get("oncall"):
        return  # the on-call's own alert conversation: people of ours, not a customer
    conv, u = await understand(a, conv, msg)
    state = a.state(conv)
    if u.security and not state.get("security") and not labels.set_by_agent(conv):
        await security.incident(a, conv, msg, u)
        return
    if msg.extra.get("no_auto_reply"):
        lg.info("automation.skipped", reason="no_auto_reply")
        return
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
    if conv.public:
        await public_thread(a, conv, msg, u)
        return
    if mentions(text, a.settings.handoff_words):
        if not await bot_only(a, conv, "asked for a person"):
            await handoff.hand_over(a, conv, msg, "asked for a person")
        return
    category = u.category
    straight = set(a.settings.high_priority_categories) | set(a.settings.no_faq_categories)
    if category in straight and a.settings.inbox(conv.inbox).bot != "only":
        await handoff.hand_over(a, conv, msg, f"{category} matter: straight to a person")
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
    await try_answer(a, conv, msg, state, u)


async def public_thread(a: Automation, conv: Conversation, msg: Message, u: Understanding) -> None:
    """An X public thread: nothing automatic is posted there but, once, the short pointer to DMs."""
    state = a.state(conv)
    if a.settings.public_threads == "pointer" and not state.get("pointer"):
        if await a.say(conv, a.templates.render("public_pointer", a.language(conv)),
                       extra={"automation": "public_pointer"}, public_ok=True):
            await a.set_state(conv.id, pointer=True)
            conv = await a.desk.conversation(conv.id)
    reason = "public thread: answered by a person (no automatic reply in public)"
    if u.faq is not None:
        reason += f"; the FAQ would have been {u.faq.entry.id}"
    await handoff.hand_over(a, conv, msg, reason)


async def bot_only(a: Automation, conv: Conversation, reason: str) -> bool:
    """A bot-only inbox has no humans behind it: say so (pointing to the FAQ) instead of queueing."""
    if a.settings.inbox(conv.inbox).bot != "only":
        return False
    lang = a.language(conv)
    topics = ", ".join(e.title_in(lang, a.settings.default_language) for e in a.kb.entries)
    await a.say(conv, a.templates.render("bot_only", lang, faq_topics=topics))
    await a.set_state(conv.id, stage="bot", awaiting=None)
    log.info("bot.no_humans", inbox=conv.inbox, conversation_id=conv.id, reason=reason)
    return True


async def try_answer(a: Automation, conv: Conversation, msg: Message, state: dict[str, Any],
                     u: Understanding) -> None:
    text = msg.text or ""
    lang = a.language(conv)
    turns = int(state.get("turns", 0))
    best = u.faq
    if turns >= a.settings.bot_turns and a.settings.inbox(conv.inbox).bot != "only":
        await handoff.hand_over(a, conv, msg, f"the bot already answered {turns} times")
        return
    if best is None:
        why = u.faq_withheld or "no confident FAQ answer"
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
