"""Handing a conversation to humans: classify, prioritise, route, assign or queue, note, acknowledge.

The handoff note carries everything the person already said and what the bot
tried, so nobody asks them to repeat themselves. The acknowledgement is sent once
per conversation (again only when the queue position moved materially), never for
a message its channel marked `no_auto_reply`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from tpbridge.bridge.automation import labels
from tpbridge.bridge.automation.classify import Classification
from tpbridge.bridge.automation.queue import estimate, material, position_of
from tpbridge.bridge.automation.routing import choose_agent, choose_team
from tpbridge.bridge.model import BOT, Agent, Conversation, Message, Priority, Status

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation

log = structlog.get_logger(__name__)


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def team_for(a: Automation, conv: Conversation, category: str | None) -> str | None:
    return choose_team(a.teams, a.settings, inbox=conv.inbox, category=category, language=conv.language)


async def hand_over(
    a: Automation, conv: Conversation, msg: Message, reason: str, *, feedback: str | None = None,
    priority: Priority | None = None,
) -> Conversation:
    state = a.state(conv)
    questions = [*state.get("questions", []), (msg.text or "")[:500]]
    if labels.set_by_agent(conv):
        cls = Classification(conv.category, 1.0, (), 1.0, "agent")
    else:
        # In a thread, as `understand` is: the learned model takes milliseconds (25 ms for four long questions)
        # that the event loop, and every webhook waiting on it, would otherwise stand still for.
        cls = await asyncio.to_thread(a.classifier.classify, "\n".join(questions), conv.language)
        if conv.category in a.settings.security_categories and cls.category not in a.settings.security_categories:
            cls = Classification(conv.category, 1.0, (), 1.0, "rule")  # an incident stays one
    category = cls.category or conv.category
    why: list[str] = []
    if priority is not None and priority > conv.priority:
        why.append(f"{category} incident")
    priority = max(Priority(conv.priority), priority or Priority.LOW)
    if category in a.settings.high_priority_categories:
        priority, why = max(priority, Priority.HIGH), [*why, f"category {category}"]
    contact = await a.store.get_contact(conv.contact_id)
    if contact is not None and contact.tier and contact.tier.lower() in a.settings.vip_tiers:
        priority, why = max(priority, Priority.HIGH), [*why, f"{contact.tier} contact"]
    team = team_for(a, conv, category)
    now = a.now()
    conv = await labels.record(a, conv, cls)
    conv = await a.desk.update(
        conv.id, category=category, priority=priority, team=team, handoff_at=now, status=Status.OPEN,
        attrs={"automation": {"stage": "human", "awaiting": None, "handoff_reason": reason,
                              "questions": questions, "classified": cls.explain()}},
    )
    if state.get("stage") == "bot":
        await a.store.bot_event(conv.id, conv.inbox, conv.channel, conv.language, handed_off=True)
    a.metrics.handoffs.labels(conv.inbox, reason.split(":")[0][:40]).inc()
    a.metrics.classified.labels(category or "none").inc()
    agent = await assign_now(a, conv)
    queue = await a.store.waiting(team)
    position = 0 if agent else (position_of(queue, conv.id) or len(queue) + 1)
    await a.store.start_cycle(conv.id, conv.inbox, conv.channel, team, category, conv.language, int(priority),
                              "handoff", position, now.timestamp())
    if agent:
        await a.store.cycle_assigned(conv.id, now.timestamp())
    wait, measured = await wait_for(a, team, max(position, 1))
    note = summary(a, conv, state, questions, reason, feedback, cls.explain(), priority, why, team, agent, position,
                   wait)
    if a.llm.settings.enabled:
        # Optional: a model's summary on top of the note, and a draft the agent may accept or edit.
        told = await a.llm.summary(questions, conv.language)
        if told:
            note = f"Summary (language model): {told}\n\n{note}"
        draft = await a.llm.draft(questions, conv.language, category)
        if draft:
            conv = await a.desk.update(conv.id, attrs={"draft": {"text": draft, "at": now.timestamp(),
                                                                 "by": "llm"}})
    await a.desk.note(conv.id, note, author=BOT)
    await acknowledge(a, conv, msg, position, wait, agent)
    log.info("automation.handoff", inbox=conv.inbox, conversation_id=conv.id, reason=reason, category=category,
             priority=int(priority), team=team, assignee=agent.id if agent else None, position=position,
             wait_measured=measured)
    a.kick()
    return conv


async def reopened(a: Automation, conv: Conversation) -> None:
    """The person wrote again after a human resolved it: the first-response clock restarts."""
    queue = await a.store.waiting(conv.team)
    position = 0 if conv.assignee_id else (position_of(queue, conv.id) or 0)
    await a.store.start_cycle(conv.id, conv.inbox, conv.channel, conv.team, conv.category, conv.language,
                              conv.priority, "reopen", position, a.now().timestamp())
    if conv.handoff_at is None:
        await a.desk.update(conv.id, handoff_at=a.now())
    a.kick()


async def assign_now(a: Automation, conv: Conversation) -> Agent | None:
    team_cfg = a.teams.get(conv.team or "")
    agent = choose_agent(await a.store.list_agents(), await a.store.agent_loads(), team=conv.team,
                         language=conv.language, team_capacity=team_cfg.capacity if team_cfg else None)
    if agent is None:
        return None
    await a.desk.assign(conv.id, agent_id=agent.id)
    log.info("automation.assigned", inbox=conv.inbox, conversation_id=conv.id, agent_id=agent.id, team=conv.team)
    return agent


async def wait_for(a: Automation, team: str | None, position: int) -> tuple[float, bool]:
    per_place, _samples = await a.store.team_wait(team)
    return estimate(position, per_place, a.settings.default_wait_minutes * 60)


async def acknowledge(a: Automation, conv: Conversation, msg: Message, position: int, wait: float,
                      agent: Agent | None) -> None:
    if msg.extra.get("no_auto_reply") or a.state(conv).get("ack"):
        return
    lang = a.language(conv)
    hours = a.team_hours(conv.team)
    now = a.now()
    closed = not hours.is_open(now)
    if closed:
        back = hours.next_open(now)
        local = back.astimezone(hours.zone) if back else None
        topics = "、" if (lang or "").startswith(("zh", "ja")) else ", "
        text = a.templates.render(
            "ack_closed", lang, position=max(position, 1), timezone=str(hours.zone),
            back_date=local.strftime("%Y-%m-%d") if local else "?", back_time=local.strftime("%H:%M") if local else "?",
            back_weekday=a.templates.weekday(local.weekday(), lang) if local else "?",
            faq_topics=topics.join(e.title_in(lang, a.settings.default_language) for e in a.kb.entries),
            wait=a.templates.duration(wait, lang))
    elif agent is not None:
        text = a.templates.render("ack_assigned", lang, agent=agent.name)
    else:
        text = a.templates.render("ack_queue", lang, position=position, wait=a.templates.duration(wait, lang))
    await a.say(conv, text, extra={"automation": "ack"})
    await a.set_state(conv.id, ack={"position": position, "at": now.timestamp(), "closed": closed})


def summary(a: Automation, conv: Conversation, state: dict[str, Any], questions: list[str], reason: str,
            feedback: str | None, classified: str, priority: int, why: list[str], team: str | None,
            agent: Agent | None,
            position: int, wait: float) -> str:
    """The private handoff note: what the person asked, what the bot tried, how it was routed."""
    lines = [f"Handoff to a person — reason: {reason}", "", "Customer asked:"]
    lines += [f"  • {q}" for q in questions if q.strip()] or ["  • (no text)"]
    tried = state.get("tried", [])
    if tried:
        lines += ["", "Bot tried:"]
        for t in tried:
            lines.append(f"  • FAQ {t['entry']} (confidence {t['confidence']}, matched {' '.join(t['matched'])}) "
                         f"for “{t['question'][:80]}”")
        if feedback == "no":
            lines.append("  • the customer said it did not help")
    else:
        lines += ["", "Bot tried: nothing (no FAQ answer was sent)"]
    lines += [
        "",
        f"Category: {classified}",
        f"Priority: {Priority(priority).name.lower()}" + (f" ({', '.join(why)})" if why else ""),
        f"Language: {conv.language or 'unknown'} · Team: {team or 'none'}",
        f"Assigned to {agent.name}" if agent else
        f"Queue: position {position}, estimated wait {a.templates.duration(wait, 'en')}",
    ]
    return "\n".join(lines)


async def sweep(a: Automation) -> None:
    """Offer waiting conversations to agents who are free now; tell people when their place moved."""
    agents = None
    for team in await a.store.waiting_teams():
        queue = await a.store.waiting(team)
        if agents is None:
            agents = await a.store.list_agents()
        loads = await a.store.agent_loads()
        cfg = a.teams.get(team or "")
        remaining = []
        for w in queue:
            agent = choose_agent(agents, loads, team=team, language=w.language,
                                 team_capacity=cfg.capacity if cfg else None)
            if agent is None:
                remaining.append(w)
                continue
            await a.desk.assign(w.conversation_id, agent_id=agent.id)
            await a.store.cycle_assigned(w.conversation_id, a.now().timestamp())
            loads[agent.id] = loads.get(agent.id, 0) + 1
            log.info("automation.assigned", conversation_id=w.conversation_id, agent_id=agent.id, team=team,
                     from_queue=True)
        a.metrics.queue.labels(team or "").set(len(remaining))
        if not a.team_hours(team).is_open(a.now()):
            continue  # positions move only while the team works; the closed acknowledgement said when
        for position, w in enumerate(remaining[:200], 1):
            conv = await a.store.get_conversation(w.conversation_id)
            ack = a.state(conv).get("ack") if conv else None
            if not conv or not ack or not material(int(ack["position"]), position,
                                                                        a.settings.position_step):
                continue
            lang = a.language(conv)
            wait, _ = await wait_for(a, team, position)
            text = a.templates.render("queue_update", lang, position=position, wait=a.templates.duration(wait, lang))
            await a.say(conv, text, extra={"automation": "queue_update"})
            await a.set_state(conv.id, ack={"position": position, "at": a.now().timestamp(), "closed": False})
