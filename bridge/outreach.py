"""The desk writes first: a new conversation with a person, within each channel's rules.

The channel decides what is allowed (`StartsConversations.may_start`: Telegram only to people who
wrote to the bot, WeChat only inside its 48-hour window, X only where a DM exists, e-mail anywhere);
the core only gathers what it knows about the recipient. The conversation is opened with a system
note through the normal ingest path, and the first message goes out through the outbox like any reply.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from tpbridge.adapters.base import ChannelRule, Inbound, Reach, Sender, StartsConversations, ThreadHint
from tpbridge.bridge.core import Core
from tpbridge.bridge.desk import Invalid, NotFound
from tpbridge.bridge.model import Author, Conversation, Message, Role, Viewer, utcnow
from tpbridge.bridge.pipeline import MAX_CHANNEL_ID
from tpbridge.bridge.store.protocol import ConversationFilter

log = structlog.get_logger(__name__)
EVERYONE = Viewer(0, Role.ADMIN, (), ("*",))  # the core's own reads: visibility is checked by the caller


@dataclass(frozen=True, slots=True)
class Started:
    conversation: Conversation
    message: Message


async def recipient_conversations(core: Core, inbox: str, external_id: str) -> tuple[bool, list[Conversation]]:
    """Whether this address has an identity in the inbox, and its conversations there, newest first."""
    identity = await core.store.find_identity(inbox, external_id)
    if identity is None:
        return False, []
    page = await core.store.list_conversations(
        EVERYONE, ConversationFilter(status="all", inbox=inbox, contact_id=identity.contact_id), 50, None)
    return True, [c for c in page.items if c.identity_id == identity.id]


async def start_conversation(
    core: Core, *, inbox: str, author: Author, text: str, to: str | None = None, contact_id: int | None = None,
    name: str | None = None, subject: str | None = None,
) -> Started:
    """Open a conversation on `inbox` with `to` (or the contact's identity there) and send `text`.

    Raises NotFound (no such inbox or contact), Invalid (a bad address), ChannelRule (the channel forbids it).
    """
    adapter = core.adapters.get(inbox)
    if adapter is None:
        raise NotFound(f"inbox: no enabled inbox {inbox!r}")
    if not isinstance(adapter, StartsConversations):
        raise ChannelRule("not_supported", f"{inbox}: this channel cannot start conversations")
    if not text.strip():
        raise Invalid("text: the first message needs text")
    if contact_id is not None:
        contact = await core.store.get_contact(contact_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} not found")
        found = [i for i in contact.identities if i.inbox == inbox]
        if found:
            to = found[0].external_id
        elif contact.email and to is None:
            to = contact.email  # an e-mail inbox may write to the address the contact gave
        if to is None:
            raise ChannelRule("no_identity", f"contact {contact_id} has no address on {inbox}")
        name = name or contact.name
    if not to:
        raise Invalid('give "to" (the address on that channel) or "contact_id"')
    try:
        address = adapter.address(to)
    except ValueError as exc:
        raise Invalid(f"to: {exc}") from None
    if len(address) > MAX_CHANNEL_ID:  # a plugin's channel may not check: the store keeps no longer key
        raise Invalid(f"to: at most {MAX_CHANNEL_ID} characters")
    known, convs = await recipient_conversations(core, inbox, address)
    adapter.may_start(Reach(utcnow(), known, tuple(c.attrs for c in convs)))
    sink = core.sinks[inbox]
    opened = Inbound(
        inbox=inbox, external_id=f"desk-start:{uuid.uuid4().hex}",
        # Only an e-mail address has an @ inside (chat ids, openids, user ids and E.164 numbers never do).
        sender=Sender(address, name=name or None, handle=address, email=address if "@" in address[1:] else None),
        text=f"Conversation started by {author.name}",
        sent_at=utcnow(), subject=subject or None, thread=ThreadHint(per_thread=True), system=True,
        no_auto_reply=True, extra={"started_by": author.id},
    )
    items = await core.pipeline.ingest(inbox, sink.channel, [opened])
    conv = items[0].conversation
    assert conv is not None
    if author.id is not None:  # as in Chatwoot: who writes first owns the conversation
        await core.desk.assign(conv.id, agent_id=author.id)
    message = await core.desk.reply(conv.id, text, author=author)
    log.info("conversation.started", inbox=inbox, conversation_id=conv.id, agent_id=author.id)
    return Started(await core.desk.conversation(conv.id), message)
