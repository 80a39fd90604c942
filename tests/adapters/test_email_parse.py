"""MIME parsing, charsets, trimming, loop and bounce detection, reply composition — no servers needed."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from pydantic import ValidationError
from tpbridge.adapters.base import Outbound
from tpbridge.adapters.email import Settings
from tpbridge.adapters.email.charsets import decode_bytes, decode_header_value
from tpbridge.adapters.email.compose import build_reply, reply_subject, threading_headers
from tpbridge.adapters.email.convert import convert
from tpbridge.adapters.email.loops import auto_reply_reason, bounce_info
from tpbridge.adapters.email.parse import parse_mail
from tpbridge.adapters.email.trim import trim_reply

from tests.adapters.email_support import FLANKER, OWN

OWN_ADDRESSES = frozenset({"support@example.com"})


def load(path: Path):
    return parse_mail(path.read_bytes())


def simple(headers: str, body: str = "hello") -> bytes:
    return (
        "From: Alice <alice@example.org>\r\nTo: support@example.com\r\nSubject: Hi\r\n"
        f"Message-ID: <x1@example.org>\r\n{headers}\r\n{body}\r\n"
    ).encode()


# ---------------------------------------------------------------- charsets


def test_gb2312_label_with_gbk_only_characters_decodes_as_gb18030():
    mail = load(OWN / "gbk-labelled-gb2312.eml")
    assert mail.from_name == "王堃"
    assert mail.subject == "订单查询：镕"
    assert mail.text == "您好，朱镕基和王堃的订单还没有到。\n请帮忙查一下。"


def test_raw_8bit_gbk_headers_are_recovered():
    mail = load(OWN / "gbk-raw-8bit-headers.eml")
    assert mail.from_name == "李四" and mail.from_addr == "li.si@example.cn"
    assert mail.subject == "退款进度"
    assert mail.text == "退款什么时候到账？谢谢"  # quoted-printable body


def test_big5_and_shift_jis():
    big5 = load(OWN / "big5.eml")
    assert (big5.from_name, big5.subject, big5.text) == ("陳小明", "臺灣的發票問題", "請問臺灣的發票什麼時候寄出？")
    sjis = load(OWN / "shift-jis.eml")
    assert (sjis.from_name, sjis.subject) == ("山田太郎", "注文番号について")
    assert sjis.text == "注文①の配送状況を教えてください。"  # ① exists only in cp932, Shift_JIS's real superset


def test_latin1_label_with_windows_1252_bytes_and_unknown_labels():
    assert decode_bytes(b"price \x80 5", "iso-8859-1") == "price € 5"
    assert decode_bytes("naïve".encode(), "x-unknown-charset") == "naïve"
    assert decode_bytes(b"\xff\xfe broken", "utf-8")  # never raises
    assert decode_header_value("=?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?cr=E8me?=") == "cafécrème"


def test_russian_and_encoded_headers_from_real_mail():
    assert load(FLANKER / "bilingual-simple.eml").subject == "Simple text. How are you? Как ты поживаешь?"
    assert load(FLANKER / "8bitmime.eml").text.startswith("Превел")
    assert load(FLANKER / "long-header.eml").subject.startswith("Die heiße Zypernsonne quälte Max und Victoria")


# ---------------------------------------------------------------- structure


def test_attachments_with_rfc2231_names_and_inline_images():
    mail = load(OWN / "rfc2231-attachments.eml")
    assert mail.text == "Anbei die Rechnung für März."
    names = [(a.filename, a.kind, a.mime) for a in mail.attachments]
    assert names == [
        ("logo.png", "image", "image/png"),
        ("Rechnung März 发票.pdf", "file", "application/pdf"),
        ("中文的说明.txt", "file", "text/plain"),
    ]
    assert mail.attachments[1].data == b"%PDF-1.4 fake"


def test_attachment_names_in_rfc2047_and_raw_gbk_as_foxmail_and_outlook_send_them():
    mail = load(OWN / "gbk-attachment-names.eml")
    assert mail.text == "附件是发票，请查收。"
    assert [a.filename for a in mail.attachments] == ["王堃的发票.pdf", "李四的合同.doc"]
    assert mail.attachments[0].data == b"%PDF-1.4"


def test_html_only_mail_becomes_readable_text_and_keeps_the_raw_html():
    mail = load(OWN / "html-only.eml")
    assert mail.text == "Hello,\n\nmy order #4711 is late.\n\n  * ordered Monday\n  * paid\n\ntracking"
    assert mail.html is not None and "<script>" in mail.html  # raw: the core sanitises it with nh3
    assert "alert" not in mail.text


def test_multipart_alternative_prefers_text_and_keeps_html():
    mail = load(OWN / "reply-with-quote.eml")
    assert mail.text == "Thanks, it arrived today."
    assert "Your parcel is on its way." in mail.full_text
    assert mail.html is not None and "<blockquote>" in mail.html
    assert mail.token == 42
    assert mail.in_reply_to == ("<tpb.7.42.abc@example.com>",)


def test_forwarded_mail_is_kept_as_an_eml_attachment():
    mail = load(FLANKER / "enclosed.eml")
    (att,) = mail.attachments
    assert att.mime == "message/rfc822" and att.filename == "Thanks!.eml"
    assert b"Subject: Thanks!" in att.data


def test_deeply_nested_mail_does_not_hang_or_crash():
    mail = load(FLANKER / "enclosed-endless.eml")
    assert mail.text == "Hello"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n", "empty message"),
        (b"\x00\x01 not a mail at all", "no header fields"),
        (b"Subject: who sent this?\r\n\r\nno sender\r\n", "no sender address"),
    ],
)
def test_unparseable_mail_is_quarantined_with_the_reason(raw: bytes, reason: str):
    done = convert("email.support", raw, own_addresses=OWN_ADDRESSES)
    assert done.inbound is None and done.quarantined is not None
    assert reason in done.quarantined.reason
    assert done.quarantined.raw == raw
    assert done.quarantined.external_id.startswith(("sha256:", "<"))


def test_mail_without_message_id_gets_a_stable_content_hash():
    raw = b"From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n"
    first = convert("email.support", raw, own_addresses=OWN_ADDRESSES).inbound
    again = convert("email.support", raw.replace(b"\r\n", b"\n"), own_addresses=OWN_ADDRESSES).inbound
    assert first is not None and again is not None
    assert first.external_id.startswith("sha256:") and first.external_id == again.external_id


def test_sender_id_is_the_lower_cased_address_and_the_hint_asks_for_a_thread_of_its_own():
    done = convert("email.support", (OWN / "reply-with-quote.eml").read_bytes(), own_addresses=OWN_ADDRESSES)
    inbound = done.inbound
    assert inbound is not None
    assert inbound.sender.external_id == "bob@example.org" and inbound.sender.name == "Bob Customer"
    assert inbound.thread is not None and inbound.thread.per_thread
    assert inbound.extra["full_text"].startswith("Thanks, it arrived today.")


# ---------------------------------------------------------------- trimming


@pytest.mark.parametrize(
    "text",
    [
        "OK, thanks.\n\nOn Mon, 23 Nov 2026 at 10:00, Support <s@example.com> wrote:\n> earlier",
        "OK, thanks.\n\nOn Mon, 23 Nov 2026 at 10:00, Support\n<s@example.com> wrote:\n> earlier",
        "OK, thanks.\n\n-----Original Message-----\nFrom: Support\nearlier",
        "OK, thanks.\n\nFrom: Support <s@example.com>\nSent: Monday\nTo: Bob\nSubject: Re: x\n\nearlier",
        "OK, thanks.\n\n在 2026年11月23日 10:00，客服 <s@example.com> 写道：\n> 之前",
        "OK, thanks.\n\n-- \nBob Customer\nACME Inc.",
        "OK, thanks.\n\nSent from my iPhone",
        "OK, thanks.\n\n> earlier\n> more",
    ],
)
def test_quoted_history_and_signatures_are_trimmed(text: str):
    assert trim_reply(text) == "OK, thanks."


def test_trimming_never_leaves_nothing():
    assert trim_reply("> only a quote") == "> only a quote"
    assert trim_reply("inline answer\n> question\nmy answer") == "inline answer\n> question\nmy answer"


# ---------------------------------------------------------------- loops and bounces


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated\r\n",
        "Precedence: bulk\r\n",
        "Precedence: list\r\n",
        "Precedence: junk\r\n",
        "List-Id: <news.example.org>\r\n",
        "X-Autoreply: yes\r\n",
        "X-Auto-Response-Suppress: OOF, AutoReply\r\n",
        "Return-Path: <>\r\n",
    ],
)
def test_automatic_mail_gets_no_automatic_reply(headers: str):
    done = convert("email.support", simple(headers), own_addresses=OWN_ADDRESSES)
    assert done.inbound is not None and done.inbound.no_auto_reply
    assert done.inbound.extra["no_auto_reply_reason"]


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.org", "support@example.com", "noreply@shop.example"])
def test_daemons_and_our_own_address_get_no_automatic_reply(sender: str):
    raw = simple("").replace(b"alice@example.org", sender.encode())
    done = convert("email.support", raw, own_addresses=OWN_ADDRESSES)
    assert done.inbound is not None and done.inbound.no_auto_reply


def test_a_normal_mail_may_be_answered_automatically_unless_imported():
    assert not convert(
        "email.support", simple("Auto-Submitted: no\r\n"), own_addresses=OWN_ADDRESSES
    ).inbound.no_auto_reply
    imported = convert("email.support", simple(""), own_addresses=OWN_ADDRESSES, imported=True).inbound
    assert imported is not None and imported.no_auto_reply


@pytest.mark.parametrize(
    ("name", "failed", "reason", "original"),
    [
        (
            "bounce_gmail-invalid-address.eml",
            True,
            "550 5.1.0 Recipient rejected",
            "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",
        ),
        ("bounce_mailbox-full.eml", True, "5.2.2", "<4E326A95.3010907@example.com>"),
        ("bounce_office365.eml", True, "5.1.10", "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>"),
        ("bounce_zed.eml", True, "5.1.1", "<20090708054735.GC7578@example.com>"),
        ("bounce_no-mx.eml", False, "4.4.4", "<19E44CA63F984902B7D654F8FF40F89D@bo>"),
        ("bounce_delayed.eml", True, "426 connection timed out", None),
        ("bounce_gmail-no-dns.eml", True, "user@example.comm", None),
        ("bounce_broken-mime.eml", True, "Delivery failed 10 attempts", None),
        ("bounce_delayed-broken.eml", True, "4.2.2", None),
    ],
)
def test_bounces_are_recognised_with_reason_and_original(name: str, failed: bool, reason: str, original: str | None):
    bounce = bounce_info(load(FLANKER / name))
    assert bounce is not None
    assert bounce.failed is failed
    assert reason in bounce.reason
    if original:
        assert bounce.original_ids[0] == original


@pytest.mark.parametrize(
    "name",
    ["long-links.eml", "complaints_aol.eml", "complaints_yahoo.eml", "disposition-notification.eml", "iphone.eml"],
)
def test_normal_mail_complaints_and_receipts_are_not_bounces(name: str):
    mail = load(FLANKER / name)
    assert bounce_info(mail) is None


def test_reports_are_never_answered():
    for name in ("complaints_yahoo.eml", "disposition-notification.eml", "complaints_aol.eml"):
        assert auto_reply_reason(load(FLANKER / name), OWN_ADDRESSES) is not None, name


def test_unmatched_bounce_becomes_a_system_note():
    done = convert("email.support", (FLANKER / "bounce_zed.eml").read_bytes(), own_addresses=OWN_ADDRESSES)
    assert done.bounce is not None and done.inbound is None  # the adapter tries delivery_failed first


# ---------------------------------------------------------------- composing replies


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Refund", "Re: Refund [#7]"),
        ("Re: Refund", "Re: Refund [#7]"),
        ("RE: Re: AW: Refund [#7]", "Re: Refund [#7]"),
        ("回复：退款", "Re: 退款 [#7]"),
        (None, "Re: Your request [#7]"),
        ("", "Re: Your request [#7]"),
    ],
)
def test_reply_subject_has_one_re_and_one_token(subject: str | None, expected: str):
    assert reply_subject(subject, 7) == expected


def out(**kw: object) -> Outbound:
    values: dict[str, object] = {
        "inbox": "email.support",
        "message_id": 3,
        "conversation_id": 7,
        "recipient": "bob@example.org",
        "text": "Hello Bob",
        "subject": "Refund",
    }
    values.update(kw)
    return Outbound(**values)  # type: ignore[arg-type]


def test_threading_headers_from_refs_and_reply_to():
    refs = tuple(f"<m{i}@x.org>" for i in range(30))
    in_reply_to, references = threading_headers(out(thread_refs=refs, reply_to="<m10@x.org>"))
    assert in_reply_to == "<m10@x.org>"
    assert references[0] == "<m0@x.org>" and references[-1] == "<m29@x.org>" and len(references) == 20
    assert threading_headers(out()) == (None, [])


def test_built_reply_has_text_and_html_parts_and_our_headers():
    settings = Settings(
        imap_host="h",
        smtp_host="h",
        username="support@example.com",
        password="x",
        from_address="Example Support <support@example.com>",
    )
    msg = build_reply(out(text="Line 1\nLine <2>", thread_refs=("<a@x.org>",)), settings, "<tpb.7.3.x@example.com>")
    raw = msg.as_bytes(policy=policy.SMTP).replace(b"\r\n", b"\n")
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Message-ID"] == "<tpb.7.3.x@example.com>"
    assert parsed["In-Reply-To"] == "<a@x.org>" and parsed["References"] == "<a@x.org>"
    assert parsed.get_body(("plain",)).get_content().strip() == "Line 1\nLine <2>"
    assert "Line 1<br>\nLine &lt;2&gt;" in parsed.get_body(("html",)).get_content()
    assert parsed["From"] == "Example Support <support@example.com>"


# ---------------------------------------------------------------- settings


def test_settings_resolve_secrets_and_refuse_bad_values(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TPB_TEST_MAIL_PW", "s3cret")
    base = {"imap_host": "h", "smtp_host": "h", "username": "u", "from_address": "S <s@example.com>"}
    assert Settings(**base, password="env:TPB_TEST_MAIL_PW").password == "s3cret"
    with pytest.raises(ValidationError):
        Settings(**base, password="x", imap_tls="ssl")
    with pytest.raises(ValidationError):
        Settings(**{**base, "from_address": "not an address"}, password="x")
    with pytest.raises(ValidationError):
        Settings(**base, password="x", idle_renew_seconds=30 * 60)
    with pytest.raises(ValidationError):
        Settings(**base, password="x", unknown_key=1)
    with pytest.raises(ValidationError, match="no such file"):
        Settings(**base, password="x", tls_ca_file="/nonexistent/ca.pem")
