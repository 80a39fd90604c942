"""Security incidents: stolen funds, a drained wallet, a taken-over account, an exposed seed phrase,
phishing, someone impersonating support.

Never an FAQ answer and never the normal queue: urgent priority, the security team, at once
a safety reply in the person's language (what to do now), a private note for the agent, and
the on-call paged through `[automation.alerts]` until an agent acknowledges it in the inbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from tpbridge.bridge.automation import alerts, handoff
from tpbridge.bridge.automation.understand import Understanding
from tpbridge.bridge.model import BOT, Conversation, Message, Priority

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation

log = structlog.get_logger(__name__)


async def incident(a: Automation, conv: Conversation, msg: Message, u: Understanding) -> Conversation:
    reason = f"security incident: {u.classification.explain()}"
    lang = a.language(conv)
    # The safety reply comes first: what the person must do now matters more than the queue position.
    if not msg.extra.get("no_auto_reply"):
        if await a.say(conv, a.templates.render("security_safety", lang), extra={"automation": "security"}):
            await a.set_state(conv.id, ack={"position": 0, "at": a.now().timestamp(), "closed": False})
            conv = await a.desk.conversation(conv.id)
    if conv.assignee_id is not None:
        # A person has the conversation already: keep them on it, but make it urgent and say why.
        conv = await a.desk.update(conv.id, priority=Priority.URGENT)
        await a.desk.note(conv.id, f"Security incident reported — priority raised to urgent.\n{reason}", author=BOT)
    else:
        conv = await handoff.hand_over(a, conv, msg, reason, priority=Priority.URGENT)
    await a.set_state(conv.id, security={"at": a.now().timestamp(), "message_id": msg.id})
    conv = await a.desk.conversation(conv.id)
    await alerts.raise_alert(a, conv, u)
    log.warning("automation.security_incident", inbox=conv.inbox, conversation_id=conv.id, team=conv.team,
                category=u.category, decided_by=u.classification.decided_by)
    return conv
