"""What other instances commit, onto this instance's event bus (several instances on one PostgreSQL).

The store hands over other instances' changes as they commit (bridge/store/postgres/notify.py:
LISTEN/NOTIFY); each is read back and published as a *remote* event: agents' SSE streams here see
it, automation and metrics do not (they ran where it happened). An erased conversation comes with
what it was (its rows are gone), so screens here drop it too. A reply another instance delivered
to a channel that pushes to connected clients (the web chat) is pushed to the clients here too.
With SQLite there is no other instance and nothing comes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from tpbridge.adapters.base import Outbound, OutboundAttachment, PushesToClients
from tpbridge.bridge.events import MESSAGE_UPDATED, from_change
from tpbridge.bridge.model import Conversation, Delivery, Direction, Message
from tpbridge.bridge.store.protocol import Change

if TYPE_CHECKING:
    from tpbridge.bridge.core import Core

log = structlog.get_logger(__name__)


async def relay(core: Core) -> None:
    async for changes in core.store.changes():
        # One read for a whole notification (another instance's committed group), not two per change.
        convs, msgs = await core.store.changed_rows([ch for ch in changes if ch.gone is None])
        for change in changes:
            await _publish(core, change, convs, msgs)


async def _publish(core: Core, change: Change, convs: dict[int, Conversation], msgs: dict[int, Message]) -> None:
    event = from_change(change, convs, msgs, remote=True)
    if event is None:
        return  # erased since
    core.bus.publish(event)
    msg, conv = event.message, event.conversation
    if msg is not None and change.kind == MESSAGE_UPDATED and msg.direction is Direction.OUT \
            and msg.delivery is Delivery.SENT:
        adapter: object = core.adapters.get(conv.inbox)
        if isinstance(adapter, PushesToClients):
            adapter.delivered_elsewhere(await _outbound(core, conv, msg))


async def _outbound(core: Core, conv: Conversation, msg: Message) -> Outbound:
    contact = await core.store.get_contact(conv.contact_id)
    recipient = next((i.external_id for i in (contact.identities if contact else ()) if i.id == conv.identity_id), "")
    attachments = tuple(OutboundAttachment(a.kind, a.mime, a.filename or "file", a.size, core.files.source(a.sha256))
                        for a in msg.attachments)
    return Outbound(inbox=conv.inbox, message_id=msg.id, conversation_id=conv.id, recipient=recipient, text=msg.text,
                    html=msg.html, attachments=attachments, auto=msg.auto, public=conv.public,
                    reply_window_ends_at=conv.reply_window_ends_at)
