"""End to end with the daemon as a subprocess: mail in through Dovecot -> inbox -> agent reply -> SMTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.daemon_support import messages
from tests.adapters.email_support import OWN
from tests.fakes.dovecot import Dovecot, Mailbox, available
from tests.fakes.smtp_sink import Received, SmtpSink
from tests.support.daemon import Daemon

pytestmark = [
    pytest.mark.slow,
    pytest.mark.imap,
    pytest.mark.skipif(not available(), reason="needs Debian dovecot-imapd"),
]

INBOX = "email.support"
CONFIG = Path(__file__).resolve().parents[2] / "config"
AUTOMATION = f"""[automation]
enabled = true
faq_dir = "{CONFIG / "faq"}"
templates_dir = "{CONFIG / "templates"}"
classify_rules = "{CONFIG / "classify.toml"}"
"""


@asynccontextmanager
async def bridge(tmp_path: Path) -> AsyncIterator[tuple[Daemon, Dovecot, Mailbox, SmtpSink]]:
    dovecot = Dovecot.shared()
    box = dovecot.new_mailbox()
    smtp = SmtpSink(mode="none")
    channels = f"""
[channels.email.support]
imap_host = "127.0.0.1"
imap_port = {dovecot.imap_port}
imap_tls = "starttls"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
smtp_tls = "none"
username = "{box.user}"
password = "env:TPB_EMAIL_PASSWORD"
from_address = "Example Support <{box.user}>"
sent_folder = "Sent"
tls_ca_file = "{dovecot.ca_file}"
"""
    try:
        async with Daemon(tmp_path, channels, env={"TPB_EMAIL_PASSWORD": box.password}) as daemon:
            await daemon.wait_for(lambda: connected(daemon), timeout=15)
            yield daemon, dovecot, box, smtp
    finally:
        smtp.stop()


async def connected(daemon: Daemon) -> bool:
    status, body = await daemon.api("GET", "/healthz")
    return status == 200 and body["channels"].get(INBOX, {}).get("state") == "connected"


async def conversations(daemon: Daemon) -> list[dict[str, Any]]:
    status, body = await daemon.api("GET", f"/api/v1/conversations?inbox={INBOX}&limit=200")
    assert status == 200, body
    return body["items"]


def customer_mail(msgid: str, subject: str, body: str, *, sender: str = "bob@example.org", extra: str = "") -> bytes:
    return (
        f"From: Bob Customer <{sender}>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: {msgid}\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def agent_mail(smtp: SmtpSink, text: str) -> Received | None:
    """The agent's reply among what the SMTP server got (automation may have sent an acknowledgement)."""
    for item in smtp.received:
        plain = item.message.get_body(("plain",))
        if plain is not None and text in plain.get_content():
            return item
    return None


async def test_mail_in_agent_reply_out_threaded_and_the_answer_joins(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, dovecot, box, smtp):
        started = time.monotonic()
        dovecot.deliver(box, customer_mail("<q1@mail.example.org>", "Refund for order 4711", "Where is my refund?"))
        convs = await daemon.wait_for(lambda: conversations(daemon), timeout=5)
        assert time.monotonic() - started < 2.0
        (conv,) = convs
        assert conv["subject"] == "Refund for order 4711"
        assert conv["contact"]["identities"][0]["external_id"] == "bob@example.org"

        status, body = await daemon.api(
            "POST", f"/api/v1/conversations/{conv['id']}/messages", json={"text": "Your refund left today."}
        )
        assert status == 202, body

        async def delivered() -> Any:
            return agent_mail(smtp, "Your refund left today.")

        reply = await daemon.wait_for(delivered, timeout=10)
        msg = reply.message
        assert reply.rcpt_tos == ["bob@example.org"]
        assert msg["In-Reply-To"] == "<q1@mail.example.org>"
        assert "<q1@mail.example.org>" in str(msg["References"])
        assert msg["Subject"] == f"Re: Refund for order 4711 [#{conv['id']}]"

        async def sent() -> Any:
            items = await messages(daemon, conv["id"])
            out = [m for m in items if m["direction"] == "out" and m["text"] == "Your refund left today."]
            return out and out[0]["delivery"] == "sent" and out[0]

        out = await daemon.wait_for(sent)
        assert out["external_id"] == msg["Message-ID"]
        assert any(f"Message-ID: {msg['Message-ID']}".encode() in raw for _, _, raw in dovecot.messages(box, "Sent"))

        # Bob answers from his mail client: the answer names our Message-ID and joins the conversation.
        answer = customer_mail(
            "<q2@mail.example.org>",
            str(msg["Subject"]),
            "Got it, thanks!\r\n\r\nOn Mon, Support wrote:\r\n> Your refund left today.",
            extra=f"In-Reply-To: {msg['Message-ID']}\r\nReferences: <q1@mail.example.org> {msg['Message-ID']}\r\n",
        )
        dovecot.deliver(box, answer)

        async def joined() -> Any:
            items = await messages(daemon, conv["id"])
            return [m for m in items if m["direction"] == "in" and m["text"] == "Got it, thanks!"]

        await daemon.wait_for(joined, timeout=5)
        assert len(await conversations(daemon)) == 1

        # A new thread from the same address (same subject, no references) is a new conversation
        # of the same contact: subject text alone never threads.
        dovecot.deliver(box, customer_mail("<q3@mail.example.org>", "Refund for order 4711", "Another order?"))
        convs = await daemon.wait_for(lambda: _at_least(daemon, 2), timeout=5)
        new = next(c for c in convs if c["id"] != conv["id"])
        assert new["contact"]["id"] == conv["contact"]["id"]


