"""What the core needs from a store: a SQLite and (later) a PostgreSQL implementation.

Everything above this line speaks in model objects; no SQL leaves the store's
implementation package.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tpbridge.adapters.base import Inbound
from tpbridge.bridge.audit import AuditEntry
from tpbridge.bridge.model import (
    Agent,
    Attachment,
    Author,
    Contact,
    Conversation,
    Identity,
    Message,
    Role,
    Status,
    Team,
    Viewer,
)


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
    priority: int | None = None
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
class Change:
    """Something another instance committed, for this instance's event bus (bridge/relay.py): an event's
    kind (bridge/events.py), its conversation, its message, and for conversation.updated the fields."""

    kind: str
    conversation_id: int
    message_id: int | None = None
    changes: tuple[str, ...] = ()


UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as listed (its secret is never stored); times are unix seconds."""

    id: int
    agent_id: int
    label: str | None
    created_at: float
    last_used_at: float | None
    expires_at: float | None


class Store(Protocol):
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
    async def pending_inboxes(self) -> list[str]: ...
    async def mark_sent(self, item: OutboxItem, external_id: str) -> Message: ...
    async def mark_failed(self, item: OutboxItem, reason: str, *, unreachable: bool) -> Message: ...
    async def mark_failed_by_external_id(self, inbox: str, external_id: str, reason: str) -> Message | None: ...
    async def reschedule(self, item: OutboxItem, due_at: float, error: str) -> None: ...

    # conversations
    async def get_conversation(self, conversation_id: int) -> Conversation | None: ...
    async def list_conversations(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> Page: ...
    async def list_messages(self, conversation_id: int, *, include_private: bool = True) -> list[Message]: ...
    async def index_search(self) -> int:
        """Bring the full-text index up to the stored messages (it is written behind them, in batches);
        returns how many were indexed. A store that indexes as it writes does nothing."""
        ...
    async def get_message(self, message_id: int) -> Message | None: ...
    async def update_conversation(self, conversation_id: int, **fields: Any) -> Conversation: ...
    async def thread_refs(self, conversation_id: int) -> tuple[list[str], str | None]: ...
    async def attachment(self, attachment_id: int) -> tuple[Attachment, int] | None: ...
    async def due_snoozes(self, now: float) -> list[int]: ...
    async def resolved_between(self, since: float, until: float) -> list[int]:
        """Conversations still resolved whose resolution time is in (since, until], oldest first (500 at most)."""
        ...
    async def identity_messages(self, inbox: str, external_id: str, limit: int) -> list[Message]: ...
    async def list_quarantine(self, limit: int = 100) -> list[dict[str, Any]]: ...

    # people
    async def get_contact(self, contact_id: int) -> Contact | None: ...
    async def get_contacts(self, ids: Sequence[int]) -> dict[int, Contact]: ...
    async def update_contact(self, contact_id: int, **fields: str | None) -> Contact:
        """Set `name`, `email`, `tier` or `language`; LookupError when there is no such contact."""
        ...
    async def find_identity(self, inbox: str, external_id: str) -> Identity | None:
        """The identity with this external id in this inbox (a phone number, an e-mail address), if any."""
        ...
    async def export_contact(self, contact_id: int) -> dict[str, Any] | None: ...
    async def forget_contact(self, contact_id: int) -> list[str]: ...
    async def add_agent(
        self, email: str, name: str, role: Role, password_hash: str | None, teams: Sequence[str],
        languages: Sequence[str],
    ) -> Agent: ...
    async def get_agent(self, agent_id: int) -> Agent | None: ...
    async def agent_by_email(self, email: str) -> tuple[Agent, str | None] | None: ...
    async def list_agents(self) -> list[Agent]: ...
    async def update_agent(self, agent_id: int, **fields: Any) -> Agent: ...
    async def list_teams(self) -> list[Team]: ...
    async def ensure_team(self, name: str, inboxes: Sequence[str] = ()) -> Team: ...
    async def viewer(self, agent: Agent) -> Viewer: ...
    async def add_token(self, agent_id: int, token_hash: str, label: str | None) -> None: ...
    async def agent_by_token(self, token_hash: str) -> Agent | None: ...
    async def add_session(self, session_hash: str, agent_id: int, csrf: str, ttl: float) -> None: ...
    async def session(self, session_hash: str) -> tuple[Agent, str] | None: ...
    async def drop_session(self, session_hash: str) -> None: ...

    # API tokens and the end of credentials (bridge/store/sqlite/credentials.py)
    async def create_token(self, agent_id: int, token_hash: str, label: str | None,
                           expires_at: float | None = None) -> ApiToken: ...
    async def token_login(self, token_hash: str) -> tuple[Agent, ApiToken] | None: ...
    async def touch_token(self, token_id: int) -> None: ...
    async def list_tokens(self, agent_id: int) -> list[ApiToken]: ...
    async def get_token(self, token_id: int) -> ApiToken | None: ...
    async def revoke_token(self, token_id: int) -> bool: ...
    async def end_credentials(self, agent_id: int) -> None:
        """Every session and token of the agent stops working (a password change, a disable)."""
        ...

    # inbox administration (bridge/store/sqlite/admin.py)
    async def list_canned(self) -> list[Any]: ...
    async def add_canned(self, shortcut: str, text: str, created_by: int | None) -> Any: ...
    async def update_canned(self, canned_id: int, shortcut: str | None, text: str | None) -> Any | None: ...
    async def delete_canned(self, canned_id: int) -> bool: ...
    async def contact_family(self, contact_id: int) -> list[int]: ...
    async def merge_contacts(self, target_id: int, source_id: int, *, verified: bool = False) -> None: ...
    async def unmerge_contact(self, contact_id: int) -> None: ...
    async def set_team_inboxes(self, name: str, inboxes: Sequence[str]) -> Team | None: ...
    async def delete_team(self, name: str) -> bool: ...

    async def backup(self, path: str) -> None: ...

    # the audit trail (bridge/audit.py, bridge/store/sqlite/audit.py)
    async def audit_append(self, at: float, agent_id: int | None, agent: str | None, action: str,
                           object: str | None, address: str | None, detail: Mapping[str, Any]) -> AuditEntry: ...
    async def audit_list(self, limit: int, before_id: int | None, agent_id: int | None,
                         action: str | None) -> list[AuditEntry]: ...
    async def audit_after(self, after_id: int, limit: int) -> list[AuditEntry]: ...
    async def audit_last_issued(self) -> int: ...

    # several instances on one store (bridge/lease.py, bridge/relay.py); one process (SQLite): trivial
    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease `name` for `holder` for `ttl` seconds; False while another's lease lives."""
        ...
    async def release(self, name: str, holder: str) -> None: ...
    def changes(self) -> AsyncIterator[list[Change]]:
        """What OTHER instances commit, as it commits (until cancelled)."""
        ...
    async def ping(self) -> None:
        """Raise when the store cannot be reached (/healthz reports degraded)."""
        ...
    # retention (bridge/privacy/retention.py)
    async def expired_conversations(self, resolved_before: float, limit: int) -> list[int]: ...
    async def erase_conversations(self, conversation_ids: Sequence[int]) -> list[str]: ...


__all__ = [
    "UNSET",
    "ApiToken",
    "Change",
    "ConversationFilter",
    "IngestedItem",
    "NewReply",
    "OutboxItem",
    "Page",
    "PreparedInbound",
    "Status",
    "Store",
    "StoreUnavailable",
    "StoredAttachment",
]
