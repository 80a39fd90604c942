"""One reply as a threaded mail (compose.py builds it), submitted by SMTP, a copy kept in the Sent folder."""

from __future__ import annotations

import asyncio
import secrets

import structlog
from tpbridge.adapters.base import BadCredentials, Outbound, Rejected, Sent, Sink

from .api import NETWORK_ERRORS, MailServer
from .compose import build_reply, outbound_message_id
from .settings import EmailSettings


class ReplySender:
    def __init__(self, settings: EmailSettings, server: MailServer, sink: Sink,
                 log: structlog.stdlib.BoundLogger) -> None:
        self.settings = settings
        self.server = server
        self.sink = sink
        self.log = log
        self._salt: str | None = None
        self._salt_lock = asyncio.Lock()

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
        await self.server.submit(msg, sender=self.settings.from_email, recipient=out.recipient)
        blog.info("mail.sent", external_id=message_id, attempt=out.attempt)
        if self.settings.sent_folder:
            await self._save_copy(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), blog)  # IMAP wants CRLF
        return Sent(external_id=message_id, extra={"subject": str(msg["Subject"])})

    async def _save_copy(self, raw: bytes, blog: structlog.stdlib.BoundLogger) -> None:
        """APPEND the sent mail to the Sent folder; the reply is out already, so failures only log."""
        assert self.settings.sent_folder is not None
        session = self.server.session()
        try:
            await session.open()
            await session.append(self.settings.sent_folder, raw)
        except (*NETWORK_ERRORS, BadCredentials) as exc:
            blog.warning("sent_copy.failed", folder=self.settings.sent_folder, reason=str(exc)[:300])
        finally:
            await session.close()

    async def _message_id_salt(self) -> str:
        """A random per-inbox secret, shared through the store, so Message-IDs never repeat."""
        if self._salt is None:
            async with self._salt_lock:
                salt = await self.sink.kv_get("msgid-salt")
                if salt is None:
                    salt = secrets.token_hex(16)
                    await self.sink.kv_set("msgid-salt", salt)
                self._salt = salt
        return self._salt
