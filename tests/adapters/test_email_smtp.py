"""Sending replies through a real SMTP server (aiosmtpd) and the round trip through Dovecot."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tpbridge.adapters.base import BadCredentials, Outbound, OutboundAttachment, Rejected, Retry

from tests.adapters.email_support import INBOX, OWN, make_adapter, settings_for, synced_to, wait_until
from tests.fakes.dovecot import Dovecot, Mailbox, available
from tests.fakes.smtp_sink import SmtpSink
from tests.support.sink import RecordingSink, receiving

pytestmark = [pytest.mark.imap, pytest.mark.skipif(not available(), reason="needs Debian dovecot-imapd")]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    server = SmtpSink(mode="none")
    yield server
    server.stop()


def outbound(**kw: object) -> Outbound:
    values: dict[str, object] = {
        "inbox": INBOX,
        "message_id": 11,
        "conversation_id": 7,
        "recipient": "bob@example.org",
        "text": "Your parcel left our warehouse today.\n\nKind regards,\nSupport",
        "subject": "My order is late",
    }
    values.update(kw)
    return Outbound(**values)  # type: ignore[arg-type]


async def test_reply_threads_under_the_customers_mail_and_the_answer_threads_back(
    dovecot: Dovecot, box: Mailbox, smtp: SmtpSink, tmp_path: Path
):
    sink = RecordingSink(INBOX)
    adapter = make_adapter(settings_for(dovecot, box, smtp_port=smtp.port), sink, tmp_path)
    customer = (
        b"From: Bob Customer <Bob@Example.org>\r\nTo: support@example.com\r\nSubject: My order is late\r\n"
        b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <first-1@mail.example.org>\r\n\r\nWhere is it?\r\n"
    )
    async with receiving(adapter, sink):
        await wait_until(lambda: sink.checkpoint is not None)
        dovecot.deliver(box, customer)
        (first,) = await sink.wait_for(1)
        sent = await adapter.send(
            outbound(
                recipient=first.sender.external_id,
                subject=first.subject,
                thread_refs=(first.external_id,),
                reply_to=first.external_id,
            )
        )
        (received,) = await smtp.wait_for(1)
        msg = received.message
        assert received.rcpt_tos == ["bob@example.org"]
        assert msg["Message-ID"] == sent.external_id
        assert msg["In-Reply-To"] == "<first-1@mail.example.org>"
        assert msg["References"] == "<first-1@mail.example.org>"
        assert msg["Subject"] == "Re: My order is late [#7]"
        assert msg["Auto-Submitted"] is None
        assert msg["From"].addresses[0].addr_spec == box.user
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        assert plain is not None and "left our warehouse" in plain.get_content()
        assert html is not None and "<p>Your parcel left our warehouse today.</p>" in html.get_content()
        # The customer answers from their mail client: the answer names our Message-ID.
        answer = (
            "From: Bob Customer <bob@example.org>\r\nTo: support@example.com\r\n"
            f"Subject: {msg['Subject']}\r\nMessage-ID: <answer-2@mail.example.org>\r\n"
            f"In-Reply-To: {sent.external_id}\r\nReferences: <first-1@mail.example.org> {sent.external_id}\r\n"
            f"\r\nThanks!\r\n\r\nOn Mon, Support wrote:\r\n> Your parcel left our warehouse today.\r\n"
        ).encode()
        dovecot.deliver(box, answer)
        records = await sink.wait_for(2)
    reply = records[1]
    assert reply.text == "Thanks!"
    assert reply.thread is not None
    assert reply.thread.references == (sent.external_id, "<first-1@mail.example.org>")
    assert reply.thread.token == 7
    assert reply.reply_to == sent.external_id


async def test_same_message_id_on_every_retry_and_references_are_oldest_first(smtp: SmtpSink, tmp_path: Path):
    sink = RecordingSink(INBOX)
    dovecot = Dovecot.shared()
    adapter = make_adapter(settings_for(dovecot, dovecot.new_mailbox(), smtp_port=smtp.port), sink, tmp_path)
    refs = ("<a@x.org>", "sha256:abcd", "<b@x.org>", "<c@x.org>")
    async with adapter:
        first = await adapter.send(outbound(thread_refs=refs, subject="Re: RE: Order [#7]", attempt=1))
        again = await adapter.send(outbound(thread_refs=refs, subject="Re: RE: Order [#7]", attempt=2))
    assert first.external_id == again.external_id
    msg = (await smtp.wait_for(2))[0].message
    assert msg["References"] == "<a@x.org> <b@x.org> <c@x.org>"  # content-hash ids are not Message-IDs
    assert msg["In-Reply-To"] == "<c@x.org>"
    assert msg["Subject"] == "Re: Order [#7]"


async def test_automatic_reply_is_marked_auto_submitted(smtp: SmtpSink, tmp_path: Path):
    dovecot = Dovecot.shared()
    adapter = make_adapter(
        settings_for(dovecot, dovecot.new_mailbox(), smtp_port=smtp.port), RecordingSink(INBOX), tmp_path
    )
    async with adapter:
        await adapter.send(outbound(auto=True, text="We got your message and answer within a day."))
    msg = (await smtp.wait_for(1))[0].message
    assert msg["Auto-Submitted"] == "auto-replied"


async def test_attachments_are_sent_with_their_names(smtp: SmtpSink, tmp_path: Path):
    dovecot = Dovecot.shared()
    pdf = tmp_path / "blob"
    pdf.write_bytes(b"%PDF-1.4 invoice")
    att = OutboundAttachment(kind="file", mime="application/pdf", filename="Rechnung März.pdf", size=16, source=pdf)
    adapter = make_adapter(
        settings_for(dovecot, dovecot.new_mailbox(), smtp_port=smtp.port), RecordingSink(INBOX), tmp_path
    )
    async with adapter:
        await adapter.send(outbound(attachments=(att,), text="Invoice attached — 发票见附件"))
    msg = (await smtp.wait_for(1))[0].message
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "Rechnung März.pdf"
    assert part.get_content() == b"%PDF-1.4 invoice"
    plain = msg.get_body(("plain",))
    assert plain is not None and "发票见附件" in plain.get_content()


async def test_smtp_4xx_is_retried_and_5xx_rejected_with_the_server_text(smtp: SmtpSink, tmp_path: Path):
    dovecot = Dovecot.shared()
    adapter = make_adapter(
        settings_for(dovecot, dovecot.new_mailbox(), smtp_port=smtp.port), RecordingSink(INBOX), tmp_path
    )
    smtp.rcpt_replies["later@example.org"] = "451 4.3.0 Mailbox temporarily unavailable"
    smtp.rcpt_replies["gone@example.org"] = "550 5.1.1 <gone@example.org>: Recipient address rejected"
    async with adapter:
        with pytest.raises(Retry) as retry:
            await adapter.send(outbound(recipient="later@example.org"))
        with pytest.raises(Rejected) as rejected:
            await adapter.send(outbound(recipient="gone@example.org"))
        smtp.data_reply = "554 5.6.0 Message content rejected"
        with pytest.raises(Rejected) as content:
            await adapter.send(outbound())
    assert "451 4.3.0 Mailbox temporarily unavailable" in retry.value.reason
    assert rejected.value.reason == "550 5.1.1 <gone@example.org>: Recipient address rejected"
    assert rejected.value.unreachable
    assert content.value.reason == "554 5.6.0 Message content rejected" and not content.value.unreachable


async def test_unreachable_smtp_server_is_a_retry(tmp_path: Path):
    dovecot = Dovecot.shared()
    closed = SmtpSink()
    port = closed.port
    closed.stop()
    adapter = make_adapter(
        settings_for(dovecot, dovecot.new_mailbox(), smtp_port=port, timeout=2), RecordingSink(INBOX), tmp_path
    )
    async with adapter:
        with pytest.raises(Retry):
            await adapter.send(outbound())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_tls_modes_with_login(mode: str, tmp_path: Path):
    dovecot = Dovecot.shared()
    box = dovecot.new_mailbox()
    server = SmtpSink(mode=mode, cert=(dovecot.ca_file, dovecot.key_file), auth=(box.user, box.password))
    try:
        settings = settings_for(dovecot, box, smtp_port=server.port, smtp_tls=mode)
        adapter = make_adapter(settings, RecordingSink(INBOX), tmp_path)
        async with adapter:
            await adapter.send(outbound())
        assert len(await server.wait_for(1)) == 1
        wrong = settings_for(dovecot, box, smtp_port=server.port, smtp_tls=mode, smtp_password="nope")
        async with make_adapter(wrong, RecordingSink(INBOX), tmp_path) as bad:
            with pytest.raises(BadCredentials):
                await asyncio.wait_for(bad.send(outbound()), 10)
    finally:
        server.stop()


async def test_sent_copy_is_appended_to_the_sent_folder(dovecot: Dovecot, box: Mailbox, smtp: SmtpSink, tmp_path):
    adapter = make_adapter(
        settings_for(dovecot, box, smtp_port=smtp.port, sent_folder="Sent"), RecordingSink(INBOX), tmp_path
    )
    async with adapter:
        sent = await adapter.send(outbound())
    ((_, flags, raw),) = dovecot.messages(box, "Sent")
    assert f"Message-ID: {sent.external_id}".encode() in raw
    assert b"\\Seen" in flags
    assert dovecot.messages(box, "INBOX") == []  # nothing else touched


async def test_bounce_of_our_reply_marks_it_failed_instead_of_opening_a_conversation(
    dovecot: Dovecot, box: Mailbox, smtp: SmtpSink, tmp_path: Path
):
    sink = RecordingSink(INBOX)
    adapter = make_adapter(settings_for(dovecot, box, smtp_port=smtp.port), sink, tmp_path)
    async with receiving(adapter, sink):
        await wait_until(lambda: sink.checkpoint is not None)
        sent = await adapter.send(outbound(recipient="nobody@example.net"))
        sink.outbound_ids.add(sent.external_id)  # the core stored it as our message's external id
        dsn = (OWN / "dsn-template.eml").read_bytes().replace(b"@@MSGID@@", sent.external_id.encode())
        dovecot.deliver(box, dsn)
        await wait_until(lambda: sent.external_id in sink.failed)
        await wait_until(lambda: synced_to(sink, 1))
    assert sink.failed[sent.external_id] == "5.1.1 smtp; 550 5.1.1 user unknown (nobody@example.net)"
    assert sink.records == []


async def test_sent_folder_with_a_chinese_name(dovecot: Dovecot, box: Mailbox, smtp: SmtpSink, tmp_path: Path):
    dovecot.doveadm("mailbox", "create", "-u", box.user, "已发送")  # 163.com's Sent folder
    adapter = make_adapter(
        settings_for(dovecot, box, smtp_port=smtp.port, sent_folder="已发送"), RecordingSink(INBOX), tmp_path
    )
    async with adapter:
        sent = await adapter.send(outbound())
    ((_, _, raw),) = dovecot.messages(box, "&XfJT0ZAB-")  # modified UTF-7 on the wire (RFC 3501 §5.1.3)
    assert f"Message-ID: {sent.external_id}".encode() in raw
