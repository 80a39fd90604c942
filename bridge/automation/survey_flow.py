"""Satisfaction surveys: asked on resolve, answered by the next short reply, low scores go to the team lead.

The channel's pipeline reopens a resolved conversation when the person writes;
a reply that is a score is stored and, when it is good, the conversation goes
back to resolved; a low score keeps it open as a complaint assigned to the lead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from tpbridge.bridge.automation.survey import parse_score
from tpbridge.bridge.model import BOT, Conversation, Message, Priority, Status

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation

log = structlog.get_logger(__name__)


async def on_resolved(a: Automation, conv_id: int) -> None:
    conv = await a.store.get_conversation(conv_id)
    if conv is None or conv.status is not Status.RESOLVED:
        return
    now = a.now()
    await a.store.cycle_resolved(conv.id, now.timestamp())
    state = a.state(conv)
    survey = state.get("survey") or {}
    cycle = int(state.get("cycle", 0))
    fields: dict[str, Any] = {"resolved": True}
    stage = state.get("stage")
    ask = (a.settings.survey.enabled and (stage == "human" or (a.settings.survey.after_bot and stage != "survey"))
           and not (survey.get("cycle") == cycle and survey.get("state") in ("asked", "answered")))
    if ask and await _may_write(a, conv):
        lang = a.language(conv)
        await a.say(conv, a.templates.render("survey", lang),
                           extra={"automation": "survey"})
        fields["survey"] = {"state": "asked", "cycle": cycle, "asked_at": now.timestamp()}
        log.info("survey.asked", inbox=conv.inbox, conversation_id=conv.id, language=lang)
    await a.set_state(conv.id, **fields)


async def _may_write(a: Automation, conv: Conversation) -> bool:
    """Never survey a conversation whose last words came from a machine (auto-replies, imported history)."""
    msgs = await a.store.list_messages(conv.id, include_private=False)
    last_in = next((m for m in reversed(msgs) if m.direction.value == "in"), None)
    return last_in is not None and not last_in.extra.get("no_auto_reply")


async def answer_in_new_conversation(a: Automation, conv: Conversation, msg: Message) -> bool:
    """Channels without threads start a new conversation after a resolve: the answer belongs to the old one.

    The new conversation (holding only the score) is linked to the surveyed one and resolved at once.
    """
    if not a.settings.survey.enabled:
        return False
    prev_id = await a.store.last_resolved(conv.identity_id, conv.id)
    prev = await a.store.get_conversation(prev_id) if prev_id else None
    if prev is None or not await maybe_answer(a, prev, msg, a.state(prev)):
        return False
    await a.desk.update(conv.id, linked_conversation_id=prev.id, attrs={"automation": {"stage": "survey"}})
    await a.desk.note(conv.id, f"Satisfaction answer for conversation #{prev.id}.", author=BOT)
    await a.desk.set_status(conv.id, Status.RESOLVED.value)
    return True


async def maybe_answer(a: Automation, conv: Conversation, msg: Message, state: dict[str, Any]) -> bool:
    """True when the message was a survey answer (and was handled)."""
    survey = state.get("survey") or {}
    if survey.get("state") != "asked":
        return False
    if a.now().timestamp() - float(survey.get("asked_at", 0)) > a.settings.survey.answer_window_hours * 3600:
        return False
    score = parse_score(msg.text or "")
    if score is None:
        return False
    lang = a.language(conv)
    await a.store.add_survey(conv.id, conv.contact_id, conv.inbox, conv.channel, conv.team, conv.language, score,
                             msg.text or "")
    a.metrics.surveys.labels(str(score)).inc()
    lg = log.bind(inbox=conv.inbox, conversation_id=conv.id, score=score)
    if score <= a.settings.survey.low_score:
        await complaint(a, conv, msg, score)
        await a.say(conv, a.templates.render("survey_low", lang))
        lg.info("survey.low_score")
        return True
    await a.set_state(conv.id, survey={"state": "answered", "score": score}, resolved=True)
    await a.say(conv, a.templates.render("survey_thanks", lang))
    if conv.status is not Status.RESOLVED:
        await a.desk.set_status(conv.id, Status.RESOLVED.value)  # the answer reopened it; nothing is wrong
    lg.info("survey.answered")
    return True


async def complaint(a: Automation, conv: Conversation, msg: Message, score: int) -> None:
    """A low score: reopen as a complaint, high priority, assigned to the team lead for follow-up."""
    lead_id = None
    team_cfg = a.teams.get(conv.team or "")
    if conv.team is not None and team_cfg is not None and team_cfg.lead:
        lead_id = await a.store.set_team_lead(conv.team, team_cfg.lead)
    now = a.now()
    state = a.state(conv)
    cycle = int(state.get("cycle", 0)) + 1
    if conv.status is Status.RESOLVED:
        await a.desk.set_status(conv.id, Status.OPEN.value)
    conv = await a.desk.update(
        conv.id, category="complaint", priority=max(conv.priority, Priority.HIGH), handoff_at=now,
        attrs={"automation": {"stage": "human", "resolved": False, "cycle": cycle,
                              "survey": {"state": "answered", "score": score}}})
    if lead_id is not None:
        await a.desk.assign(conv.id, agent_id=lead_id)
    await a.store.start_cycle(conv.id, conv.inbox, conv.channel, conv.team, "complaint", conv.language,
                              conv.priority, "complaint", 0 if lead_id else 1, now.timestamp())
    if lead_id is not None:
        await a.store.cycle_assigned(conv.id, now.timestamp())
    who = f"assigned to the team lead ({team_cfg.lead})" if lead_id is not None and team_cfg else (
        "no team lead configured: waiting in the queue")
    await a.desk.note(conv.id, f"Satisfaction {score}/5 (“{(msg.text or '')[:80]}”): reopened as a complaint, "
                               f"{who}.", author=BOT)
