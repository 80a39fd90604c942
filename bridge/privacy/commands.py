"""`/mydata` and `/forget` from the person's own chat, each after a confirmation step.

Every channel: the command as the message (`/mydata`, `mydata`, `/forget`, `forget`, or the
Chinese `我的数据` / `删除我的数据`), or for e-mail a new mail with the subject `mydata` / `forget`.
We answer with a question; the person's next message decides (YES / 确认 goes ahead, anything
else cancels; the question lapses after CONFIRM_MINUTES). The pending question lives in the
conversation's attrs (`privacy`), so a restart in between loses nothing.

- mydata: everything stored about the person (bridge/privacy/export.py) — as a document where the
  channel carries files to the person (Telegram, e-mail), as a short-lived link elsewhere (the web
  chat, WeChat, X). The document is removed from our disk once it was delivered.
- forget: a last message is sent and awaited, then the person is erased on every channel
  (their merged contacts too), and reports keep only anonymous counts.

Both are in the audit trail (`contact_export` / `contact_forget`, `by: "contact"`).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

import structlog
from tpbridge.bridge.events import MESSAGE_CREATED, MESSAGE_UPDATED, Event
from tpbridge.bridge.model import BOT, AuthorKind, Conversation, Delivery, Direction, Message
from tpbridge.bridge.privacy import export
from tpbridge.bridge.privacy.texts import YES, text

if TYPE_CHECKING:
    from tpbridge.bridge.core import Core

log = structlog.get_logger(__name__)

CONFIRM_MINUTES = 10
DELIVERY_WAIT = 60.0  # seconds the last message of an erasure may take before we erase anyway
COMMANDS = {
    "/mydata": "mydata", "mydata": "mydata", "/我的数据": "mydata", "我的数据": "mydata",
    "/forget": "forget", "forget": "forget", "/删除我的数据": "forget", "删除我的数据": "forget",
}
# Where the channel hands a file to the person, the export goes as a document; elsewhere as a link.
ATTACH_EXPORT = {"telegram", "email"}
# Trimmed from both ends of a command: whitespace (every code point str.isspace() knows, all below U+3001)
# and the quotes and punctuation people type around one. str.strip: linear, unlike a regex's `[...]+$`.
_TRIM = "".join(chr(c) for c in range(0x3001) if chr(c).isspace()) + "\"'“”「」.,!?。，！？"


COMMAND_LEN = 64  # longer than any command with its punctuation: a first line this long is a message


def _first_line(value: str) -> str:
    """The first non-blank line, trimmed, if it is short enough to be a command ("" otherwise)."""
    head = value.lstrip()[:COMMAND_LEN + 1].splitlines()
    if not head or len(head[0]) > COMMAND_LEN:
        return ""
    return head[0].strip(_TRIM).lower()


def _word(value: str) -> str:
    word = _first_line(value)
    return word.split("@", 1)[0] if word.startswith("/") else word  # Telegram groups: /mydata@SomeBot


def command_of(conv: Conversation, msg: Message) -> str | None:
    """The privacy command this customer message is, if any."""
    if msg.direction is not Direction.IN or msg.author.kind is not AuthorKind.CONTACT or msg.private:
        return None
    if (found := COMMANDS.get(_word(msg.text))) is not None:
        return found
    state = conv.attrs.get("privacy")
    subject = (conv.subject or "").strip().lower()
    if subject in ("mydata", "forget") and not (isinstance(state, dict) and state.get("subject_seen")):
        return subject
    return None


def pending(conv: Conversation) -> dict[str, Any] | None:
    state = conv.attrs.get("privacy")
    if isinstance(state, dict) and state.get("pending") and float(state.get("until", 0)) > time.time():
        return state
    return None


def claims(conv: Conversation, msg: Message) -> bool:
    """True when this message belongs to the privacy flow (automation leaves it alone)."""
    if msg.direction is not Direction.IN or msg.author.kind is not AuthorKind.CONTACT:
        return False
    return command_of(conv, msg) is not None or pending(conv) is not None


def _language(conv: Conversation, msg: Message) -> str:
    if re.search(r"[\u4e00-\u9fff]", msg.text or ""):
        return "zh"
    return (msg.language or conv.language or "en").split("-")[0]


class PrivacyCommands:
    """Watches customer messages (a cheap bus listener) and runs the flows in tasks it owns."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._deliveries: dict[int, asyncio.Future[Message]] = {}
        self.handled = 0  # flows finished: lets tests wait
        core.bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        msg = event.message
        if msg is None:
            return
        if event.kind == MESSAGE_CREATED and claims(event.conversation, msg):
            self._queue.put_nowait(event)
        elif event.kind == MESSAGE_UPDATED and msg.id in self._deliveries and msg.delivery in (
                Delivery.SENT, Delivery.FAILED):
            fut = self._deliveries.pop(msg.id)
            if not fut.done():
                fut.set_result(msg)

    async def run(self) -> None:
        """Until cancelled (run under the daemon's supervisor)."""
        async with asyncio.TaskGroup() as tasks:
            while True:
                event = await self._queue.get()
                tasks.create_task(self._guarded(event))

    async def _guarded(self, event: Event) -> None:
        try:
            await self.handle(event.conversation, event.message)  # type: ignore[arg-type]
        except Exception:
            log.exception("privacy.command_failed", inbox=event.inbox, conversation_id=event.conversation_id)
        finally:
            self.handled += 1

    async def handle(self, conv: Conversation, msg: Message) -> None:
        lang = _language(conv, msg)
        waiting = pending(conv)
        command = command_of(conv, msg)
        desk = self.core.desk
        if command is not None:
            state = {"pending": command, "until": time.time() + CONFIRM_MINUTES * 60, "language": lang,
                     "subject_seen": True}
            await desk.update(conv.id, attrs={"privacy": state})
            await desk.reply(conv.id, text(f"confirm_{command}", lang, minutes=CONFIRM_MINUTES), author=BOT,
                             auto=True)
            log.info("privacy.asked", inbox=conv.inbox, conversation_id=conv.id, command=command)
            return
        if waiting is None:
            return
        lang = str(waiting.get("language") or lang)
        await desk.update(conv.id, attrs={"privacy": {"pending": None, "until": None}})
        if _first_line(msg.text) not in YES:
            await desk.reply(conv.id, text("cancelled", lang), author=BOT, auto=True)
            log.info("privacy.cancelled", inbox=conv.inbox, conversation_id=conv.id, command=waiting["pending"])
            return
        if waiting["pending"] == "mydata":
            await self.send_export(conv, lang)
        else:
            await self.erase(conv, lang)

    async def _person(self, conv: Conversation) -> int:
        contact = await self.core.store.get_contact(conv.contact_id)
        return contact.merged_into if contact is not None and contact.merged_into else conv.contact_id

    async def send_export(self, conv: Conversation, lang: str) -> None:
        core = self.core
        contact_id = await self._person(conv)
        data = await core.store.export_contact(contact_id)
        if data is None:
            return
        await core.audit.record("contact_export", object=f"contact:{contact_id}", address=conv.inbox, by="contact",
                                conversation_id=conv.id)
        if conv.channel in ATTACH_EXPORT:
            blob = await export.build_zip(data, core.files)
            att = await core.files.put(blob, kind="file", mime="application/zip", filename=f"my-data-{contact_id}.zip")
            msg = await self.await_delivery(
                conv.id, text("export_attached", lang), attachments=[att])
            await core.files.remove(att.sha256)  # delivered (or refused for good): our copy is not kept
            log.info("privacy.exported", inbox=conv.inbox, conversation_id=conv.id, how="document",
                     delivery=msg.delivery.value if msg and msg.delivery else None)
            return
        url = await export.new_link(core.store, contact_id, core.config.http.public_url)
        minutes = int(export.LINK_TTL // 60)
        await core.desk.reply(conv.id, text("export_link", lang, url=url, minutes=minutes), author=BOT, auto=True)
        log.info("privacy.exported", inbox=conv.inbox, conversation_id=conv.id, how="link")

    async def await_delivery(self, conversation_id: int, body: str, **kw: Any) -> Message | None:
        """Queue a reply and wait until the outbox delivered it (or gave up on it), at most DELIVERY_WAIT."""
        loop = asyncio.get_running_loop()
        msg = await self.core.desk.reply(conversation_id, body, author=BOT, auto=True, **kw)
        fut: asyncio.Future[Message] = loop.create_future()
        self._deliveries[msg.id] = fut
        current = await self.core.store.get_message(msg.id)  # it may have gone out already
        if current is not None and current.delivery in (Delivery.SENT, Delivery.FAILED):
            self._deliveries.pop(msg.id, None)
            return current
        try:
            return await asyncio.wait_for(fut, DELIVERY_WAIT)
        except TimeoutError:
            self._deliveries.pop(msg.id, None)
            return None

    async def erase(self, conv: Conversation, lang: str) -> None:
        core = self.core
        contact_id = await self._person(conv)
        last = await self.await_delivery(conv.id, text("forgotten", lang))
        await core.audit.record("contact_forget", object=f"contact:{contact_id}", address=conv.inbox, by="contact",
                                conversation_id=conv.id)
        await core.desk.forget(contact_id)
        log.info("privacy.forgotten", inbox=conv.inbox, conversation_id=conv.id,
                 last_message=last.delivery.value if last and last.delivery else "not delivered in time")
