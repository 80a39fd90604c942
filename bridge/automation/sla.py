"""SLA targets per priority (`[automation.sla.<priority>]`): a breach is a warning the inbox shows and an event.

Both clocks start at the handoff to humans. First response: a waiting conversation nobody has
taken when its target passes. Resolution: an open or pending conversation not resolved by its
target (checked once a minute over the open conversations). A breached conversation gets
`attrs["sla"]` (which targets, when they were due) — published as `conversation.updated` on the
event stream like any change — and a `sla.breached` warning is logged. Each breach is raised once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from tpbridge.bridge.model import Conversation, Priority, Role, Viewer
from tpbridge.bridge.store.protocol import ConversationFilter

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation

log = structlog.get_logger(__name__)
EVERYONE = Viewer(0, Role.ADMIN, (), ("*",))  # automation's own reads see every conversation


RESOLUTION_EVERY = 60.0  # seconds between passes over every open conversation
_last_resolution_pass: dict[int, float] = {}


async def _mark(a: Automation, conv: Conversation, target: str, due: float, now: float) -> bool:
    found = conv.attrs.get("sla") or {}
    breached = list(found.get("breached", []))
    if target in breached:
        return False
    await a.desk.update(conv.id, attrs={"sla": {"breached": [*breached, target], f"{target}_due": due, "at": now}})
    log.warning("sla.breached", inbox=conv.inbox, conversation_id=conv.id, target=target,
                priority=Priority(conv.priority).name.lower(), team=conv.team, minutes_late=round((now - due) / 60))
    return True


async def check_resolution(a: Automation, *, force: bool = False) -> int:
    """Mark open or pending conversations past their resolution target (at most once a minute)."""
    now = a.now().timestamp()
    if not force and now - _last_resolution_pass.get(id(a), 0.0) < RESOLUTION_EVERY:
        return 0
    _last_resolution_pass[id(a)] = now
    marked = 0
    for status in ("open", "pending"):
        cursor: str | None = None
        while True:
            page = await a.store.list_conversations(EVERYONE, ConversationFilter(status=status), 200, cursor)
            for conv in page.items:
                target = a.settings.sla.get(Priority(conv.priority).name.lower())  # type: ignore[call-overload]
                if target is None or target.resolution_minutes is None or conv.handoff_at is None:
                    continue
                due = conv.handoff_at.timestamp() + target.resolution_minutes * 60
                if now >= due and await _mark(a, conv, "resolution", due, now):
                    marked += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    return marked


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
            if conv is not None and await _mark(a, conv, "first_response", due, now):
                marked += 1
    return marked + await check_resolution(a)
