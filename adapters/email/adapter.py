"""EmailAdapter: a support mailbox in (IMAP catch-up + IDLE) and replies out (SMTP).

The mailbox is only read (BODY.PEEK), flagged \\Seen after the mail is stored, and
appended to (the Sent copy): nothing is deleted or moved. The checkpoint
"<uidvalidity>:<uid>" is stored with each batch, so a crash re-reads, never loses.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self

import structlog
from aioimaplib import aioimaplib
from tpbridge.adapters.base import (
    AdapterContext,
    BadCredentials,
    ChannelState,
    Inbound,
    Outbound,
    Rejected,
    Sent,
    Sink,
)

from .compose import build_reply, outbound_message_id
from .convert import Converted, bounce_note, convert
from .imap import ImapError, ImapSession, raise_if_cancelling
from .settings import EmailSettings
from .smtp import deliver

log = structlog.get_logger(__name__)

_NETWORK_ERRORS = (ImapError, OSError, TimeoutError, aioimaplib.AioImapException, ssl.SSLError)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where reading stopped: "<uidvalidity>:<uid>", plus ":<target>" while the initial import runs.

    The target (the last UID that existed when the import began) lets a restart finish an
    interrupted import as imported history instead of answering old mail automatically.
    """

    uidvalidity: int
    uid: int
    importing_until: int | None = None

    @classmethod
    def parse(cls, value: str | None) -> Checkpoint | None:
        parts = (value or "").split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            return None
        numbers = [int(p) for p in parts]
        return cls(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)


