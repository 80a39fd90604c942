"""A parsed mail -> what the core stores: an Inbound, a bounce, or a quarantined .eml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tpbridge.adapters.base import Inbound, Quarantined, Sender, ThreadHint

from .loops import Bounce, auto_reply_reason, bounce_info
from .parse import ParsedMail, Unparseable, content_id, parse_mail


@dataclass(frozen=True, slots=True)
class Converted:
    """Exactly one of: a record to ingest, a bounce to match, or a quarantine entry."""

    inbound: Inbound | None = None
    bounce: Bounce | None = None
    mail: ParsedMail | None = None
    quarantined: Quarantined | None = None


def convert(
    inbox: str,
    raw: bytes,
    *,
    own_addresses: frozenset[str],
    internaldate: datetime | None = None,
    imported: bool = False,
) -> Converted:
    """Parse and classify one mail; CPU-bound, so the adapter runs it in a worker thread."""
    try:
        mail = parse_mail(raw)
        bounce = bounce_info(mail)
    except Unparseable as exc:
        return Converted(quarantined=Quarantined(inbox, content_id(raw), str(exc), raw))
    except Exception as exc:  # the parser met something it cannot handle: keep the bytes, move on
        reason = f"cannot parse MIME: {type(exc).__name__}: {exc}"[:500]
        return Converted(quarantined=Quarantined(inbox, content_id(raw), reason, raw))
    if bounce is not None:
        return Converted(bounce=bounce, mail=mail)
    if not mail.from_addr:
        reason = "no sender address (From, Sender and Return-Path missing or unreadable)"
        return Converted(quarantined=Quarantined(inbox, mail.external_id, reason, raw))
    return Converted(inbound=to_inbound(inbox, mail, own_addresses, internaldate, imported), mail=mail)


def to_inbound(
    inbox: str,
    mail: ParsedMail,
    own_addresses: frozenset[str],
    internaldate: datetime | None,
    imported: bool,
) -> Inbound:
    """The customer's mail as the core's record; threading is the core's job, from the hint."""
    no_reply_reason = auto_reply_reason(mail, own_addresses)
    references: list[str] = []
    for ident in (*mail.in_reply_to, *mail.references):
        if ident not in references and ident != mail.message_id:
            references.append(ident)
    return Inbound(
        inbox=inbox,
        external_id=mail.external_id,
        sender=Sender(external_id=mail.from_addr, name=mail.from_name, handle=mail.from_addr, email=mail.from_addr),
        text=mail.text,
        sent_at=_sent_at(mail.date, internaldate),
        html=mail.html,
        subject=mail.subject,
        attachments=mail.attachments,
        thread=ThreadHint(references=tuple(references), token=mail.token, per_thread=True),
        reply_to=mail.in_reply_to[0] if mail.in_reply_to else None,
        no_auto_reply=imported or no_reply_reason is not None,
        extra={
            "full_text": mail.full_text,
            "message_id": mail.message_id,
            "to": list(mail.to),
            "cc": list(mail.cc),
            "reply_to_address": mail.reply_to_addr,
            "no_auto_reply_reason": "imported history" if imported and not no_reply_reason else no_reply_reason,
        },
        raw=mail.raw,
    )


def bounce_note(inbox: str, mail: ParsedMail, bounce: Bounce, internaldate: datetime | None) -> Inbound:
    """A delivery report that matched none of our replies: kept as a system note, never answered."""
    kind = "Delivery failed" if bounce.failed else "Delivery delayed"
    text = f"{kind}: {bounce.reason}"
    if mail.text:
        text += "\n\n" + mail.text
    sender = mail.from_addr or "mailer-daemon"
    return Inbound(
        inbox=inbox,
        external_id=mail.external_id,
        sender=Sender(external_id=sender, name=mail.from_name, handle=sender, email=sender),
        text=text,
        sent_at=_sent_at(mail.date, internaldate),
        subject=mail.subject,
        attachments=mail.attachments,
        thread=ThreadHint(references=bounce.original_ids, per_thread=True),
        system=True,
        no_auto_reply=True,
        extra={
            "full_text": mail.full_text,
            "message_id": mail.message_id,
            "bounce": {
                "failed": bounce.failed,
                "reason": bounce.reason,
                "original": list(bounce.original_ids),
            },
        },
        raw=mail.raw,
    )


def _sent_at(header_date: datetime | None, internaldate: datetime | None) -> datetime:
    now = datetime.now(UTC)
    # A Date header from the future (a wrong clock) would sort the mail above everything else.
    if header_date is not None and header_date <= now + timedelta(hours=1):
        return header_date
    return internaldate or now
