"""The boundary between a channel and the core.

Channel libraries stop at the adapter; what crosses into the core is one of the
small frozen dataclasses below, so the core can be read without knowing any
channel. Errors that drive retries are named exceptions, not status codes.
"""

from __future__ import annotations

import asyncio
import enum
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Protocol, Self, runtime_checkable

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

# ---------------------------------------------------------------- settings

MAX_EMAIL = 320  # characters of an e-mail address: RFC 5321's 64 for the local part, @ and 255 for the domain


def resolve_secret(value: object, info: ValidationInfo) -> object:
    """Turn `env:NAME` / `file:PATH` into the secret itself, with an error naming the source.

    A disabled channel's table is checked for shape only (context `resolve_secrets=False`),
    so the shipped config with every channel off validates without their variables.
    """
    if not isinstance(value, str) or (info.context or {}).get("resolve_secrets") is False:
        return value
    return secret_value(value)


def secret_value(value: str) -> str:
    """`env:NAME` / `file:PATH` resolved (ValueError naming the source when it cannot be); else `value`."""
    if value.startswith("env:"):
        name = value[4:]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]
    if value.startswith("file:"):
        path = Path(value[5:])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    return value


Secret = Annotated[str, BeforeValidator(resolve_secret)]
"""A config string that may be given inline, as `env:NAME` or as `file:/path`."""


class ChannelSettings(BaseModel):
    """Base of every `[channels.<kind>.<name>]` table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # An anonymous inbox: agents see "Visitor 17", never the person's name, handle or address
    # (replies still go out; export and erasure still work). Read by the core, not the adapter.
    anonymous: bool = False


# ---------------------------------------------------------------- inbound


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote, as the channel knows them."""

    external_id: str  # Telegram chat id, email address (lower-cased), WeChat openid, X user id
    name: str | None = None
    handle: str | None = None  # @username, or the address shown to agents
    language: str | None = None  # a hint from the channel (Telegram's language_code)
    email: str | None = None  # the e-mail address they write from (a new contact's address)


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    """Bytes received from a channel; the core stores them content-addressed."""

    kind: str  # "image" | "file" | "audio" | "voice" | "video" | "sticker"
    mime: str
    data: bytes
    filename: str | None = None
    path: Path | None = None  # an upload already spooled to disk (data is then b""): the core moves it in


@dataclass(frozen=True, slots=True)
class ThreadHint:
    """How to find the conversation a record belongs to, beyond "the identity's open one".

    - `key`: conversations are keyed by this (e.g. an X public thread `conversation_id`):
      the latest open conversation with the same key, else a new one.
    - `references`: external ids of earlier messages (email In-Reply-To/References);
      the conversation holding one of them is joined if the sender takes part in it.
    - `token`: a conversation id quoted by the user (email subject `[#123]`).
    - `per_thread`: when nothing above matches, open a NEW conversation instead of
      joining the identity's open one (email: a new thread is a new conversation).
    """

    key: str | None = None
    references: tuple[str, ...] = ()
    token: int | None = None
    per_thread: bool = False


class SanitisedHtml(str):
    """HTML already in the exact form the core's sanitiser returns (escaped text, tags it keeps as they
    are): stored without another pass. Only for HTML an adapter builds itself from escaped text — the
    Telegram text path (adapters/telegram/text.py), whose test proves clean_html(x) == x for what it marks."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a channel handed over: a message, an edit, or a system note."""

    inbox: str
    external_id: str  # unique per inbox: the dedupe key
    sender: Sender
    text: str
    sent_at: datetime
    html: str | None = None  # raw; the core sanitises it with nh3 before storing
    subject: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    thread: ThreadHint | None = None
    reply_to: str | None = None  # external id of the quoted message
    edit_of: str | None = None  # set on an edit: external id of the edited message
    system: bool = False  # store as a system note (an event, an unknown kind) not as the contact's words
    no_auto_reply: bool = False  # never answer automatically (auto-submitted mail, imported history)
    conversation_attrs: Mapping[str, Any] = field(default_factory=dict)  # merged into the conversation
    extra: Mapping[str, Any] = field(default_factory=dict)  # channel specifics kept on the message
    raw: bytes | None = None  # the original bytes when worth keeping (an email's .eml)
    # Channel facts the inbox and automation act on (Conversation.public / .reply_window_ends_at):
    public: bool | None = None  # a public thread (X mention, QQ group): what is answered there everyone sees
    reply_window_ends_at: datetime | None = None  # the channel refuses replies after this (WeChat, QQ, Weibo)

    def conversation_facts(self) -> dict[str, Any]:
        """What the store merges into the conversation: the channel's own attributes and the typed facts."""
        facts = dict(self.conversation_attrs)
        if self.public is not None:
            facts["public"] = self.public
        if self.reply_window_ends_at is not None:
            facts["reply_window_ends_at"] = self.reply_window_ends_at.isoformat()
        return facts


