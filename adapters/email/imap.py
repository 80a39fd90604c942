"""One IMAP connection on aioimaplib: login (implicit TLS, STARTTLS or plain), SELECT, UID search
and fetch, IDLE. Read-only towards the mailbox except the \\Seen flag and APPEND to a Sent folder.

aioimaplib has no STARTTLS command of its own: we send the command through its protocol
object and upgrade the running transport with `loop.start_tls` (RFC 3501 §6.2.1), then
re-read the capabilities, which change after TLS.
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from aioimaplib import aioimaplib
from tpbridge.adapters.base import BadCredentials

from .settings import EmailSettings

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS")
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_LITERAL = re.compile(rb"\{(\d+)\}$")
T = TypeVar("T")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # aioimaplib has no type hints
    """Remembers an EXISTS that arrives outside IDLE (e.g. with a SEARCH response).

    aioimaplib drops such untagged responses; without this, a mail delivered between our
    catch-up SEARCH and the next IDLE would wait for the next IDLE renewal (up to 25 min).
    """

    exists_seen = False

    def _untagged_response(self, line: bytes) -> aioimaplib.Command:
        if b"EXISTS" in line:
            self.exists_seen = True
        return super()._untagged_response(line)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]  # aioimaplib has no type hints
    def create_client(self, host: str, port: int, loop: Any, conn_lost_cb: Any = None, ssl_context: Any = None) -> None:
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _Protocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


class ImapError(ConnectionError):
    """The server said NO/BAD to something we need, or the connection broke: reconnect later."""


@dataclass(frozen=True, slots=True)
class MailboxState:
    uidvalidity: int
    uidnext: int | None
    exists: int


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes
    internaldate: datetime | None


class ImapSession:
    """A logged-in IMAP connection; `lost` is set the moment the server goes away."""

    def __init__(self, settings: EmailSettings, tls: ssl.SSLContext) -> None:
        self._settings = settings
        self._tls = tls
        self._client: _Client | None = None
        self.lost = asyncio.Event()

    @property
    def client(self) -> _Client:
        assert self._client is not None, "open() first"
        return self._client

    async def _unless_lost(self, command: Awaitable[T]) -> T:
        """One command, failing the moment the connection drops.

        aioimaplib leaves a command sent on a dead connection waiting: until its timeout (`timeout`),
        or for ever for the IDLE that follows a catch-up. A server that kicks us between two commands
        is then noticed at once, not after a timeout.
        """
        task = asyncio.ensure_future(command)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            lost.cancel()
        if not task.done():
            task.cancel()
            raise ImapError("IMAP connection lost")
        return task.result()

    async def open(self) -> None:
        """Connect, secure, log in; BadCredentials when the server refuses the login."""
        s = self._settings
        self._client = _Client(
            host=s.imap_host,
            port=s.imap_port,
            timeout=s.timeout,  # aioimaplib's default is 10 s per command
            conn_lost_cb=lambda exc: self.lost.set(),
            ssl_context=self._tls if s.imap_tls == "implicit" else None,
        )
        await self.client.wait_hello_from_server()
        if s.imap_tls == "starttls":
            await self._starttls()
        response = await self._unless_lost(self.client.login(aioimaplib.quoted(s.username), s.password))
        if response.result != "OK":
            text = _text(response.lines)
            if "[UNAVAILABLE]" in text or "[SERVERBUG]" in text:
                raise ImapError(f"IMAP login failed: {text}")
            raise BadCredentials(f"IMAP login refused: {text}")

    async def _starttls(self) -> None:
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise ImapError("imap_tls = 'starttls' but the server does not offer STARTTLS")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await asyncio.wait_for(protocol.execute(command), self._settings.timeout)
        if response.result != "OK":
            raise ImapError(f"STARTTLS refused: {_text(response.lines)}")
        loop = asyncio.get_running_loop()
        transport = await asyncio.wait_for(
            loop.start_tls(protocol.transport, protocol, self._tls, server_hostname=self._settings.imap_host),
            self._settings.timeout,
        )
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), self._settings.timeout)

    async def select(self, mailbox: str) -> MailboxState:
        response = await self._unless_lost(self.client.select(mailbox_name(mailbox)))
        if response.result != "OK":
            raise ImapError(f"SELECT {mailbox} failed: {_text(response.lines)}")
        validity = uidnext = None
        exists = 0
        for line in response.lines:
            if isinstance(line, bytes | bytearray):
                if m := _UIDVALIDITY.search(line):
                    validity = int(m.group(1))
                if m := _UIDNEXT.search(line):
                    uidnext = int(m.group(1))
                if m := _EXISTS.match(line):
                    exists = int(m.group(1))
        if validity is None:
            raise ImapError(f"SELECT {mailbox}: the server sent no UIDVALIDITY")
        return MailboxState(validity, uidnext, exists)

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending (`N:*` also matches the highest UID: filtered here)."""
        return [u for u in await self._search("UID", f"{last_uid + 1}:*") if u > last_uid]

    async def uids_since(self, day: date) -> list[int]:
        """UIDs whose internal date is on or after `day` (IMAP SEARCH SINCE)."""
        return await self._search("SINCE", f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}")

    async def _search(self, *criteria: str) -> list[int]:
        response = await self._unless_lost(self.client.uid_search(*criteria, charset=None))
        if response.result != "OK":
            raise ImapError(f"UID SEARCH failed: {_text(response.lines)}")
        uids: set[int] = set()
        # aioimaplib strips "* SEARCH" from the untagged line: what is left is the UID list;
        # the last line is the tagged completion text.
        for line in response.lines[:-1]:
            if isinstance(line, bytes | bytearray):
                words = line.split()
                if words and words[0].upper() == b"SEARCH":
                    words = words[1:]
                if all(w.isdigit() for w in words):
                    uids.update(int(w) for w in words)
        return sorted(uids)

    async def fetch(self, uids: list[int]) -> list[Fetched]:
        """The raw bytes of these mails; BODY.PEEK so that fetching does not set \\Seen."""
        response = await self._unless_lost(self.client.uid("fetch", _uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])"))
        if response.result != "OK":
            raise ImapError(f"UID FETCH failed: {_text(response.lines)}")
        found: dict[int, Fetched] = {}
        lines = response.lines
        for i, line in enumerate(lines):
            # "N FETCH (UID u INTERNALDATE "..." BODY[] {size}" followed by the literal itself
            if not isinstance(line, bytes) or b"FETCH" not in line or not _LITERAL.search(line):
                continue
            data = lines[i + 1] if i + 1 < len(lines) else None
            uid_match = _FETCH_UID.search(line)
            if uid_match is None and i + 2 < len(lines) and isinstance(lines[i + 2], bytes):
                uid_match = _FETCH_UID.search(lines[i + 2])  # some servers send UID after the literal
            if uid_match is None or not isinstance(data, bytes | bytearray):
                continue
            date_match = _INTERNALDATE.search(line)
            uid = int(uid_match.group(1))
            found[uid] = Fetched(uid, bytes(data), _internaldate(date_match.group(1)) if date_match else None)
        return [found[u] for u in sorted(found)]

    async def mark_seen(self, uids: list[int]) -> None:
        if uids:
            response = await self._unless_lost(self.client.uid("store", _uid_set(uids), "+FLAGS.SILENT", r"(\Seen)"))
            if response.result != "OK":
                raise ImapError(f"UID STORE failed: {_text(response.lines)}")

    async def append(self, mailbox: str, raw: bytes, flags: str = r"(\Seen)") -> None:
        response = await self._unless_lost(self.client.append(raw, mailbox=mailbox_name(mailbox), flags=flags))
        if response.result != "OK":
            raise ImapError(f"APPEND to {mailbox} failed: {_text(response.lines)}")

    async def idle_once(self, renew: float) -> bool:
        """IDLE until the mailbox changes (True) or `renew` seconds pass (False: re-issue IDLE).

        RFC 2177: servers may drop an IDLE after 30 minutes, so it is re-issued before that.
        Raises ImapError when the connection is lost while idling.
        """
        raise_if_cancelling()
        client = self.client
        protocol = client.protocol
        assert isinstance(protocol, _Protocol)
        if protocol.exists_seen:  # new mail announced while we were busy: catch up first
            protocol.exists_seen = False
            return True
        if not client.has_capability("IDLE"):
            # A server without IDLE (rare): poll. NOOP lets the server report news, then we search.
            try:
                await asyncio.wait_for(self.lost.wait(), self._settings.poll_seconds)
            except TimeoutError:
                await client.noop()
                return True
            raise ImapError("IMAP connection lost")
        idle = await self._unless_lost(client.idle_start(timeout=renew))
        changed = False
        lost = asyncio.ensure_future(self.lost.wait())
        push: asyncio.Future[Any] | None = None
        try:
            while client.has_pending_idle():
                push = asyncio.ensure_future(client.wait_server_push(timeout=renew + 60))
                done, _ = await asyncio.wait({push, lost}, return_when=asyncio.FIRST_COMPLETED)
                if lost in done:
                    raise ImapError("IMAP connection lost while idling")
                message = push.result()
                if message == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(isinstance(x, bytes) and (b"EXISTS" in x or b"BYE" in x) for x in message):
                    changed = True
                    break
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(idle, self._settings.timeout)
        finally:
            lost.cancel()
            if push is not None and not push.done():
                push.cancel()
        if self.lost.is_set():
            raise ImapError("IMAP connection lost")
        return changed

    async def close(self) -> None:
        """LOGOUT politely; a dead connection is simply dropped."""
        if self._client is None:
            return
        client, self._client = self._client, None
        try:
            if not self.lost.is_set() and client.get_state() != aioimaplib.LOGOUT:
                if client.has_pending_idle():
                    client.idle_done()  # LOGOUT would otherwise wait behind the IDLE command
                await asyncio.wait_for(client.logout(), 2)
        except (TimeoutError, aioimaplib.AioImapException, OSError):
            pass
        finally:
            transport = client.protocol.transport
            if transport is not None:
                transport.close()


def mailbox_name(name: str) -> str:
    """A mailbox name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3), quoted.

    Chinese providers name folders like "已发送" (163.com's Sent); on the wire that is "&XfJT0ZAB-".
    """
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if " " <= ch <= "~":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return str(aioimaplib.quoted("".join(out)))


def raise_if_cancelling() -> None:
    """Honour a cancellation that `asyncio.wait_for` swallowed.

    Before Python 3.12, wait_for (used by aioimaplib for every command) returns the result
    and drops the cancellation when the command finishes at the moment the task is
    cancelled; we would then sit in IDLE for 25 minutes instead of stopping.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _uid_set(uids: list[int]) -> str:
    return ",".join(str(u) for u in uids)


def _text(lines: list[object]) -> str:
    return " ".join(x.decode(errors="replace") for x in lines if isinstance(x, bytes))[:300]


def _internaldate(value: bytes) -> datetime | None:
    try:
        return datetime.strptime(value.decode().strip(), "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    except ValueError:
        return None