class EmailAdapter:
    """One support mailbox: each mail thread is a conversation, replies go out as real replies."""

    kind: ClassVar[str] = "email"
    Settings: ClassVar[type[EmailSettings]] = EmailSettings

    def __init__(self, name: str, settings: EmailSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.log = log.bind(inbox=name)
        self._tls: ssl.SSLContext | None = None
        self._own = frozenset({settings.from_email, settings.username.lower()})
        self._salt: str | None = None
        self._session: ImapSession | None = None
        self._send_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        """Log in to IMAP once, so that wrong credentials show up at start (BadCredentials).

        An unreachable server is not fatal here: the inbox is reported as disconnected and
        run() keeps reconnecting, so one mail server's outage never stops the daemon.
        """
        self._tls = self.settings.ssl_context()
        session = ImapSession(self.settings, self._tls)
        try:
            await session.open()
        except BadCredentials as exc:
            await session.close()
            self.ctx.sink.report(ChannelState.BAD_CREDENTIALS, reason=str(exc))
            self.log.error("imap.login_refused", reason=str(exc))
            raise
        except _NETWORK_ERRORS as exc:
            await session.close()
            reason = f"{type(exc).__name__}: {exc}"[:300]
            self.ctx.sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=reason)
            self.log.warning("imap.unreachable", reason=reason)
        else:
            self._session = session
        return self

    async def __aexit__(self, *exc: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def tls(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = self.settings.ssl_context()
        return self._tls

    # ------------------------------------------------------------ receiving

    async def run(self, sink: Sink) -> None:
        """Catch up, then IDLE; on a lost connection reconnect with capped, jittered backoff."""
        attempt = 0
        session, self._session = self._session, None  # the one __aenter__ logged in with, if any
        while True:
            try:
                if session is None:
                    sink.report(ChannelState.CONNECTING)
                    session = ImapSession(self.settings, self.tls)
                    await session.open()
                async for _ in self._receive(session, sink):
                    attempt = 0  # a successful sync resets the backoff
            except BadCredentials as exc:
                sink.report(ChannelState.BAD_CREDENTIALS, reason=str(exc))
                self.log.error("imap.login_refused", reason=str(exc))
                raise
            except _NETWORK_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"[:300]
                sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=reason)
                self.log.warning("imap.disconnected", reason=reason)
            finally:
                if session is not None:
                    await session.close()
                    session = None
            raise_if_cancelling()
            delay = min(self.settings.reconnect_max_seconds, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
            attempt = min(attempt + 1, 16)
            await asyncio.sleep(delay)

    async def _receive(self, session: ImapSession, sink: Sink) -> Any:
        """Yields after every completed sync; returns only by raising."""
        s = self.settings
        state = await session.select(s.mailbox)
        sink.report(ChannelState.CONNECTED)
        stored = Checkpoint.parse(await sink.last_checkpoint())
        v = state.uidvalidity
        if stored is None or stored.uidvalidity != v or stored.importing_until is not None:
            # First sync, or the server renumbered the mailbox (UIDVALIDITY changed), or such an
            # import was interrupted: import the window as history (no automatic replies); the
            # core drops what it already has (Message-ID / content hash).
            resuming = stored is not None and stored.uidvalidity == v and stored.importing_until is not None
            if stored is not None and stored.uidvalidity != v:
                self.log.warning("imap.uidvalidity_changed", old=stored.uidvalidity, new=v)
            window_start = (datetime.now(UTC) - timedelta(days=s.import_window_days)).date()
            in_window = await session.uids_since(window_start)
            if resuming:
                assert stored is not None and stored.importing_until is not None
                after, target = stored.uid, stored.importing_until
            else:
                after = 0
                target = (state.uidnext - 1) if state.uidnext else max(in_window, default=0)
            uids = [u for u in in_window if after < u <= target]
            await self._import(session, sink, v, uids, imported=True, importing_until=target)
            await sink.ingest([], checkpoint=f"{v}:{target}")
            self.log.info("imap.initial_sync", imported=len(uids), uidvalidity=v, uid=target, resumed=resuming)
            last = target
        else:
            last = stored.uid
        while True:
            uids = await session.uids_after(last)
            last = max(last, await self._import(session, sink, state.uidvalidity, uids, imported=False))
            yield last
            await session.idle_once(s.idle_renew_seconds)

    async def _import(
        self,
        session: ImapSession,
        sink: Sink,
        validity: int,
        uids: list[int],
        *,
        imported: bool,
        importing_until: int | None = None,
    ) -> int:
        """Fetch, convert and store `uids` in batches; returns the last UID stored."""
        tag = f":{importing_until}" if importing_until is not None else ""
        last = 0
        for start in range(0, len(uids), self.settings.fetch_batch):
            raise_if_cancelling()
            chunk = uids[start : start + self.settings.fetch_batch]
            fetched = await session.fetch(chunk)
            batch: list[Inbound] = []
            for item in fetched:
                done = await asyncio.to_thread(
                    convert,
                    self.name,
                    item.raw,
                    own_addresses=self._own,
                    internaldate=item.internaldate,
                    imported=imported,
                )
                if done.quarantined is not None:
                    # Stored with its own checkpoint (after what came before it), so a crash
                    # here never quarantines the same mail twice nor skips the ones before it.
                    if batch:
                        await self._store(sink, batch, f"{validity}:{last}{tag}")
                        batch = []
                    await sink.quarantine(done.quarantined, checkpoint=f"{validity}:{item.uid}{tag}")
                    self.log.warning(
                        "mail.quarantined", external_id=done.quarantined.external_id, reason=done.quarantined.reason
                    )
                else:
                    record = await self._record(sink, done, item.internaldate)
                    if record is not None:
                        batch.append(record)
                last = item.uid
            # The checkpoint is committed with the batch: only then is the mail "acknowledged".
            await self._store(sink, batch, f"{validity}:{chunk[-1]}{tag}")
            if self.settings.mark_seen:
                await session.mark_seen([f.uid for f in fetched])
            last = chunk[-1]
        return last

    async def _store(self, sink: Sink, batch: list[Inbound], checkpoint: str) -> None:
        result = await sink.ingest(batch, checkpoint=checkpoint)
        new = sum(1 for m in result.message_ids if m is not None)
        self.log.info("mail.ingested", count=len(batch), new=new, checkpoint=checkpoint)

    async def _record(self, sink: Sink, done: Converted, internaldate: datetime | None) -> Inbound | None:
        """The record to store for a converted mail; None when it is a matched bounce or our own echo."""
        if done.bounce is not None and done.mail is not None:
            if done.bounce.failed:
                for original in done.bounce.original_ids:
                    if await sink.delivery_failed(original, done.bounce.reason):
                        self.log.info("bounce.matched", original=original, reason=done.bounce.reason)
                        return None
            self.log.info("bounce.unmatched", external_id=done.mail.external_id, failed=done.bounce.failed)
            return bounce_note(self.name, done.mail, done.bounce, internaldate)
        inbound = done.inbound
        if inbound is not None and inbound.sender.external_id in self._own:
            # Our own reply coming back (Bcc to ourselves, a Sent folder shared with INBOX).
            if await sink.known([inbound.external_id]):
                return None
        return inbound

    # ------------------------------------------------------------ sending

    async def send(self, out: Outbound) -> Sent:
        """Send one reply as a threaded mail; the Message-ID we return threads the answer back."""
        blog = self.log.bind(conversation_id=out.conversation_id, message_id=out.message_id)
        if "@" not in out.recipient or any(ch in out.recipient for ch in "\r\n<>, "):
            raise Rejected(f"not an email address: {out.recipient!r}", unreachable=True)
        domain = self.settings.from_email.rpartition("@")[2]
        message_id = outbound_message_id(out, await self._message_id_salt(), domain)
        try:
            msg = await asyncio.to_thread(build_reply, out, self.settings, message_id)
        except OSError as exc:
            raise Rejected(f"attachment unreadable: {exc.strerror or exc}") from None
        await deliver(msg, self.settings, self.tls, sender=self.settings.from_email, recipient=out.recipient)
        blog.info("mail.sent", external_id=message_id, attempt=out.attempt)
        if self.settings.sent_folder:
            await self._save_copy(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), blog)  # IMAP wants CRLF
        return Sent(external_id=message_id, extra={"subject": str(msg["Subject"])})

    async def _save_copy(self, raw: bytes, blog: Any) -> None:
        """APPEND the sent mail to the Sent folder; the reply is out already, so failures only log."""
        assert self.settings.sent_folder is not None
        session = ImapSession(self.settings, self.tls)
        try:
            await session.open()
            await session.append(self.settings.sent_folder, raw)
        except (*_NETWORK_ERRORS, BadCredentials) as exc:
            blog.warning("sent_copy.failed", folder=self.settings.sent_folder, reason=str(exc)[:300])
        finally:
            await session.close()

    async def _message_id_salt(self) -> str:
        """A random per-inbox secret, shared through the store, so Message-IDs never repeat."""
        if self._salt is None:
            async with self._send_lock:
                sink = self.ctx.sink
                salt = await sink.kv_get("msgid-salt")
                if salt is None:
                    salt = secrets.token_hex(16)
                    await sink.kv_set("msgid-salt", salt)
                self._salt = salt
        return self._salt
