"""Raw RFC 5322 bytes -> the facts the adapter needs (standard library `email`, policy.default).

Headers are decoded from their raw form (`raw_items()`) through `charsets`, because the
parser's own decoding trusts charset labels that real mail gets wrong.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from inscriptis import get_text
from tpbridge.adapters.base import InboundAttachment

from .charsets import decode_bytes, decode_header_value
from .trim import trim_reply

_MSGID = re.compile(r"<([^<>]+)>")
_TOKEN = re.compile(r"\[#(\d{1,18})\]")


class Unparseable(Exception):
    """The bytes are not a mail we can show; the reason goes to the quarantine."""


@dataclass(slots=True)
class ParsedMail:
    """One received mail, decoded; `msg` stays available for loop and bounce checks."""

    msg: EmailMessage
    raw: bytes
    external_id: str
    message_id: str | None
    subject: str | None
    from_addr: str
    from_name: str | None
    reply_to_addr: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    full_text: str
    text: str
    html: str | None
    attachments: tuple[InboundAttachment, ...] = ()
    defects: tuple[str, ...] = field(default=())

    @property
    def token(self) -> int | None:
        """The conversation id quoted in the subject (`[#123]`), the last one when several."""
        found = _TOKEN.findall(self.subject or "")
        return int(found[-1]) if found else None


def content_id(raw: bytes) -> str:
    """The dedupe key of a mail without a Message-ID: stable across UIDVALIDITY changes."""
    # Line endings normalised: servers store LF or CRLF, and a migrated mailbox may differ.
    return "sha256:" + hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def normalise_msgid(value: str | None) -> str | None:
    """`<id@host>` with folding whitespace removed; a bare id gets its angle brackets back."""
    if not value:
        return None
    found = _MSGID.search(value)
    ident = found.group(1) if found else value
    ident = "".join(ident.split())
    if not ident or len(ident) > 995:
        return None
    return f"<{ident}>"


def msgid_list(value: str | None) -> tuple[str, ...]:
    """Every `<id>` in a References/In-Reply-To value, in order, without repeats."""
    if not value:
        return ()
    out: list[str] = []
    for ident in _MSGID.findall(value):
        norm = normalise_msgid(f"<{ident}>")
        if norm and norm not in out:
            out.append(norm)
    return tuple(out)


def raw_header(msg: Message, name: str) -> str | None:
    """The first `name` header as sent (encoded words and 8-bit bytes intact)."""
    lname = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == lname:
            return str(value)
    return None


def parse_bytes(raw: bytes) -> EmailMessage:
    """Parse without decoding anything yet; the parser itself copes with broken structure."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def parse_mail(raw: bytes) -> ParsedMail:
    """Decode one mail; raise `Unparseable` for what no mail client could show either."""
    if not raw.strip():
        raise Unparseable("empty message")
    try:
        msg = parse_bytes(raw)
    except (RecursionError, MemoryError) as exc:
        raise Unparseable(f"MIME structure too deep or too large ({type(exc).__name__})") from None
    if not list(msg.raw_items()):
        raise Unparseable("no header fields (not an RFC 5322 message)")
    body_charset = _first_charset(msg)

    def header(name: str) -> str | None:
        value = raw_header(msg, name)
        return None if value is None else decode_header_value(value, body_charset)

    from_raw = raw_header(msg, "From") or raw_header(msg, "Sender") or raw_header(msg, "Return-Path")
    from_name, from_addr = _address(from_raw, body_charset)  # "" when missing: the adapter decides
    _, reply_to = _address(raw_header(msg, "Reply-To"), body_charset)

    message_id = normalise_msgid(raw_header(msg, "Message-ID"))
    try:
        texts, htmls, attachments = _collect(msg)
    except RecursionError:
        raise Unparseable("MIME structure nested too deeply") from None
    full_text = "\n\n".join(t.strip("\n") for t in texts if t.strip()).strip()
    html = htmls[0] if htmls else None
    if not full_text and htmls:
        full_text = html_to_text("\n".join(htmls))
    subject = header("Subject")
    return ParsedMail(
        msg=msg,
        raw=raw,
        external_id=message_id or content_id(raw),
        message_id=message_id,
        subject=subject or None,
        from_addr=from_addr,
        from_name=from_name,
        reply_to_addr=reply_to,
        to=_address_list(raw_header(msg, "To"), body_charset),
        cc=_address_list(raw_header(msg, "Cc"), body_charset),
        date=_date(raw_header(msg, "Date")),
        in_reply_to=msgid_list(raw_header(msg, "In-Reply-To")),
        references=msgid_list(raw_header(msg, "References")),
        full_text=full_text,
        text=trim_reply(full_text) if full_text else "",
        html=html,
        attachments=tuple(attachments),
        defects=tuple(type(d).__name__ for d in msg.defects),
    )


def html_to_text(html: str) -> str:
    """Readable text from an HTML-only mail (links and lists kept as text)."""
    try:
        text = get_text(html)
    except Exception:  # lxml refuses some documents (encoding declarations, junk); strip tags instead
        text = re.sub(r"<[^>]+>", " ", html)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def part_text(part: Message) -> str:
    """The decoded text of a leaf part (transfer encoding, then the charset it really has)."""
    payload = part.get_payload(decode=True)
    if payload is None:
        body = part.get_payload()
        return body if isinstance(body, str) else ""
    assert isinstance(payload, bytes)
    return decode_bytes(payload, part.get_content_charset())


