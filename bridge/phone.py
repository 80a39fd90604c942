"""The phone hotline in the core: calls logged by agents, callbacks requested by visitors, the callback queue.

A call is a system note in the phone inbox from the caller's number (E.164), so the ingest path
finds the caller's conversation (or opens one) exactly as it does for a chat message, and the
number is an identity that merges with the person's other channels like any other. A callback
request is the same, plus `attrs.callback` on the conversation: due at a time, done when a call
is logged. Channels hand callback requests over as a message whose `extra` holds
`callback_request` (the web chat's `POST /chat/api/callback`); bridge/handover.py takes them from
the event bus, so no adapter reaches into another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import structlog
from tpbridge.adapters.base import Inbound, Sender
from tpbridge.bridge.automation.hours import Hours
from tpbridge.bridge.automation.settings import TeamSettings
from tpbridge.bridge.core import Core
from tpbridge.bridge.desk import Invalid, NotFound
from tpbridge.bridge.helpcentre import load_strings, strings_for
from tpbridge.bridge.model import BOT, Author, Conversation, Message, Priority, Status, iso, utcnow
from tpbridge.bridge.outreach import EVERYONE
from tpbridge.bridge.store.protocol import ConversationFilter

log = structlog.get_logger(__name__)
DIRECTIONS = ("in", "out")
OUTCOMES = ("resolved", "callback", "no_answer")


@runtime_checkable
class Hotline(Protocol):
    """An inbox that takes phone calls (adapters/phone)."""

    name: str

    def address(self, to: str) -> str: ...
    def public_info(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Call:
    number: str
    direction: str
    duration_s: int
    notes: str
    outcome: str
    name: str | None = None
    callback_at: datetime | None = None  # with outcome "callback": when to call again


def _duration(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


class Phone:
    """The hotline service: one per daemon, in `core.extras["phone"]`."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.strings = load_strings(core.config.config_dir / "help")
        core.extras["phone"] = self

    # ------------------------------------------------------------ inboxes
    def hotlines(self) -> dict[str, Hotline]:
        return {name: a for name, a in self.core.adapters.items() if isinstance(a, Hotline)}

    def hotline(self, inbox: str | None) -> Hotline:
        lines = self.hotlines()
        if inbox is None and lines:
            return next(iter(lines.values()))
        if inbox not in lines:
            raise NotFound(f"inbox: no enabled phone inbox {inbox!r}" if inbox else "no phone inbox is enabled")
        return lines[inbox]

    def hours(self, line: Hotline) -> Hours:
        info = line.public_info()
        return Hours.of(TeamSettings(timezone=info["timezone"], hours=info["hours"]))

    def number(self, line: Hotline, raw: object) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise Invalid("number: a phone number is required")
        try:
            return line.address(raw)
        except ValueError as exc:
            raise Invalid(f"number: {exc}") from None

    # ------------------------------------------------------------ calls
    async def log_call(self, inbox: str | None, call: Call, agent: Author) -> Conversation:
        """Log a call in the caller's conversation (found by number, or a new one)."""
        line = self.hotline(inbox)
        number = self.number(line, call.number)
        arrow = "☎ ←" if call.direction == "in" else "☎ →"
        text = f"{arrow} {(call.direction == 'in' and 'Incoming') or 'Outgoing'} call, {_duration(call.duration_s)}" \
               f" — {call.outcome.replace('_', ' ')} (logged by {agent.name})"
        if call.notes.strip():
            text += "\n" + call.notes.strip()
        record = {"number": number, "direction": call.direction, "duration_s": call.duration_s,
                  "outcome": call.outcome, "notes": call.notes, "agent_id": agent.id}
        attrs: dict[str, Any] = {"phone": number, "last_call": record}
        if call.outcome == "callback":
            due = call.callback_at or self.expected(line, None)
            attrs["callback"] = {"status": "due", "due_at": iso(due), "number": number, "requested_by": "agent"}
        elif call.outcome == "resolved" or (call.direction == "out" and call.outcome != "no_answer"):
            attrs["callback"] = {"status": "done", "done_at": iso(utcnow())}
        conv = await self._ingest(line, number, call.name, text, attrs, extra={"call": record})
        if call.outcome == "resolved":
            conv = await self.core.desk.set_status(conv.id, Status.RESOLVED.value)
        log.info("call.logged", inbox=line.name, conversation_id=conv.id, direction=call.direction,
                 outcome=call.outcome)
        return conv

    async def _ingest(self, line: Hotline, number: str, name: str | None, text: str, attrs: dict[str, Any],
                      extra: dict[str, Any]) -> Conversation:
        rec = Inbound(
            # A caller without a name goes by their number (as in Chatwoot): agents must see whom to call.
            inbox=line.name, external_id=f"phone:{uuid.uuid4().hex}",
            sender=Sender(number, name=name or number, handle=number),
            text=text, sent_at=utcnow(), system=True, no_auto_reply=True, conversation_attrs=attrs, extra=extra,
        )
        items = await self.core.pipeline.ingest(line.name, "phone", [rec])
        conv = items[0].conversation
        assert conv is not None
        return conv

    # ------------------------------------------------------------ callbacks
    def expected(self, line: Hotline, preferred: datetime | None) -> datetime:
        """When we will call: the preferred time, not before the lead time, inside the hotline's hours."""
        lead = int(line.public_info().get("callback_lead_minutes", 15))
        earliest = utcnow() + timedelta(minutes=lead)
        when = max(preferred, earliest) if preferred is not None else earliest
        return self.hours(line).next_open(when) or when

    async def request_callback(
        self, number: str, preferred: datetime | None, note: str, *, name: str | None = None,
        source: Conversation | None = None, inbox: str | None = None,
    ) -> tuple[Conversation, datetime]:
        """Queue a callback in the phone inbox: a due task on the caller's conversation."""
        line = self.hotline(inbox)
        e164 = self.number(line, number)
        due = self.expected(line, preferred)
        text = f"☎ Callback requested for {due.astimezone(self.hours(line).zone):%Y-%m-%d %H:%M %Z}"
        if source is not None:
            text += f" (from {source.inbox}, conversation #{source.id})"
        if note.strip():
            text += "\n" + note.strip()
        attrs = {"phone": e164, "callback": {
            "status": "due", "due_at": iso(due), "preferred_at": iso(preferred), "requested_at": iso(utcnow()),
            "number": e164, "note": note, "source_conversation_id": source.id if source else None,
        }}
        conv = await self._ingest(line, e164, name, text, attrs, extra={"callback_request": attrs["callback"]})
        if source is not None and source.priority > conv.priority:
            conv = await self.core.desk.update(conv.id, priority=source.priority)  # a VIP's request stays urgent
        conv = await self.route(conv)
        log.info("callback.queued", inbox=line.name, conversation_id=conv.id, due_at=iso(due), team=conv.team,
                 assignee=conv.assignee_id)
        return conv, due

    async def route(self, conv: Conversation) -> Conversation:
        """With automation on, a callback is routed like a handed-over conversation: the team serving the
        phone inbox (and the language), a VIP's raised priority, an online agent under capacity if there is
        one, and a cycle in the reports. No acknowledgement: the visitor was told when to expect the call."""
        a: Any = self.core.extras.get("automation")
        if a is None or not a.settings.enabled:
            return conv
        from tpbridge.bridge.automation import handoff

        contact = await self.core.store.get_contact(conv.contact_id)
        priority = conv.priority
        if contact is not None and contact.tier and contact.tier.lower() in a.settings.vip_tiers:
            priority = max(priority, Priority.HIGH)
        now = utcnow()
        team = conv.team or handoff.team_for(a, conv, conv.category)
        conv = await self.core.desk.update(conv.id, team=team, priority=priority, handoff_at=now)
        agent = None if conv.assignee_id is not None else await handoff.assign_now(a, conv)
        await a.store.start_cycle(conv.id, conv.inbox, conv.channel, team, conv.category, conv.language, priority,
                                  "callback", 0, now.timestamp())
        if agent is not None:
            await a.store.cycle_assigned(conv.id, now.timestamp())
        a.kick()
        return await self.core.desk.conversation(conv.id)

    async def queue(self, inbox: str | None = None) -> list[Conversation]:
        """Due callbacks, soonest first, higher priority first at the same time."""
        names = [inbox] if inbox else list(self.hotlines())
        due: list[Conversation] = []
        for name in names:
            cursor = None
            while True:
                page = await self.core.store.list_conversations(
                    EVERYONE, ConversationFilter(status="all", inbox=name), 200, cursor)
                due += [c for c in page.items if (c.attrs.get("callback") or {}).get("status") == "due"
                        and c.status is not Status.RESOLVED]
                cursor = page.next_cursor
                if cursor is None:
                    break
        return sorted(due, key=lambda c: (str(c.attrs["callback"].get("due_at")), -c.priority, c.id))

    def _tell(self, language: str | None, due: datetime, line: Hotline) -> str:
        strings = strings_for(self.strings, language)
        local = due.astimezone(self.hours(line).zone)
        template = strings.get("callback_done") or "Thank you. We will call you around {time}."
        return template.format(time=f"{local:%Y-%m-%d %H:%M} ({local.tzname()})")

    async def on_request(self, conv: Conversation, msg: Message) -> None:
        """A channel handed over a callback request (`extra.callback_request`): queue it, tell the person when."""
        req = msg.extra["callback_request"]
        try:
            preferred = None
            if req.get("preferred_at"):
                preferred = datetime.fromisoformat(str(req["preferred_at"]).replace("Z", "+00:00"))
            contact = await self.core.store.get_contact(conv.contact_id)
            _queued, due = await self.request_callback(
                str(req.get("number", "")), preferred, str(req.get("note") or ""),
                name=contact.name if contact else None, source=conv, inbox=req.get("inbox"))
            text = self._tell(req.get("language") or conv.language, due, self.hotline(req.get("inbox")))
        except (Invalid, NotFound) as exc:
            log.warning("callback.refused", inbox=conv.inbox, conversation_id=conv.id, reason=str(exc))
            await self.core.desk.note(conv.id, f"Callback request could not be queued: {exc}")
            return
        await self.core.desk.reply(conv.id, text, author=BOT, auto=True)
