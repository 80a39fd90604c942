"""What the core needs from a store: a SQLite and (later) a PostgreSQL implementation.

Everything outside bridge/store/ reaches the store through this module alone and speaks in
model objects; no SQL and no implementation type leaves the store's package. A second store
is a class with these methods and nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol, TypedDict, Unpack

from tpbridge.adapters.base import Inbound
from tpbridge.bridge.audit import AuditLog
from tpbridge.bridge.model import (
    Agent,
    Attachment,
    Author,
    Canned,
    Contact,
    Conversation,
    Cycle,
    Identity,
    Message,
    Priority,
    QuarantineEntry,
    Role,
    Status,
    Team,
    Viewer,
    Waiting,
)
from tpbridge.bridge.send_windows import SendSlot

BIGINT = 2**63  # ids, cursors and limits are 64-bit in both stores: a larger number names nothing there


class Conflict(ValueError):
    """The change would break a uniqueness rule (e.g. a canned shortcut already taken)."""


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """Bytes already written under data_dir (content-addressed); only the row is left to insert."""

    kind: str
    mime: str
    filename: str | None
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class PreparedInbound:
    record: Inbound
    html: str | None  # sanitised
    attachments: tuple[StoredAttachment, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestedItem:
    message_id: int | None  # None: a duplicate, dropped
    message: Message | None = None
    conversation: Conversation | None = None
    created: bool = False  # a new conversation
    reopened: bool = False
    edited: bool = False


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    message_id: int
    conversation_id: int
    inbox: str
    attempts: int
    due_at: float


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    status: str | None = None  # a Status value, or "all"
    inbox: str | None = None
    channel: str | None = None
    assignee: str | None = None  # "me" | "unassigned" | "all" | an agent id
    team: str | None = None
    label: str | None = None
    priority: Priority | None = None
    contact_id: int | None = None
    q: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Conversation]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class NewReply:
    conversation_id: int
    author: Author
    text: str
    html: str | None = None
    private: bool = False
    auto: bool = False
    reply_to: str | None = None
    attachments: tuple[StoredAttachment, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class StoreUnavailable(Exception):
    """The store cannot be reached (a database restart, a network cut): nothing was committed, so
    nothing may be acknowledged; the caller answers 503 and the channel or client tries again."""


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What erasing a person removed."""

    conversations: list[Conversation]  # as they were just before
    unused_files: list[str]  # sha256 of attachments nothing references any more: the caller deletes them


class Unset(enum.Enum):
    """`UNSET`: a keyword left out, as opposed to one set to None."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


class ConversationFields(TypedDict, total=False):
    """What `update_conversation` may change; `attrs` is merged (a JSON merge patch), `labels` replaced."""

    status: Status
    subject: str | None
    priority: Priority
    category: str | None
    language: str | None
    assignee_id: int | None
    team: str | None
    labels: Sequence[str]
    snoozed_until: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    handoff_at: datetime | None
    reopened_at: datetime | None
    unread: int
    linked_conversation_id: int | None
    attrs: dict[str, Any]  # free-form JSON: automation's state, values a person set


class AgentFields(TypedDict, total=False):
    """What `update_agent` may change; `teams` replaces the agent's teams."""

    name: str
    role: Role
    password_hash: str | None
    teams: Sequence[str]
    languages: Sequence[str]
    ui_language: str | None
    presence: Literal["online", "away"]
    capacity: int
    disabled: bool


# The raw rows of a reporting period, per table ("conversations", "cycles", "bot", "surveys",
# "inbound"); bridge/automation/reports.py turns them into numbers.
ReportRows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Change:
    """Something another instance committed, for this instance's event bus (bridge/relay.py): an event's
    kind (bridge/events.py), its conversation, its message, and for conversation.updated the fields."""

    kind: str
    conversation_id: int
    message_id: int | None = None
    changes: tuple[str, ...] = ()
    # For conversation.deleted, whose rows are gone: the conversation as it was (what deciding who may
    # see the event needs: inbox, team, assignee, contact; no text), so it is not read back.
    gone: Conversation | None = None


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as listed (its secret is never stored); times are unix seconds."""

    id: int
    agent_id: int
    label: str | None
    created_at: float
    last_used_at: float | None
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a request's token or session stands for, read at once (every API request asks)."""

    agent: Agent
    viewer: Viewer
    token: ApiToken | None = None  # signed in with a token: its row (its last use is recorded from it)
    csrf: str | None = None  # signed in with a session: the session's CSRF token