async def test_foreign_reply_opens_a_linked_conversation_and_a_bounce_marks_the_reply_failed(
    tmp_path: Path,
) -> None:
    async with bridge(tmp_path) as (daemon, dovecot, box, smtp):
        dovecot.deliver(box, customer_mail("<q1@mail.example.org>", "Invoice", "Please send the invoice."))
        (conv,) = await daemon.wait_for(lambda: conversations(daemon), timeout=5)

        # Someone else replies into Bob's thread (a forward): never appended to Bob's conversation.
        forward = customer_mail(
            "<f1@other.example>",
            f"Re: Invoice [#{conv['id']}]",
            "I am not Bob.",
            sender="eve@other.example",
            extra="In-Reply-To: <q1@mail.example.org>\r\n",
        )
        dovecot.deliver(box, forward)
        convs = await daemon.wait_for(lambda: _at_least(daemon, 2), timeout=5)
        eve = next(c for c in convs if c["id"] != conv["id"])
        assert eve["contact"]["identities"][0]["external_id"] == "eve@other.example"
        status, detail = await daemon.api("GET", f"/api/v1/conversations/{eve['id']}")
        assert status == 200 and detail.get("linked_conversation_id") == conv["id"]
        bob_texts = [m["text"] for m in await messages(daemon, conv["id"]) if m["direction"] == "in"]
        assert bob_texts == ["Please send the invoice."]

        # Our reply to Bob bounces: the reply is marked failed with the bounce's reason.
        status, _ = await daemon.api("POST", f"/api/v1/conversations/{conv['id']}/messages", json={"text": "Here."})
        assert status == 202

        async def delivered() -> Any:
            return agent_mail(smtp, "Here.")

        sent_mail = await daemon.wait_for(delivered, timeout=10)
        dsn = (
            (OWN / "dsn-template.eml").read_bytes().replace(b"@@MSGID@@", str(sent_mail.message["Message-ID"]).encode())
        )
        dovecot.deliver(box, dsn)

        async def failed() -> Any:
            items = await messages(daemon, conv["id"])
            out = [m for m in items if m["direction"] == "out" and m["text"] == "Here."]
            return out and out[0]["delivery"] == "failed" and out[0]

        out = await daemon.wait_for(failed, timeout=5)
        assert "550 5.1.1 user unknown" in out["error"]
        assert len(await conversations(daemon)) == 2  # the bounce opened no conversation


async def _at_least(daemon: Daemon, n: int) -> list[dict[str, Any]] | None:
    convs = await conversations(daemon)
    return convs if len(convs) >= n else None


async def test_killed_mid_import_restarts_from_the_checkpoint_and_stores_each_mail_once(tmp_path: Path) -> None:
    async with bridge(tmp_path) as (daemon, dovecot, box, _smtp):
        raws = [customer_mail(f"<bulk{i}@mail.example.org>", f"Question {i}", f"body {i}") for i in range(60)]
        dovecot.append_many(box, raws)
        await daemon.wait_for(lambda: _at_least(daemon, 1), timeout=10)
        daemon.kill()  # SIGKILL somewhere in the middle of fetching and storing
        dovecot.append_many(box, [customer_mail("<late@mail.example.org>", "While down", "hello?")])
        await daemon.start()
        convs = await daemon.wait_for(lambda: _at_least(daemon, 61), timeout=20)
        assert sorted(c["subject"] for c in convs) == sorted([f"Question {i}" for i in range(60)] + ["While down"])
        # and nothing more trickles in later
        status, health = await daemon.api("GET", "/healthz")
        assert status == 200 and health["channels"][INBOX]["state"] == "connected"
        assert len(await conversations(daemon)) == 61


async def test_imported_history_and_automatic_mail_get_no_automatic_reply(tmp_path: Path) -> None:
    dovecot = Dovecot.shared()
    box = dovecot.new_mailbox()
    # In the mailbox before the daemon ever ran: imported as history.
    dovecot.append(
        box, customer_mail("<old@mail.example.org>", "Old question", "How do refunds work?"), when=time.time() - 3600
    )
    smtp = SmtpSink(mode="none")
    channels = f"""
[channels.email.support]
imap_host = "127.0.0.1"
imap_port = {dovecot.imap_port}
imap_tls = "none"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
smtp_tls = "none"
username = "{box.user}"
password = "{box.password}"
from_address = "Example Support <{box.user}>"
"""
    try:
        async with Daemon(tmp_path, channels, extra_toml=AUTOMATION) as daemon:
            await daemon.wait_for(lambda: connected(daemon), timeout=15)
            await daemon.wait_for(lambda: _at_least(daemon, 1), timeout=5)
            ooo = customer_mail(
                "<ooo@mail.example.org>",
                "Out of office",
                "I am away until Monday.",
                sender="carol@example.org",
                extra="Auto-Submitted: auto-replied\r\n",
            )
            live = customer_mail(
                "<live@mail.example.org>", "How do refunds work?", "How do refunds work?", sender="dave@example.org"
            )
            dovecot.deliver(box, ooo)
            dovecot.deliver(box, live)
            await daemon.wait_for(lambda: _at_least(daemon, 3), timeout=5)

            async def automation_done() -> bool:
                return any(r.rcpt_tos == ["dave@example.org"] for r in smtp.received)

            # the bot hands over and says so (once its language models are loaded, seconds after start)
            await daemon.wait_for(automation_done, timeout=60)
        recipients = {rcpt for r in smtp.received for rcpt in r.rcpt_tos}
        assert "bob@example.org" not in recipients  # imported history
        assert "carol@example.org" not in recipients  # an auto-reply is never answered
        for r in smtp.received:  # what automation sent is marked, so other robots stay quiet too
            assert r.message["Auto-Submitted"] == "auto-replied"
    finally:
        smtp.stop()
