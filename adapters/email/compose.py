"""Outbound -> a reply that every mail client threads and renders: headers, text + HTML, files."""

from __future__ import annotations

import hashlib
import hmac
import html as htmllib
import re
from email.message import EmailMessage
from email.utils import formatdate

from tpbridge.adapters.base import Outbound

from .settings import EmailSettings

_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd|wg|antw|答复|回复|转发)\s*(\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)
_TOKEN = re.compile(r"(?<!\s)\s*\[#\d+\]")  # from a run's start only: linear in long runs of spaces
_MSGID = re.compile(r"^<[^<>\s]+@[^<>\s]+>$")
MAX_REFERENCES = 20  # RFC 5322 §3.6.4 allows trimming; keep the root and the newest ones


def reply_subject(subject: str | None, conversation_id: int, *, first: bool = False) -> str:
    """`Re: <subject> [#id]` — one `Re:`, one token, whatever the customer's client added.
    The first mail of a conversation the desk started answers nothing: no `Re:`."""
    base = _TOKEN.sub("", _PREFIX.sub("", subject or "")).strip() or "Your request"
    return f"{'' if first else 'Re: '}{base} [#{conversation_id}]"


def outbound_message_id(out: Outbound, salt: str, domain: str) -> str:
    """Our Message-ID for this reply: the same on every retry, so a resend is not a new mail."""
    mac = hmac.new(salt.encode(), f"{out.inbox}:{out.message_id}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"<tpb.{out.conversation_id}.{out.message_id}.{mac}@{domain}>"


def threading_headers(out: Outbound) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) from the conversation's stored Message-IDs, oldest first."""
    refs = [r for r in out.thread_refs if _MSGID.match(r)]
    in_reply_to = out.reply_to if out.reply_to and _MSGID.match(out.reply_to) else (refs[-1] if refs else None)
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return in_reply_to, refs


def text_to_html(text: str) -> str:
    """A minimal HTML rendering of plain text (paragraphs, line breaks, escaped)."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    body = "".join(
        "<p>" + "<br>\n".join(htmllib.escape(line) for line in para.splitlines()) + "</p>\n" for para in paragraphs
    )
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n{body}</body></html>\n'


def build_reply(out: Outbound, settings: EmailSettings, message_id: str) -> EmailMessage:
    """The full MIME message; reads attachment files, so call it off the event loop."""
    msg = EmailMessage()
    msg["From"] = settings.from_header
    msg["To"] = out.recipient
    in_reply_to, refs = threading_headers(out)
    msg["Subject"] = reply_subject(out.subject, out.conversation_id, first=in_reply_to is None)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if refs:
        msg["References"] = " ".join(refs)
    if out.auto:
        # RFC 3834: automatic responses say so, so that other robots do not answer them.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Tpbridge-Conversation"] = str(out.conversation_id)
    msg.set_content(out.text or "", cte="quoted-printable" if not out.text.isascii() else "7bit")
    msg.add_alternative(out.html or text_to_html(out.text or ""), subtype="html")
    for att in out.attachments:
        maintype, _, subtype = (att.mime or "application/octet-stream").partition("/")
        data = att.source.read_bytes()  # build_reply runs in a worker thread
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=att.filename)
    return msg