@dataclass(frozen=True, slots=True)
class Quarantined:
    """Something received that could not be understood: kept with the reason, never dropped."""

    inbox: str
    external_id: str
    reason: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What `Sink.ingest` did, per record, in order: the message id, or None for a duplicate."""

    message_ids: tuple[int | None, ...]


@dataclass(frozen=True, slots=True)
class PastAttachment:
    filename: str | None
    mime: str
    size: int


@dataclass(frozen=True, slots=True)
class PastMessage:
    """One message a person may see again (the web chat's history after a reload): never a private note."""

    id: int
    direction: str  # "in" | "out"
    author: str  # "contact" | "agent" | "bot" | "system"
    text: str
    created_at: datetime
    attachments: tuple[PastAttachment, ...] = ()
    delivered: bool = True  # False for a reply still queued or failed: the channel has not shown it


# ---------------------------------------------------------------- outbound


class Readable(Protocol):
    """Where an outbound attachment's bytes are: a `Path`, or an object in the attachment store
    (bridge/attachments/). `read_bytes` blocks (a disk or a network read): call it from a thread."""

    def read_bytes(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class OutboundAttachment:
    kind: str
    mime: str
    filename: str
    size: int
    source: Readable  # where the bytes are; read them, never hand the channel a URL of ours

    async def read(self) -> bytes:
        """The bytes, read off the event loop. Raises `StoreUnavailable` (bridge/store/protocol.py) when
        the attachment store cannot be reached: the outbox retries the reply later."""
        return await asyncio.to_thread(self.source.read_bytes)


@dataclass(frozen=True, slots=True)
class Outbound:
    """One reply to deliver, as the outbox worker hands it to `Adapter.send`."""

    inbox: str
    message_id: int
    conversation_id: int
    recipient: str  # the identity's external id
    text: str
    html: str | None = None
    attachments: tuple[OutboundAttachment, ...] = ()
    reply_to: str | None = None  # external id of the user message this answers (may be None)
    quote: bool = False  # the agent picked `reply_to` explicitly: show it as a quoted reply where the channel can
    subject: str | None = None  # the conversation's subject
    thread_refs: tuple[str, ...] = ()  # external ids of the conversation's messages, oldest first
    thread_key: str | None = None
    auto: bool = False  # written by automation (ack, survey): email adds Auto-Submitted
    conversation_attrs: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    public: bool = False  # the conversation is a public thread (Conversation.public)
    reply_window_ends_at: datetime | None = None  # the channel refuses replies after this


@dataclass(frozen=True, slots=True)
class Sent:
    external_id: str  # the channel's id of what was sent (first part when split)
    extra: Mapping[str, Any] = field(default_factory=dict)


class AdapterError(Exception):
    """Base of the errors that drive the outbox and the supervisor."""


class Retry(AdapterError):
    """Transient: try again, after `after` seconds when the channel said so.

    `throttle`: the channel's rate limit answered (a 429, a Retry-After) — every daemon instance holds
    back its sends under that key for `after` seconds, not only this reply: `""` is the whole inbox
    (the outbox claims nothing meanwhile), another key is one the adapter checks itself
    (`Sink.send_slot`), e.g. one API endpoint.
    """

    def __init__(self, reason: str, after: float | None = None, *, throttle: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after
        self.throttle = throttle


class Rejected(AdapterError):
    """Permanent: the channel refused; `reason` is shown on the message."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable  # the recipient cannot be reached any more (blocked the bot)


class BadCredentials(AdapterError):
    """The channel refused our credentials: the inbox is unhealthy until the config changes.

    Raise it, never report it: the supervisor (receiving) and the outbox (sending) put the
    inbox's health to `bad_credentials` with this reason, and back to healthy when it works again.
    """


def backoff(attempt: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Capped exponential backoff, jittered over the upper half, for attempt 1, 2, ….

    The one schedule of every retry loop: the supervisor's restarts, the outbox's resends,
    an adapter's own reconnects (the email IDLE loop). Jitter keeps many inboxes that lost
    the same network from coming back in step.
    """
    delay = min(cap, base * 2.0 ** min(max(0, attempt - 1), 32))
    return delay / 2 + random.uniform(0, delay / 2)


# ---------------------------------------------------------------- health


class ChannelState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    TRANSIENT_DISCONNECT = "transient_disconnect"
    BAD_CREDENTIALS = "bad_credentials"
    STOPPED = "stopped"


# ---------------------------------------------------------------- protocols


class Sink(Protocol):
    """The core's side, handed to an adapter: everything it may do to the store."""

    inbox: str

    async def ingest(self, batch: Sequence[Inbound], *, checkpoint: str | None = None) -> IngestResult:
        """Store the batch and the checkpoint in ONE transaction; duplicates are dropped."""
        ...

    async def last_checkpoint(self) -> str | None: ...

    async def quarantine(self, item: Quarantined, *, checkpoint: str | None = None) -> None:
        """Keep what could not be parsed, with the reason (visible to admins)."""
        ...

    async def known(self, external_ids: Sequence[str]) -> set[str]:
        """Which of these external ids (inbound or outbound) are already stored in this inbox."""
        ...

    async def delivery_failed(self, external_id: str, reason: str) -> bool:
        """Mark the outbound message with this external id failed (a bounce); False if unknown."""
        ...

    async def kv_get(self, key: str) -> str | None:
        """A value shared by every daemon instance on this store (e.g. WeChat's access token)."""
        ...

    async def kv_set(self, key: str, value: str, *, ttl: float | None = None) -> None: ...

    async def send_slot(self, key: str = "", rate: float | None = None, burst: float = 1.0) -> None:
        """Wait for a slot to send under `rate` per second (at most `burst` at once) for `key` (`""`: the
        whole inbox; e.g. `"chat:42"` for one chat) — paced across every daemon instance on this store.
        Raises Retry while the channel asked for a pause of that key (`Retry.throttle`); `rate` None only
        checks for one."""
        ...

    def report(self, state: ChannelState, *, reason: str | None = None) -> None:
        """Push the inbox's connection state (connecting, connected, transient_disconnect); shown in
        /healthz, transitions logged. Bad credentials are raised (`BadCredentials`), not reported."""
        ...

    async def history(self, sender_external_id: str, limit: int = 200) -> Sequence[PastMessage]:
        """What this person wrote and was sent in this inbox, oldest first, the newest `limit`."""
        ...


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What the core gives an adapter when it builds it."""

    sink: Sink
    public_url: str  # what the channel calls back, e.g. "https://support.example.com"
    data_dir: Path
    webhook_path: str  # where this inbox's webhook routes go, e.g. "/hooks/telegram/main"

    @property
    def webhook_url(self) -> str:
        """The webhook's address as the channel calls it (what Telegram's setWebhook is given)."""
        return self.public_url.rstrip("/") + self.webhook_path


class Adapter(Protocol):
    kind: ClassVar[str]  # "telegram" | "x" | "email" | "wechat" | "webchat"
    Settings: ClassVar[type[ChannelSettings]]
    name: str  # the inbox key, e.g. "telegram.main"

    def __init__(self, name: str, settings: Any, ctx: AdapterContext) -> None: ...

    async def __aenter__(self) -> Self:
        """Open clients and verify credentials (raise BadCredentials)."""
        ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def run(self, sink: Sink) -> None:
        """Receive until cancelled or disconnected; the supervisor restarts it with backoff."""
        ...

    async def send(self, out: Outbound) -> Sent:
        """Deliver one reply, or raise Retry / Rejected / BadCredentials."""
        ...


@dataclass(frozen=True, slots=True)
class Reach:
    """What the core knows of a recipient in one inbox, for the channel's rule on writing first."""

    now: datetime
    has_written: bool  # an identity in this inbox that wrote to us before
    conversation_attrs: tuple[Mapping[str, Any], ...] = ()  # their conversations' attrs here, newest first


class ChannelRule(AdapterError):
    """The channel forbids writing first to this recipient; `rule` names the rule (shown in the 422)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@runtime_checkable
class StartsConversations(Protocol):
    """A channel on which the desk may write first (`POST /api/v1/conversations`)."""

    def address(self, to: str) -> str:
        """The channel's own form of a recipient address (an e-mail lower-cased, a number in E.164);
        ValueError when it is not one."""
        ...

    def may_start(self, reach: Reach) -> None:
        """Raise ChannelRule when the channel's rules forbid writing first to this recipient."""
        ...


@runtime_checkable
class HasWebhooks(Protocol):
    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """Routes at `AdapterContext.webhook_path` (the web chat: its pages' `path`), mounted by the core."""
        ...


@runtime_checkable
class Polls(Protocol):
    def polls(self) -> bool:
        """True when `run` fetches from the channel (long polling, IMAP IDLE): with several instances on
        one store, exactly one of them runs it at a time, under a lease (bridge/lease.py)."""
        ...


@runtime_checkable
class PushesToClients(Protocol):
    def delivered_elsewhere(self, out: Outbound) -> None:
        """Another instance delivered `out` (its `send` ran there): push it to the clients connected to
        this process too (the web chat's open pages), as `send` does for its own."""
        ...
