"""Receiving mail from a real Dovecot over IMAP: catch-up, IDLE, checkpoints, UIDVALIDITY, reconnect."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from pathlib import Path

import pytest
from tpbridge.adapters.base import BadCredentials, ChannelState

from tests.adapters.email_support import FLANKER, OWN, make_adapter, settings_for, synced_to, wait_until
from tests.fakes.dovecot import Dovecot, Mailbox, available, free_port
from tests.support.sink import RecordingSink, receiving

pytestmark = [pytest.mark.imap, pytest.mark.skipif(not available(), reason="needs Debian dovecot-imapd")]


def _key(raw: bytes) -> str:
    """The dedupe key, computed independently of the adapter: Message-ID, else sha256 of the bytes."""
    found = re.search(rb"^Message-ID:\s*<([^>]+)>", raw, re.IGNORECASE | re.MULTILINE)
    if found:
        return "<" + "".join(found.group(1).decode().split()) + ">"
    return "sha256:" + hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def mail(n: int, *, subject: str = "Help", sender: str = "alice@example.org", extra: str = "") -> bytes:
    return (
        f"From: Alice <{sender}>\r\nTo: support@example.com\r\nSubject: {subject} {n}\r\n"
        f"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m{n}.{time.time_ns()}@example.org>\r\n"
        f"{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nmessage {n}\r\n"
    ).encode()


async def test_new_mail_arrives_through_idle_within_two_seconds(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    sink = RecordingSink("email.support")
    adapter = make_adapter(settings_for(dovecot, box), sink, tmp_path)
    async with receiving(adapter, sink):
        await wait_until(lambda: sink.checkpoint is not None)  # initial sync done, now idling
        started = time.monotonic()
        await asyncio.to_thread(dovecot.deliver, box, (OWN / "reply-with-quote.eml").read_bytes())
        records = await sink.wait_for(1, timeout=5)
        assert time.monotonic() - started < 2.0
    inbound = records[0]
    assert inbound.external_id == "<reply-1@mail.example.org>"
    assert inbound.sender.external_id == "bob@example.org"
    assert inbound.subject == "Re: My order is late [#42]"
    assert inbound.text == "Thanks, it arrived today."
    assert "Your parcel is on its way." in inbound.extra["full_text"]
    assert inbound.thread is not None and inbound.thread.token == 42 and inbound.thread.per_thread
    assert inbound.thread.references == ("<tpb.7.42.abc@example.com>", "<first-1@mail.example.org>")
    assert not inbound.no_auto_reply  # live mail, not imported history
    assert inbound.raw is not None and b"Message-ID: <reply-1@mail.example.org>" in inbound.raw
    assert synced_to(sink, 1)
    ((_uid, flags, _),) = dovecot.messages(box)
    assert b"\\Seen" in flags  # flagged only after the sink stored it; nothing deleted or moved


async def test_first_sync_imports_only_the_window_without_auto_replies(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    now = time.time()
    dovecot.append(box, mail(1, subject="Old"), when=now - 30 * 86400)
    dovecot.append(box, mail(2, subject="Recent"), when=now - 2 * 86400)
    dovecot.append(box, mail(3, subject="Today"), when=now)
    sink = RecordingSink("email.support")
    adapter = make_adapter(settings_for(dovecot, box, import_window_days=7), sink, tmp_path)
    async with receiving(adapter, sink):
        await wait_until(lambda: synced_to(sink, 3))
        assert [r.subject for r in sink.records] == ["Recent 2", "Today 3"]
        assert all(r.no_auto_reply for r in sink.records)
        # after the first sync, new mail is live again
        dovecot.deliver(box, mail(4, subject="Live"))
        records = await sink.wait_for(3)
    assert records[-1].subject == "Live 4" and not records[-1].no_auto_reply
    old_flags = dovecot.messages(box)[0][1]
    assert b"\\Seen" not in old_flags  # mail outside the window is left untouched


async def test_restart_resumes_from_the_checkpoint_without_duplicates(dovecot: Dovecot, box: Mailbox, tmp_path):
    sink = RecordingSink("email.support")
    settings = settings_for(dovecot, box, mark_seen=False)
    dovecot.append_many(box, [mail(1), mail(2)])
    async with receiving(make_adapter(settings, sink, tmp_path), sink):
        await sink.wait_for(2)
    dovecot.append_many(box, [mail(3)])
    async with receiving(make_adapter(settings, sink, tmp_path), sink):
        await sink.wait_for(3)
        await wait_until(lambda: synced_to(sink, 3))
    assert [r.subject for r in sink.records] == ["Help 1", "Help 2", "Help 3"]
    assert not sink.records[2].no_auto_reply
    assert all(b"\\Seen" not in flags for _, flags, _ in dovecot.messages(box))  # mark_seen = false


async def test_uidvalidity_change_resyncs_without_duplicates(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    sink = RecordingSink("email.support")
    settings = settings_for(dovecot, box)
    no_id = b"From: carol@example.org\r\nSubject: no message id\r\n\r\nhello\r\n"
    dovecot.append_many(box, [mail(1), no_id])
    async with receiving(make_adapter(settings, sink, tmp_path), sink):
        await sink.wait_for(2)
    assert sink.records[1].external_id.startswith("sha256:")
    old_validity = sink.checkpoint.split(":")[0] if sink.checkpoint else ""
    dovecot.set_uidvalidity(box, int(old_validity) + 1000)
    dovecot.append_many(box, [mail(3)])
    async with receiving(make_adapter(settings, sink, tmp_path), sink):
        await sink.wait_for(3)
        await wait_until(lambda: sink.checkpoint == f"{int(old_validity) + 1000}:3")
    assert len(sink.records) == 3  # the two known mails were deduplicated (Message-ID, content hash)
    assert sink.records[2].subject == "Help 3"


async def test_dropped_connection_reconnects_and_catches_up(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    sink = RecordingSink("email.support")
    adapter = make_adapter(settings_for(dovecot, box), sink, tmp_path)
    async with receiving(adapter, sink) as task:
        await wait_until(lambda: sink.checkpoint is not None)
        dovecot.kick(box)
        dovecot.deliver(box, mail(1))  # arrives while we are disconnected
        await wait_until(lambda: any(s == ChannelState.TRANSIENT_DISCONNECT for s, _ in sink.states))
        records = await sink.wait_for(1, timeout=10)
        assert not task.done()
    assert records[0].subject == "Help 1"
    assert sink.states[-1][0] == ChannelState.CONNECTED


async def test_starttls_and_implicit_tls_logins(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    dovecot.append_many(box, [mail(1)])
    for tls, port in (("starttls", dovecot.imap_port), ("implicit", dovecot.imaps_port)):
        sink = RecordingSink("email.support")
        settings = settings_for(dovecot, box, imap_tls=tls, imap_port=port)
        async with receiving(make_adapter(settings, sink, tmp_path), sink):
            records = await sink.wait_for(1)
        assert records[0].subject == "Help 1", tls


async def test_wrong_password_is_bad_credentials_at_enter(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    sink = RecordingSink("email.support")
    adapter = make_adapter(settings_for(dovecot, box, password="wrong"), sink, tmp_path)
    with pytest.raises(BadCredentials, match="AUTHENTICATIONFAILED"):
        async with adapter:  # credentials are checked when the adapter is entered, as the contract says
            pass
    assert ChannelState.BAD_CREDENTIALS not in [s for s, _ in sink.states]  # raised; the supervisor reports it


async def test_unreachable_server_at_start_is_not_fatal_and_run_keeps_trying(tmp_path: Path):
    dovecot = Dovecot.shared()
    box = dovecot.new_mailbox()
    closed_port = free_port()
    sink = RecordingSink("email.support")
    adapter = make_adapter(settings_for(dovecot, box, imap_port=closed_port), sink, tmp_path)
    async with receiving(adapter, sink) as task:
        await wait_until(lambda: sum(s == ChannelState.TRANSIENT_DISCONNECT for s, _ in sink.states) >= 2)
        assert not task.done()
    assert "ConnectionRefusedError" in (sink.states[0][1] or "")


async def test_idle_is_renewed_and_keeps_receiving(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    sink = RecordingSink("email.support")
    adapter = make_adapter(settings_for(dovecot, box, idle_renew_seconds=0.3), sink, tmp_path)
    async with receiving(adapter, sink) as task:
        await wait_until(lambda: sink.checkpoint is not None)
        await asyncio.sleep(1.0)  # several IDLE renewals
        dovecot.deliver(box, mail(1))
        await sink.wait_for(1, timeout=3)
        assert not task.done()
    assert not any(s == ChannelState.TRANSIENT_DISCONNECT for s, _ in sink.states)


async def test_every_real_world_fixture_goes_through_imap(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    """The flanker corpus plus ours: each lands as a record, a bounce note or a quarantine entry."""
    files = sorted(FLANKER.glob("*.eml")) + sorted(OWN.glob("*.eml"))
    raws = [f.read_bytes() for f in files]
    # big.eml is empty: Dovecot refuses an empty APPEND, so deliver it as a bare header-less line
    raws = [r if r.strip() else b"\n" for r in raws]
    dovecot.append_many(box, raws)
    sink = RecordingSink("email.support")
    adapter = make_adapter(settings_for(dovecot, box, import_window_days=1), sink, tmp_path)
    async with receiving(adapter, sink):
        await wait_until(lambda: synced_to(sink, len(raws)), 60)
    # Several fixtures share a Message-ID (the enclosed-*.eml family): those are one mail to the core.
    expected = {_key(raw) for raw in raws}
    assert {r.external_id for r in sink.records} | {q.external_id for q in sink.quarantined} == expected
    by_subject = {r.subject: r for r in sink.records}
    assert len(sink.quarantined) <= 3, [q.reason for q in sink.quarantined]
    for q in sink.quarantined:
        assert q.reason and q.raw is not None
    # text, attachments and charsets intact
    assert by_subject["訂單查詢：镕".replace("訂單查詢", "订单查询")].text.startswith("您好，朱镕基和王堃")
    assert by_subject["臺灣的發票問題"].sender.name == "陳小明"
    assert by_subject["注文番号について"].text == "注文①の配送状況を教えてください。"
    rfc2231 = by_subject["Rechnung für März"]
    assert [a.filename for a in rfc2231.attachments] == [
        "logo.png",
        "Rechnung März 发票.pdf",
        "中文的说明.txt",
    ]
    assert [a.filename for a in by_subject["发票"].attachments] == ["王堃的发票.pdf", "李四的合同.doc"]
    assert by_subject["Mailgun rocks!"].attachments[0].kind == "image"
    assert by_subject["My order is late"].text.startswith("Hello,\n\nmy order #4711 is late.")
    # unmatched bounces are system notes that are never answered
    notes = [r for r in sink.records if r.system]
    assert len(notes) >= 8 and all(r.no_auto_reply for r in notes)


async def test_unparseable_mail_is_quarantined_once_and_does_not_block_the_next(
    dovecot: Dovecot, box: Mailbox, tmp_path: Path
):
    sink = RecordingSink("email.support")
    settings = settings_for(dovecot, box)
    dovecot.append_many(box, [mail(1), b"Subject: nobody sent this\r\n\r\nwho am I?\r\n", mail(3)])
    async with receiving(make_adapter(settings, sink, tmp_path), sink):
        await sink.wait_for(3)
        await wait_until(lambda: synced_to(sink, 3))
    dovecot.append_many(box, [mail(4)])
    async with receiving(make_adapter(settings, sink, tmp_path), sink):  # a restart re-reads nothing
        await sink.wait_for(4)
    assert [r.subject for r in sink.records] == ["Help 1", "Help 3", "Help 4"]
    (kept,) = sink.quarantined
    assert "no sender address" in kept.reason and b"who am I?" in kept.raw


async def test_interrupted_first_import_resumes_as_history(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    dovecot.append_many(box, [mail(1), mail(2), mail(3)])
    status = dovecot.doveadm("mailbox", "status", "-u", box.user, "uidvalidity", "INBOX")
    validity = int(status.split("uidvalidity=")[1].split()[0])
    sink = RecordingSink("email.support")
    sink.checkpoint = f"{validity}:1:3"  # killed after storing UID 1 of an import that was to end at 3
    dovecot.append_many(box, [mail(4)])  # arrived later: a live mail
    async with receiving(make_adapter(settings_for(dovecot, box), sink, tmp_path), sink):
        await sink.wait_for(3)
        await wait_until(lambda: synced_to(sink, 4))
    assert [(r.subject, r.no_auto_reply) for r in sink.records] == [
        ("Help 2", True),
        ("Help 3", True),
        ("Help 4", False),
    ]


async def test_untrusted_certificate_is_reported_with_the_reason(dovecot: Dovecot, box: Mailbox, tmp_path: Path):
    sink = RecordingSink("email.support")
    settings = settings_for(dovecot, box, imap_tls="implicit", imap_port=dovecot.imaps_port, tls_ca_file=None)
    async with receiving(make_adapter(settings, sink, tmp_path), sink):
        await wait_until(lambda: any(s == ChannelState.TRANSIENT_DISCONNECT for s, _ in sink.states))
    reason = next(r for s, r in sink.states if s == ChannelState.TRANSIENT_DISCONNECT)
    assert reason is not None and "CERTIFICATE_VERIFY_FAILED" in reason
    assert sink.records == []
