"""The `[channels.email.<name>]` table: one support mailbox (IMAP in, SMTP out)."""

from __future__ import annotations

import ssl
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from tpbridge.adapters.base import ChannelSettings, Secret

TlsMode = Literal["implicit", "starttls", "none"]


class EmailSettings(ChannelSettings):
    """IMAP/SMTP endpoints and the mailbox to watch; the server's mail is never deleted or moved."""

    imap_host: str
    imap_port: int = Field(993, ge=1, le=65535)
    imap_tls: TlsMode = "implicit"
    smtp_host: str
    smtp_port: int = Field(465, ge=1, le=65535)
    smtp_tls: TlsMode = "implicit"
    username: str
    password: Secret
    smtp_username: str | None = None  # defaults to `username`
    smtp_password: Secret | None = None  # defaults to `password`
    mailbox: str = "INBOX"
    from_address: str
    sent_folder: str | None = None  # APPEND a copy of every reply here (e.g. "Sent")
    import_window_days: int = Field(7, ge=0)
    mark_seen: bool = True
    tls_ca_file: str | None = None  # trust this CA (a self-hosted server's own certificate)
    tls_verify: bool = True
    timeout: float = Field(30.0, gt=0)  # per IMAP command / SMTP operation
    idle_renew_seconds: float = Field(25 * 60, gt=0, lt=29 * 60)  # RFC 2177: re-issue IDLE before 29 min
    poll_seconds: float = Field(30.0, gt=0)  # only for servers without IDLE: how often to look
    fetch_batch: int = Field(20, ge=1, le=500)  # mails per UID FETCH (and per ingest batch)
    reconnect_max_seconds: float = Field(60.0, gt=0)  # cap of the jittered reconnect backoff

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        _, addr = parseaddr(value)
        if "@" not in addr:
            raise ValueError("from_address needs an email address, e.g. 'Support <support@example.com>'")
        return value

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def from_email(self) -> str:
        """The bare address of `from_address`, lower-cased (our own mail is recognised by it)."""
        return parseaddr(self.from_address)[1].lower()

    @property
    def from_header(self) -> Address:
        name, addr = parseaddr(self.from_address)
        user, _, domain = addr.partition("@")
        return Address(display_name=name, username=user, domain=domain)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for both IMAP and SMTP (system CAs, plus `tls_ca_file`)."""
        ctx = ssl.create_default_context(cafile=self.tls_ca_file)
        if not self.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


Settings = EmailSettings
