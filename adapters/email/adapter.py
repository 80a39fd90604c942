"""EmailAdapter: a support mailbox in (poll.py: IMAP catch-up + IDLE) and replies out (send.py: SMTP).

Nothing on the server is deleted or moved: mail is read, flagged \\Seen once stored, and
replies are appended to the Sent folder when one is configured.
"""

from __future__ import annotations

from typing import ClassVar, Self

import structlog
from tpbridge.adapters import first_contact
from tpbridge.adapters.base import AdapterContext, BadCredentials, ChannelState, Outbound, Reach, Sent, Sink

from .api import NETWORK_ERRORS, MailServer
from .imap import ImapSession
from .poll import MailboxReader
from .send import ReplySender
from .settings import EmailSettings

log = structlog.get_logger(__name__)


class EmailAdapter:
    """One support mailbox: each mail thread is a conversation, replies go out as real replies."""

    kind: ClassVar[str] = "email"
    Settings: ClassVar[type[EmailSettings]] = EmailSettings

    def __init__(self, name: str, settings: EmailSettings, ctx: AdapterContext) -> None:
        self.name = name
        self.settings = settings
        self.ctx = ctx
        self.log = log.bind(inbox=name)
        self.server = MailServer(settings)
        own = frozenset({settings.from_email, settings.username.lower()})
        self.reader = MailboxReader(name, settings, self.server, own, self.log)
        self.sender = ReplySender(settings, self.server, ctx.sink, self.log)
        self._session: ImapSession | None = None

    async def __aenter__(self) -> Self:
        """Log in to IMAP once, so that wrong credentials show up at start (BadCredentials).

        An unreachable server is not fatal here: the inbox is reported as disconnected and
        run() keeps reconnecting, so one mail server's outage never stops the daemon.
        """
        session = self.server.session()
        try:
            await session.open()
        except NETWORK_ERRORS as exc:
            await session.close()
            reason = f"{type(exc).__name__}: {exc}"[:300]
            self.ctx.sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=reason)
            self.log.warning("imap.unreachable", reason=reason)
        except BadCredentials as exc:
            await session.close()
            self.log.error("imap.login_refused", reason=str(exc))
            raise  # the supervisor reports it
        except BaseException:
            await session.close()
            raise
        else:
            self._session = session
        return self

    async def __aexit__(self, *exc: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def polls(self) -> bool:
        return True  # IMAP IDLE: one session fetches and checkpoints the mailbox

    async def run(self, sink: Sink) -> None:
        session, self._session = self._session, None  # the one __aenter__ logged in with, if any
        await self.reader.run(sink, session)

    # ------------------------------------------------------------ writing first (StartsConversations)
    def address(self, to: str) -> str:
        return first_contact.email_address(to)

    def may_start(self, reach: Reach) -> None:
        return None  # e-mail may be written to anyone

    async def send(self, out: Outbound) -> Sent:
        return await self.sender.send(out)
