"""An SMTP server that keeps what it receives: aiosmtpd on loopback, plain, STARTTLS or implicit TLS.

Per-recipient replies (`rcpt_replies`) let a test make the server answer 4xx or 5xx the way
a real MTA does; `auth` requires a login. The server runs in aiosmtpd's own thread, so
tests `await sink.wait_for(n)` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.ports import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        self.message = parsed


class _Handler:
    def __init__(self, owner: SmtpSink) -> None:
        self.owner = owner

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.owner.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.owner.data_reply is not None:
            return self.owner.data_reply
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        self.owner._add(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 2.0.0 Message accepted"


class SmtpSink:
    """Start with `SmtpSink(mode=...)`, `.stop()` at the end; mode is "none", "starttls" or "implicit"."""

    def __init__(
        self,
        *,
        mode: str = "none",
        cert: tuple[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.mode = mode
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        server_tls = None
        if mode != "none":
            assert cert is not None, "TLS modes need (cert.pem, key.pem)"
            server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_tls.load_cert_chain(*cert)
        if mode == "starttls":
            kwargs.update(tls_context=server_tls, require_starttls=True)
        if auth is not None:
            user, password = auth

            def authenticator(
                server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
            ) -> AuthResult:
                ok = (
                    isinstance(data, LoginPassword)
                    and data.login.decode() == user
                    and (data.password.decode() == password)
                )
                # handled=False: without it aiosmtpd sends no reply on failure and the client hangs.
                return AuthResult(success=ok, handled=False)

            # Implicit TLS is invisible to aiosmtpd (it only knows its own STARTTLS), so it must
            # not insist on TLS before AUTH there.
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=mode == "starttls")
        self.controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=server_tls if mode == "implicit" else None,
            server_hostname="127.0.0.1",
            **kwargs,
        )
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def _add(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least `count` mails were accepted."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._lock:
            self._waiters.append((loop, event))
        try:
            async with asyncio.timeout(timeout):
                while True:
                    with self._lock:
                        if len(self.received) >= count:
                            return list(self.received)
                    await event.wait()
                    event.clear()
        finally:
            with self._lock:
                self._waiters.remove((loop, event))
