"""Email channel: a support mailbox over IMAP (IDLE) and SMTP, with real threading."""

from .adapter import EmailAdapter
from .settings import EmailSettings, Settings

__all__ = ["EmailAdapter", "EmailSettings", "Settings"]
