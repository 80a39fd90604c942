"""The shared conversation model: plain dataclasses, no ORM objects leaking out.

Every channel's traffic ends up as these; the core never branches on channel kind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def utcnow() -> datetime:
    return datetime.now(UTC)


# iso() runs ~400 times for a list page of 50 conversations; `isoformat(timespec=...)` costs ~2 us a call
# (0.8 ms of the page), these look-ups a seventh of it. The day's part is kept for the few days a page spans.
_HOURS_MINUTES = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}." for s in range(60)]
_MILLIS = [f"{ms:03d}Z" for ms in range(1000)]
_DAYS: dict[int, str] = {}


def iso(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC to the millisecond (truncated), with a `Z`, as the API promises."""
    if ts is None:
        return None
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    day = _DAYS.get(ordinal := ts.toordinal())
    if day is None:
        if len(_DAYS) >= 4096:
            _DAYS.clear()
        day = _DAYS[ordinal] = ts.date().isoformat() + "T"
    return day + _HOURS_MINUTES[ts.hour * 60 + ts.minute] + _SECONDS[ts.second] + _MILLIS[ts.microsecond // 1000]


class Status(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class AuthorKind(enum.StrEnum):
    CONTACT = "contact"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class Delivery(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class Role(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class Priority(enum.IntEnum):
    """Kept as a number (it orders the queue); shown and filtered as a word."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3

    @property
    def word(self) -> str:
        return self.name.lower()

    @classmethod
    def of_word(cls, word: str) -> Priority:
        """Raises ValueError for anything but "low", "normal", "high" or "urgent"."""
        try:
            return cls[word.upper()] if word.isalpha() and word.islower() else cls[""]
        except KeyError:
            raise ValueError(f"priority must be one of {', '.join(p.word for p in cls)}") from None


@dataclass(frozen=True, slots=True)
class Author:
    kind: AuthorKind
    id: int | None = None
    name: str | None = None


SYSTEM = Author(AuthorKind.SYSTEM, None, "system")
BOT = Author(AuthorKind.BOT, None, "bot")


@dataclass(frozen=True, slots=True)
class Identity:
    id: int
    contact_id: int
    inbox: str
    channel: str
    external_id: str
    handle: str | None = None
    unreachable: str | None = None  # the channel's reason, once a send was refused for good
    link: str | None = None  # came by a merge: "verified" (one-time code from both sides) or "unverified"


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    name: str | None
    language: str | None = None
    tier: str | None = None  # "vip" raises priority
    anonymous: bool = False
    email: str | None = None
    merged_into: int | None = None
    identities: tuple[Identity, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    kind: str
    mime: str
    filename: str | None
    size: int
    sha256: str


# Message and Conversation are built for every message stored (its event), so they are not
# frozen: a frozen dataclass sets each field through object.__setattr__, which made building
# them the largest cost of ours on the ingest path (bench/README.md). Treat them as read-only all
# the same; change one with dataclasses.replace. (Their dict fields never let them be hashed.)
@dataclass(slots=True)
class Message:
    id: int
    conversation_id: int
    inbox: str
    direction: Direction
    author: Author
    text: str
    html: str | None
    private: bool
    external_id: str | None
    delivery: Delivery | None
    error: str | None
    created_at: datetime
    language: str | None = None
    reply_to: str | None = None
    auto: bool = False
    attachments: tuple[Attachment, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    edited_at: datetime | None = None


@dataclass(slots=True)  # not frozen: see Message
class Conversation:
    id: int
    inbox: str
    channel: str
    contact_id: int
    identity_id: int
    status: Status
    subject: str | None
    priority: Priority  # the store may keep an int; the model and the API speak words (Priority.word)
    category: str | None
    language: str | None
    assignee_id: int | None
    team: str | None
    labels: tuple[str, ...]
    thread_key: str | None
    unread: int
    last_message_text: str | None
    last_message_at: datetime | None
    created_at: datetime
    last_activity_at: datetime
    snoozed_until: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    handoff_at: datetime | None = None
    linked_conversation_id: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    # Channel facts the inbox and automation act on, typed here. Adapters report them with the
    # conversation's attributes (Inbound.conversation_attrs); nothing else reads those keys.
    @property
    def public(self) -> bool:
        """A public thread (an X mention, a QQ group): whatever is answered there everyone sees."""
        return self.attrs.get("public") is True

    @property
    def reply_window_ends_at(self) -> datetime | None:
        """When the channel stops taking replies until the person writes again (WeChat, QQ, Weibo)."""
        value = self.attrs.get("reply_window_ends_at")
        if not isinstance(value, str):
            return None
        try:
            ends = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return ends if ends.tzinfo is not None else ends.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Team:
    id: int
    name: str
    inboxes: tuple[str, ...] = ()  # inboxes the team owns ("*" for all)
    lead_id: int | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    email: str
    name: str
    role: Role
    teams: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    ui_language: str | None = None
    presence: str = "away"  # "online" | "away"
    capacity: int = 10
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Canned:
    """A canned response: typed as `/shortcut` in the reply box."""

    id: int
    shortcut: str
    text: str
    created_by: int | None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A conversation in a team's queue (handed to humans, nobody assigned yet)."""

    conversation_id: int
    priority: int
    handoff_at: float
    language: str | None


@dataclass(frozen=True, slots=True)
class Cycle:
    """One time a conversation went to humans: the clock of first response and resolution."""

    id: int
    conversation_id: int
    team: str | None
    started_at: float
    position: int | None  # its place in the queue when it started


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """Something an adapter received and could not understand: kept with the reason, never dropped."""

    id: int
    inbox: str
    external_id: str
    reason: str
    path: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: decides which conversations they may see."""

    agent_id: int
    role: Role
    teams: tuple[str, ...]
    team_inboxes: tuple[str, ...]  # inboxes owned by the viewer's teams ("*" = all)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def may_see(self, conv: Conversation) -> bool:
        if self.is_admin:
            return True
        if conv.team is not None:
            return conv.team in self.teams
        if conv.assignee_id == self.agent_id:
            return True
        return conv.assignee_id is None and ("*" in self.team_inboxes or conv.inbox in self.team_inboxes)
