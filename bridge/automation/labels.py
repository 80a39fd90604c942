"""The conversation's category as stored and shown: who decided it, how sure, and why.

Kept in `conversation.category` (filters, routing, reports) and, with its explanation,
in `conversation.attrs["classification"]`: `{"category", "confidence", "reason", "by", "at"}`.
`by` is "rule", "model" or "agent"; once an agent set it, automation never changes it again,
and the agent's choice is kept as a labelled example for the next training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from tpbridge.bridge.automation.classify import Classification
from tpbridge.bridge.automation.examples import add_correction
from tpbridge.bridge.model import Conversation

if TYPE_CHECKING:
    from tpbridge.bridge.automation import Automation
    from tpbridge.bridge.desk import Desk
    from tpbridge.bridge.store.protocol import Store

log = structlog.get_logger(__name__)


def stored(conv: Conversation) -> dict[str, Any]:
    found = conv.attrs.get("classification")
    return dict(found) if isinstance(found, dict) else {}


def set_by_agent(conv: Conversation) -> bool:
    return stored(conv).get("by") == "agent"


async def record(a: Automation, conv: Conversation, cls: Classification) -> Conversation:
    """Store what the classifier decided, unless an agent decided already; publish only a change."""
    if cls.category is None or set_by_agent(conv):
        return conv
    before = stored(conv)
    confidence = round(cls.confidence, 3)
    if conv.category == cls.category and before.get("reason") == cls.explain():
        return conv
    conv = await a.desk.update(conv.id, category=cls.category, attrs={"classification": {
        "category": cls.category, "confidence": confidence, "reason": cls.explain(), "by": cls.decided_by,
        "at": a.now().timestamp()}})
    log.info("automation.classified", inbox=conv.inbox, conversation_id=conv.id, category=cls.category,
             confidence=confidence, by=cls.decided_by)
    return conv


async def correct(desk: Desk, store: Store, conv: Conversation, category: str, agent_id: int,
                  examples_dir: Path, now: float) -> Conversation:
    """An agent's correction: stored on the conversation and kept as a labelled example (the customer's words)."""
    before = conv.category
    conv = await desk.update(conv.id, category=category, attrs={"classification": {
        "category": category, "confidence": 1.0, "reason": f"set by an agent (was {before or 'none'})",
        "by": "agent", "agent_id": agent_id, "at": now}})
    words = [m.text for m in await store.list_messages(conv.id, include_private=False)
             if m.direction.value == "in" and m.text]
    if words:
        add_correction(examples_dir, "\n".join(words)[:2000], category, conv.language, conv.id)
    log.info("automation.category_corrected", inbox=conv.inbox, conversation_id=conv.id, category=category,
             was=before, agent_id=agent_id)
    return conv
