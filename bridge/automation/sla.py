"""SLA targets per priority (`[automation.sla.<priority>]`): a breach is a warning the inbox shows and an event.

The first-response clock of a waiting conversation starts at its handoff; once the target for
its priority has passed with nobody on it, the conversation gets `attrs["sla"]` (which target,
when it was due) — published as `conversation.updated` on the event stream like any change —
and a `sla.breached` warning is logged. Each breach is raised once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from tpbridge.bridge.model import Priority

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation

log = structlog.get_logger(__name__)


async def check(a: Automation) -> int:
    """Mark waiting conversations whose first-response target has passed; returns how many were marked."""
    now = a.now().timestamp()
    marked = 0
    for team in await a.store.waiting_teams():
        for w in await a.store.waiting(team):
            target = a.settings.sla.get(Priority(w.priority).name.lower())  # type: ignore[call-overload]
            if target is None or target.first_response_minutes is None:
                continue
            due = w.handoff_at + target.first_response_minutes * 60
            if now < due:
                continue
            conv = await a.store.get_conversation(w.conversation_id)
            if conv is None or "first_response" in (conv.attrs.get("sla") or {}).get("breached", []):
                continue
            await a.desk.update(conv.id, attrs={"sla": {"breached": ["first_response"], "first_response_due": due,
                                                        "at": now}})
            log.warning("sla.breached", inbox=conv.inbox, conversation_id=conv.id, target="first_response",
                        priority=Priority(w.priority).name.lower(), team=team, minutes_late=round((now - due) / 60))
            marked += 1
    return marked
