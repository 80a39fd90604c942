"""An in-process core plus the automation, driven event by event (deterministic, no sleeping)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tpbridge.bridge.automation import Automation, handoff
from tpbridge.bridge.core import Core
from tpbridge.bridge.model import Author, AuthorKind, Conversation, Message, Role

from tests.support.core import inbound, running_core

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"


def automation_raw(**overrides: Any) -> dict[str, Any]:
    """[automation] on, with the shipped knowledge base, templates and rules."""
    return {"enabled": True, "faq_dir": str(CONFIG / "faq"), "templates_dir": str(CONFIG / "templates"),
            "classify_rules": str(CONFIG / "classify.toml"), "examples_dir": str(CONFIG / "examples"), **overrides}


class Harness:
    def __init__(self, core: Core, automation: Automation) -> None:
        self.core = core
        self.a = automation
        self.sub = core.bus.subscribe()

    async def settle(self, *, sweep: bool = False) -> None:
        """Hand every published event to the automation, including those its own actions publish."""
        while True:
            while not self.sub.queue.empty():
                event = self.sub.queue.get_nowait()
                if event is None:
                    return
                await self.a.handle(event)
            if not sweep:
                return
            await handoff.sweep(self.a)
            sweep = False

    async def say(self, text: str, who: str = "u1", *, sweep: bool = False, **kw: Any) -> Conversation:
        items = await self.core.pipeline.ingest("webchat.site", "webchat",
                                                [inbound(uuid.uuid4().hex, who, text, **kw)])
        await self.settle(sweep=sweep)
        conv = await self.core.store.get_conversation(items[0].conversation.id)  # type: ignore[union-attr]
        assert conv is not None
        return conv

    async def messages(self, conv_id: int) -> list[Message]:
        return await self.core.store.list_messages(conv_id)

    async def bot_texts(self, conv_id: int) -> list[str]:
        return [m.text for m in await self.messages(conv_id) if m.author.kind.value == "bot" and not m.private]

    async def notes(self, conv_id: int) -> list[str]:
        return [m.text for m in await self.messages(conv_id) if m.private]

    async def answer_and_resolve(self, conv_id: int, agent_id: int, text: str) -> None:
        """An agent answers and resolves the conversation; automation has seen it all afterwards."""
        await self.core.desk.reply(conv_id, text, author=Author(AuthorKind.AGENT, agent_id, "a"))
        await self.core.desk.set_status(conv_id, "resolved")
        await self.settle()

    async def agent(self, email: str, *, teams: tuple[str, ...] = (), languages: tuple[str, ...] = (),
                    online: bool = True, capacity: int = 10) -> int:
        agent = await self.core.store.add_agent(email, email.split("@")[0], Role.AGENT, None, teams, languages)
        await self.core.store.update_agent(agent.id, presence="online" if online else "away", capacity=capacity)
        return agent.id


@asynccontextmanager
async def harness(tmp_path: Path, automation: dict[str, Any] | None = None,
                  teams: dict[str, Any] | None = None, *, learned: bool = True,
                  extra: dict[str, Any] | None = None) -> AsyncIterator[Harness]:
    """`learned`: load the classifier and lingua first, as the daemon does at start (trained once per test
    session: the model is kept per process by the examples' fingerprint)."""
    raw: dict[str, Any] = {"automation": automation_raw(**(automation or {}))}
    if teams is not None:
        raw["teams"] = teams
    raw.update(extra or {})
    async with running_core(tmp_path, raw) as core:
        a = Automation(core)
        if learned:
            await a.prepare_models()
        await a.prepare()
        h = Harness(core, a)
        try:
            yield h
        finally:
            h.sub.close()
