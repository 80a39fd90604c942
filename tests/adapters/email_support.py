"""Shared pieces of the email adapter tests: a Dovecot account, settings, a running adapter."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from tpbridge.adapters.base import AdapterContext
from tpbridge.adapters.email import EmailAdapter, Settings

from tests.fakes.dovecot import Dovecot, Mailbox
from tests.support.sink import RecordingSink

REPO = Path(__file__).resolve().parents[2]
FLANKER = REPO / "tests" / "fixtures" / "email" / "flanker"
OWN = REPO / "tests" / "fixtures" / "email"
INBOX = "email.support"


def settings_for(
    dovecot: Dovecot, box: Mailbox, *, smtp_port: int = 1, smtp_tls: str = "none", **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.imap_port,
        "imap_tls": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_tls": smtp_tls,
        "username": box.user,
        "password": box.password,
        "from_address": f"Example Support <{box.user}>",
        "tls_ca_file": dovecot.ca_file,
        "timeout": 10.0,
        "reconnect_max_seconds": 1.0,
    }
    values.update(extra)
    return Settings(**values)


def make_adapter(settings: Settings, sink: RecordingSink, tmp_path: Path) -> EmailAdapter:
    ctx = AdapterContext(sink=sink, public_url="http://127.0.0.1:8080", data_dir=tmp_path,
                         webhook_path="/hooks/email/support")
    return EmailAdapter(INBOX, settings, ctx)


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll a cheap condition (server-side state the sink cannot signal)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - server-side state has no event to await
            await asyncio.sleep(0.05)


def synced_to(sink: RecordingSink, uid: int) -> bool:
    """The checkpoint says every mail up to `uid` is stored and no initial import is pending."""
    return sink.checkpoint is not None and re.fullmatch(rf"\d+:{uid}", sink.checkpoint) is not None