# ---------------------------------------------------------------- internals


def _collect(msg: Message) -> tuple[list[str], list[str], list[InboundAttachment]]:
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[InboundAttachment] = []

    def visit(part: Message, depth: int) -> None:
        ctype = part.get_content_type()
        if ctype == "message/rfc822" or (part.is_multipart() and ctype.startswith("message/")):
            if ctype == "message/rfc822":
                attachments.append(_enclosed(part))
            return  # delivery-status and friends are read by loops.py, not shown as text
        if part.is_multipart():
            if depth > 50:
                raise RecursionError("multipart nesting")
            payload = part.get_payload()
            if isinstance(payload, list):
                for sub in payload:
                    if isinstance(sub, Message):
                        visit(sub, depth + 1)
            return
        disposition = part.get_content_disposition()
        filename = _filename(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (texts if ctype == "text/plain" else htmls).append(part_text(part))
            return
        if ctype == "text/rfc822-headers" or ctype == "message/delivery-status":
            return
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            return
        attachments.append(
            InboundAttachment(kind=_kind(ctype), mime=ctype, data=data, filename=filename or _default_name(ctype))
        )

    visit(msg, 0)
    return texts, htmls, attachments


def _enclosed(part: Message) -> InboundAttachment:
    """A forwarded or returned mail, kept whole as a .eml attachment."""
    payload = part.get_payload()
    data = b""
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, Message):
        try:
            data = inner.as_bytes(policy=policy.compat32)
        except Exception:  # a broken inner mail: keep its text rather than lose it
            data = str(inner.get_payload()).encode("utf-8", "replace")
    subject = None
    if isinstance(inner, Message):
        raw_subject = raw_header(inner, "Subject")
        subject = decode_header_value(raw_subject) if raw_subject else None
    name = _safe_filename(subject or "message") + ".eml"
    return InboundAttachment(kind="file", mime="message/rfc822", data=data, filename=name)


def _filename(part: Message) -> str | None:
    """The attachment's name: RFC 2231 via the parser; RFC 2047 and raw 8-bit names from the raw header.

    Outlook and Foxmail send `filename="=?GB2312?B?...?="` (RFC 2047 inside a parameter, not
    allowed but universal) and old clients send raw GBK bytes; the parser decodes both with
    the label's codec or as UTF-8, so they are taken from the header as sent instead.
    """
    for header, key in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        raw = raw_header(part, header)
        if raw is None or re.search(rf"{key}\*", raw, re.IGNORECASE):
            continue  # absent, or RFC 2231 (`name*=`): the parser's decoding below is right
        found = _PARAM[key].search(raw)
        if found is None:
            continue
        value = found.group(1) if found.group(1) is not None else found.group(2)
        value = value.replace('\\"', '"')
        if "=?" in value or any("\udc80" <= ch <= "\udcff" for ch in value):
            return _safe_filename(decode_header_value(value, part.get_content_charset()))
    name: str | None
    try:
        name = part.get_filename()  # RFC 2231 (filename*=) is decoded by the parser
    except Exception:
        name = None
    if not name:
        param: object
        try:
            param = part.get_param("name")
        except Exception:
            param = None
        if isinstance(param, tuple):  # RFC 2231 triple from the legacy API
            param = decode_bytes(str(param[2]).encode("latin-1", "replace"), param[0])
        name = param if isinstance(param, str) else None
    if not name:
        return None
    return _safe_filename(name)


_PARAM = {
    key: re.compile(rf'(?:^|;)\s*{key}\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)
    for key in ("filename", "name")
}


def _safe_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip(" .")
    return name[:200] or "attachment"


def _default_name(ctype: str) -> str:
    return "attachment" + (mimetypes.guess_extension(ctype) or ".bin")


def _kind(ctype: str) -> str:
    major = ctype.split("/", 1)[0]
    return {"image": "image", "audio": "audio", "video": "video"}.get(major, "file")


def _first_charset(msg: Message) -> str | None:
    """The charset the sender's client used for the body: the best guess for raw 8-bit headers."""
    for part in msg.walk():
        charset = part.get_content_charset()
        if charset and charset not in ("us-ascii", "ascii"):
            return charset
    return None


def _address(raw: str | None, charset: str | None) -> tuple[str | None, str]:
    if not raw:
        return None, ""
    name, addr = parseaddr(raw.replace("\r", "").replace("\n", " "))
    if "@" not in addr and "<" in raw:  # parseaddr gives up on odd display names: take the <addr>
        found = re.search(r"<([^<>@\s]+@[^<>\s]+)>", raw)
        addr = found.group(1) if found else addr
    addr = addr.strip().lower()
    if any("\udc80" <= ch <= "\udcff" for ch in addr) or " " in addr:
        return None, ""
    shown = decode_header_value(name, charset).strip().strip('"') if name else None
    return shown or None, addr


def _address_list(raw: str | None, charset: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(addr.lower() for _, addr in getaddresses([raw.replace("\n", " ")]) if "@" in addr)


def _date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value: datetime | None = parsedate_to_datetime(raw.strip())  # None from older Pythons' parser
    except (TypeError, ValueError, IndexError):
        return None
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
