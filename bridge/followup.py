""""Anything else?" — a message N days after a conversation was resolved (`[automation] follow_up_days`).

Sent once per resolution, through the outbox like any automatic reply, in the conversation's
language (`follow_up` in config/help/help.toml's strings). Only conversations resolved within the
last two intervals are looked at, so turning it on does not write to every conversation ever closed;
a channel that would refuse the message now (WeChat's 48-hour window) is skipped with a note.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from tpbridge.adapters.base import ChannelRule, Reach, StartsConversations
from tpbridge.bridge.core import Core
from tpbridge.bridge.helpcentre import load_strings, strings_for
from tpbridge.bridge.model import BOT, Conversation, Status, iso, utcnow

log = structlog.get_logger(__name__)
DEFAULT = "Is there anything else we can help you with? Just reply to this message."


class FollowUps:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.days = core.config.automation.follow_up_days
        self.strings = load_strings(core.config.config_dir / "help")

    @property
    def interval(self) -> float:
        """How often to look: a minute, or sooner when the delay itself is short."""
        assert self.days is not None
        return max(0.5, min(60.0, self.days * 86400 / 4))

    def text(self, conv: Conversation) -> str:
        return strings_for(self.strings, conv.language).get("follow_up") or DEFAULT

    async def send_due(self) -> int:
        assert self.days is not None
        now = utcnow()
        delay = timedelta(days=self.days)
        since = (now - delay * 2 - timedelta(seconds=self.interval * 2)).timestamp()
        sent = 0
        for conv_id in await self.core.store.resolved_between(since, (now - delay).timestamp()):
            conv = await self.core.store.get_conversation(conv_id)
            if conv is None or conv.status is not Status.RESOLVED or conv.resolved_at is None:
                continue
            marker = conv.attrs.get("follow_up") or {}
            if marker.get("for_resolution") == iso(conv.resolved_at):
                continue  # already asked after this resolution
            adapter = self.core.adapters.get(conv.inbox)
            fields = {"follow_up": {"for_resolution": iso(conv.resolved_at), "at": iso(now)}}
            if adapter is None or not isinstance(adapter, StartsConversations):
                fields["follow_up"]["skipped"] = "the channel cannot write first"
            else:
                try:
                    adapter.may_start(Reach(now, True, (conv.attrs,)))
                except ChannelRule as exc:
                    fields["follow_up"]["skipped"] = exc.rule
            await self.core.desk.update(conv.id, attrs=fields)
            if "skipped" in fields["follow_up"]:
                log.info("follow_up.skipped", inbox=conv.inbox, conversation_id=conv.id,
                         reason=fields["follow_up"]["skipped"])
                continue
            await self.core.desk.reply(conv.id, self.text(conv), author=BOT, auto=True, extra={"follow_up": True})
            log.info("follow_up.sent", inbox=conv.inbox, conversation_id=conv.id)
            sent += 1
        return sent

    async def run(self) -> None:
        if self.days is None:
            await asyncio.Event().wait()
        while True:
            await self.send_due()
            await asyncio.sleep(self.interval)