class Store(AuditLog, Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...

    # channel side
    async def ingest(
        self, inbox: str, channel: str, batch: Sequence[PreparedInbound], checkpoint: str | None
    ) -> list[IngestedItem]: ...
    async def checkpoint(self, inbox: str) -> str | None: ...
    async def quarantine(
        self, inbox: str, external_id: str, reason: str, path: str, size: int, checkpoint: str | None
    ) -> None: ...
    async def known(self, inbox: str, external_ids: Sequence[str]) -> set[str]: ...
    async def kv_get(self, key: str) -> str | None: ...
    async def kv_set(self, key: str, value: str, ttl: float | None) -> None: ...

    # replies and delivery
    async def add_reply(self, reply: NewReply) -> tuple[Message, Conversation]: ...
    async def due_outbox(self, inbox: str, now: float, exclude: Sequence[int], limit: int) -> list[OutboxItem]: ...
    async def next_due(self, inbox: str) -> float | None: ...
    async def mark_sent(self, item: OutboxItem, external_id: str) -> Message: ...
    async def mark_failed(self, item: OutboxItem, reason: str, *, unreachable: bool) -> Message: ...
    async def mark_failed_by_external_id(self, inbox: str, external_id: str, reason: str) -> Message | None: ...
    async def reschedule(self, item: OutboxItem, due_at: float, error: str) -> None: ...

    # conversations
    async def get_conversation(self, conversation_id: int) -> Conversation | None: ...
    async def list_conversations(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> Page: ...
    async def conversation_page(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> tuple[Page, dict[int, Contact], dict[int, Agent]]:
        """list_conversations with the page's contacts and assignees (contacts_and_agents), in one read."""
        ...
    async def list_messages(
        self, conversation_id: int, *, include_private: bool = True, limit: int | None = None,
        before: int | None = None,
    ) -> list[Message]:
        """Oldest first: every message, or (with `limit`) the newest `limit` below message id `before`."""
        ...
    async def index_search(self) -> int:
        """Bring the full-text index up to the stored messages (it is written behind them, in batches);
        returns how many were indexed. A store that indexes as it writes does nothing."""
        ...
    async def get_message(self, message_id: int) -> Message | None: ...
    async def update_conversation(self, conversation_id: int, **fields: Unpack[ConversationFields]) -> Conversation:
        """Raises LookupError for an unknown conversation."""
        ...
    async def thread_refs(self, conversation_id: int) -> tuple[list[str], str | None]: ...
    async def attachment(self, attachment_id: int) -> tuple[Attachment, int] | None: ...
    async def due_snoozes(self, now: float) -> list[int]: ...
    async def resolved_between(self, since: float, until: float) -> list[int]:
        """Conversations still resolved whose resolution time is in (since, until], oldest first (500 at most)."""
        ...
    async def identity_messages(self, inbox: str, external_id: str, limit: int) -> list[Message]: ...
    async def list_quarantine(self, limit: int = 100) -> list[QuarantineEntry]: ...
    async def drop_quarantine(self, ids: Sequence[int]) -> None: ...

    # people
    async def get_contact(self, contact_id: int) -> Contact | None: ...
    async def get_contacts(self, ids: Sequence[int]) -> dict[int, Contact]: ...
    async def update_contact(self, contact_id: int, **fields: str | None) -> Contact:
        """Set `name`, `email`, `tier` or `language`; LookupError when there is no such contact."""
        ...
    async def find_identity(self, inbox: str, external_id: str) -> Identity | None:
        """The identity with this external id in this inbox (a phone number, an e-mail address), if any."""
        ...
    async def export_contact(self, contact_id: int) -> dict[str, Any] | None:
        """Everything stored about a person, as the JSON document the export hands out."""
        ...
    async def forget_contact(self, contact_id: int) -> Forgotten:
        """Erase the person and every contact merged into them."""
        ...
    async def unused_files(self, hashes: Sequence[str]) -> list[str]:
        """Those of the attachment hashes no attachment references (a deferred file removal checks again:
        the same content may have come back since)."""
        ...
    async def add_agent(
        self, email: str, name: str, role: Role, password_hash: str | None, teams: Sequence[str],
        languages: Sequence[str],
    ) -> Agent: ...
    async def get_agent(self, agent_id: int) -> Agent | None: ...
    async def agent_by_email(self, email: str) -> tuple[Agent, str | None] | None: ...
    async def list_agents(self) -> list[Agent]: ...
    async def update_agent(self, agent_id: int, **fields: Unpack[AgentFields]) -> Agent: ...
    async def list_teams(self) -> list[Team]: ...
    async def ensure_team(self, name: str, inboxes: Sequence[str] = ()) -> Team: ...
    async def viewer(self, agent: Agent) -> Viewer: ...
    async def add_token(self, agent_id: int, token_hash: str, label: str | None) -> None: ...
    async def add_session(self, session_hash: str, agent_id: int, csrf: str, ttl: float) -> None: ...
    async def sign_in(self, kind: Literal["token", "session"], secret_hash: str) -> SignedIn | None:
        """A valid token's or session's agent with its viewer, in one read."""
        ...
    async def contacts_and_agents(self, contact_ids: Sequence[int],
                                  agent_ids: Sequence[int]) -> tuple[dict[int, Contact], dict[int, Agent]]:
        """A page of conversations' people in one read: the contacts (get_contacts) and the agents by id."""
        ...
    async def drop_session(self, session_hash: str) -> None: ...

    # API tokens and the end of credentials (bridge/store/sqlite/credentials.py)
    async def create_token(self, agent_id: int, token_hash: str, label: str | None,
                           expires_at: float | None = None) -> ApiToken: ...
    async def touch_token(self, token_id: int) -> None: ...
    async def list_tokens(self, agent_id: int) -> list[ApiToken]: ...
    async def get_token(self, token_id: int) -> ApiToken | None: ...
    async def revoke_token(self, token_id: int) -> bool: ...
    async def end_credentials(self, agent_id: int) -> None:
        """Every session and token of the agent stops working (a password change, a disable)."""
        ...

    # inbox administration
    async def list_canned(self) -> list[Canned]: ...
    async def add_canned(self, shortcut: str, text: str, created_by: int | None) -> Canned:
        """Raises Conflict when the shortcut is taken."""
        ...
    async def update_canned(self, canned_id: int, shortcut: str | None, text: str | None) -> Canned | None:
        """None for an unknown id; raises Conflict when the new shortcut is taken."""
        ...
    async def delete_canned(self, canned_id: int) -> bool: ...
    async def contact_family(self, contact_id: int) -> list[int]:
        """The contact and every contact merged into it (their conversations are its history)."""
        ...
    async def merge_contacts(self, target_id: int, source_id: int, *, verified: bool = False) -> list[Conversation]:
        """Merge `source` into `target` (contacts merged into the source move along, so a family is one
        level deep); returns the conversations of the family, each showing a changed person.
        `verified`: the person proved both identities theirs (a one-time code), not an agent's guess."""
        ...
    async def unmerge_contact(self, contact_id: int) -> list[Conversation]:
        """Undo a merge; returns the conversations of the contact and of the family it left."""
        ...
    async def set_team_inboxes(self, name: str, inboxes: Sequence[str]) -> Team | None: ...
    async def delete_team(self, name: str) -> bool: ...

    # support automation (bridge/automation)
    async def set_message_language(self, message_id: int, language: str | None) -> Message | None:
        """The message as changed; None for an unknown id."""
        ...
    async def set_contact_language(self, contact_id: int, language: str) -> list[Conversation]:
        """Returns the conversations of the person (the contact's whole family), each showing the change."""
        ...
    async def last_resolved(self, identity_id: int, exclude: int) -> int | None:
        """The person's most recently resolved conversation: where a survey answer in a new one belongs."""
        ...
    async def auto_replies_since(self, conversation_id: int, since: float) -> int: ...
    async def agent_loads(self) -> dict[int, int]:
        """Open (not resolved) conversations per assigned agent: what balancing counts."""
        ...
    async def waiting(self, team: str | None) -> list[Waiting]:
        """A team's queue, in order: priority first, then who waited longest."""
        ...
    async def waiting_teams(self) -> list[str | None]: ...
    async def set_team_lead(self, team: str, email: str) -> int | None: ...
    async def start_cycle(self, conversation_id: int, inbox: str, channel: str, team: str | None,
                          category: str | None, language: str | None, priority: int, reason: str,
                          position: int, at: float) -> None:
        """Start the clock of a handoff; an earlier cycle nobody answered is superseded."""
        ...
    async def cycle_assigned(self, conversation_id: int, at: float) -> None: ...
    async def cycle_first_human(self, conversation_id: int, at: float) -> Cycle | None:
        """Record the first human reply of the open cycle; returns the cycle when this reply was that first one."""
        ...
    async def cycle_resolved(self, conversation_id: int, at: float) -> None: ...
    async def team_wait(self, team: str | None) -> tuple[float | None, int]:
        """The team's measured seconds per queue place (None: none yet) and how many samples it holds."""
        ...
    async def add_team_wait(self, team: str | None, per_place: float, alpha: float) -> float:
        """Fold one measured wait (seconds per place in the queue) into the team's EWMA."""
        ...
    async def bot_event(self, conversation_id: int, inbox: str, channel: str, language: str | None,
                        *, answered: bool = False, handed_off: bool = False, resolved: bool = False) -> None: ...
    async def add_survey(self, conversation_id: int, contact_id: int, inbox: str, channel: str, team: str | None,
                         language: str | None, score: int, text: str) -> None: ...
    async def report_rows(self, since: float, until: float) -> ReportRows: ...

    async def backup(self, path: str) -> None: ...

    # the audit trail: AuditLog's methods, inherited (bridge/audit.py, bridge/store/sqlite/audit.py)

    # several instances on one store (bridge/lease.py, bridge/relay.py); one process (SQLite): trivial
    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease `name` for `holder` for `ttl` seconds; False while another's lease lives."""
        ...
    async def release(self, name: str, holder: str) -> None: ...
    async def send_slot(self, key: str, rate: float | None, burst: float) -> SendSlot:
        """Reserve the next send under `rate` per second (`burst` at once) for `key`, shared by every instance
        (bridge/send_windows.py); `rate` None only checks for a pause. Paused: nothing reserved."""
        ...
    async def pause_sends(self, key: str, seconds: float) -> None:
        """The channel asked for a pause (429, Retry-After): every instance holds back sends under `key`."""
        ...
    async def sends_paused(self, key: str) -> float:
        """Seconds left of a pause of `key` (0: none)."""
        ...
    def changes(self) -> AsyncIterator[list[Change]]:
        """What OTHER instances commit, as it commits (until cancelled)."""
        ...
    async def changed_rows(self, changes: Sequence[Change]) -> tuple[dict[int, Conversation], dict[int, Message]]:
        """The conversations and messages `changes` name, as they are now, read in one go (bridge/relay.py);
        what is gone since is missing."""
        ...
    async def ping(self) -> None:
        """Raise when the store cannot be reached (/healthz reports degraded)."""
        ...
    # retention (bridge/privacy/retention.py)
    async def expired_conversations(self, resolved_before: float, limit: int) -> list[int]: ...
    async def erase_conversations(self, conversation_ids: Sequence[int]) -> Forgotten:
        """Erase these conversations (as a person's erasure does); returns them as they were and the
        attachment hashes no longer referenced."""
        ...

    # encryption at rest (bridge/crypto.py, bridge/privacy/rekey.py)
    async def reseal_pending(self) -> bool: ...
    async def reseal_step(self, limit: int = 500) -> Any: ...
    async def reseal_finish(self) -> None: ...


__all__ = [
    "UNSET",
    "AgentFields",
    "ApiToken",
    "Canned",
    "Change",
    "Conflict",
    "ConversationFields",
    "ConversationFilter",
    "Cycle",
    "Forgotten",
    "IngestedItem",
    "NewReply",
    "OutboxItem",
    "Page",
    "PreparedInbound",
    "QuarantineEntry",
    "ReportRows",
    "Status",
    "Store",
    "StoreUnavailable",
    "StoredAttachment",
    "Unset",
    "Waiting",
]
