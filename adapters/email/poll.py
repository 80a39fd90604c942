"""Reading the mailbox: catch up by UID, then IDLE; reconnect with the shared backoff when the server goes.

The mailbox is only read (BODY.PEEK), flagged \\Seen after the mail is stored, and never
changed otherwise. The checkpoint "<uidvalidity>:<uid>" is stored with each batch, so a
crash re-reads, never loses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from tpbridge.adapters.base import BadCredentials, ChannelState, Inbound, Sink, backoff

from .api import NETWORK_ERRORS, MailServer
from .convert import Converted, bounce_note, convert
from .imap import ImapSession, raise_if_cancelling
from .settings import EmailSettings

RECONNECT_BASE = 0.5  # seconds before the first reconnect; doubling up to `reconnect_max_seconds`


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


class MailboxReader:
    """Turns the mailbox into ingested batches; `own` are our addresses (echoes of our replies)."""

    def __init__(self, inbox: str, settings: EmailSettings, server: MailServer, own: frozenset[str],
                 log: structlog.stdlib.BoundLogger) -> None:
        self.inbox = inbox
        self.settings = settings
        self.server = server
        self.own = own
        self.log = log

    async def run(self, sink: Sink, session: ImapSession | None) -> None:
        """Catch up, then IDLE; on a lost connection reconnect. BadCredentials propagate (the supervisor
        reports them). `session` is one already logged in (by the adapter's __aenter__), or None."""
        attempt = 0
        while True:
            try:
                if session is None:
                    sink.report(ChannelState.CONNECTING)
                    session = self.server.session()
                    await session.open()
                async for _ in self._receive(session, sink):
                    attempt = 0  # a successful sync resets the backoff
            except BadCredentials as exc:
                self.log.error("imap.login_refused", reason=str(exc))
                raise
            except NETWORK_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"[:300]
                sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=reason)
                self.log.warning("imap.disconnected", reason=reason)
            finally:
                if session is not None:
                    await session.close()
                    session = None
            raise_if_cancelling()
            attempt += 1
            await asyncio.sleep(backoff(attempt, base=RECONNECT_BASE, cap=self.settings.reconnect_max_seconds))

    async def _receive(self, session: ImapSession, sink: Sink) -> AsyncIterator[int]:
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
                    self.inbox,
                    item.raw,
                    own_addresses=self.own,
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
            return bounce_note(self.inbox, done.mail, done.bounce, internaldate)
        inbound = done.inbound
        if inbound is not None and inbound.sender.external_id in self.own:
            # Our own reply coming back (Bcc to ourselves, a Sent folder shared with INBOX).
            if await sink.known([inbound.external_id]):
                return None
        return inbound
