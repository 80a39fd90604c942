"""Model -> visitor: a reply pushed to the visitor's open pages, and the history a reloaded page shows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from tpbridge.adapters.base import Outbound, PastMessage, Sent

from .api import OpenPages, Payload


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def deliver(pages: OpenPages, out: Outbound) -> Sent:
    """Delivered = available to the visitor: pushed to open pages, in the history for later ones."""
    pages.push(out.recipient, {
        "id": out.message_id, "direction": "out", "text": out.text,
        "author": {"kind": "bot" if out.auto else "agent"},
        "attachments": [{"filename": a.filename, "mime": a.mime, "size": a.size} for a in out.attachments],
        "created_at": _stamp(datetime.now(UTC)),
    })
    return Sent(external_id=f"web-out:{out.message_id}")


def history_items(messages: Iterable[PastMessage]) -> list[Payload]:
    """The visitor's conversation as the page shows it; replies not delivered yet arrive over the stream."""
    items: list[Payload] = []
    for msg in messages:
        if not msg.delivered:
            continue
        items.append({
            "id": msg.id, "direction": msg.direction, "text": msg.text,
            "author": {"kind": msg.author},
            "attachments": [{"filename": a.filename, "mime": a.mime, "size": a.size} for a in msg.attachments],
            "created_at": _stamp(msg.created_at),
        })
    return items
