"""The mail server as one client: IMAP sessions to read (imap.py) and SMTP submission to send (smtp.py).

Both speak to the same account with the same TLS settings; the adapter's receiver and
sender get this object, not the settings, so neither builds a connection of its own.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage

from aioimaplib import aioimaplib

from .imap import ImapError, ImapSession
from .settings import EmailSettings
from .smtp import deliver

NETWORK_ERRORS = (ImapError, OSError, TimeoutError, aioimaplib.AioImapException, ssl.SSLError)
"""What a lost or unreachable IMAP server raises: reconnect later, never fatal."""


class MailServer:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._tls: ssl.SSLContext | None = None

    @property
    def tls(self) -> ssl.SSLContext:
        """The TLS context for both IMAP and SMTP, built once (it reads the CA file)."""
        if self._tls is None:
            self._tls = self.settings.ssl_context()
        return self._tls

    def session(self) -> ImapSession:
        """A new IMAP connection, not opened yet."""
        return ImapSession(self.settings, self.tls)

    async def submit(self, msg: EmailMessage, *, sender: str, recipient: str) -> None:
        """Hand `msg` to the SMTP server; raises Retry / Rejected / BadCredentials."""
        await deliver(msg, self.settings, self.tls, sender=sender, recipient=recipient)
