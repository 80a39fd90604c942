"""Verified linking: a person proves two identities are theirs with a one-time code.

`/link` on one channel (Telegram, WeChat, the web chat's menu, any channel with text) answers with a
short code valid for 10 minutes; sending that code (or `/link CODE`) from the other channel merges
the two contacts, marked *verified* (an agent's manual merge stays *unverified*). Wrong codes are
counted per identity and refused for an hour after a few; `/unlink` from either side undoes it.
The core reads the text, so every channel gets this without a line in its adapter.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from pathlib import Path

import structlog
from tpbridge.bridge.core import Core
from tpbridge.bridge.helpcentre import load_strings, strings_for
from tpbridge.bridge.model import BOT, AuthorKind, Conversation, Direction, Message

log = structlog.get_logger(__name__)

TTL = 600.0  # a code lives 10 minutes
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on a phone
MAX_FAILURES = 5
FAILURE_WINDOW = 3600.0
_LINK = re.compile(r"^\s*/link(?:@\w+)?\s*$", re.I)
_UNLINK = re.compile(r"^\s*/unlink(?:@\w+)?\s*$", re.I)
_WITH_CODE = re.compile(r"^\s*/link(?:@\w+)?\s+([A-Za-z0-9]{4})-?([A-Za-z0-9]{4})\s*$", re.I)
_BARE_CODE = re.compile(r"^\s*([A-HJ-NP-Z2-9]{4})-?([A-HJ-NP-Z2-9]{4})\s*$", re.I)

# English, for a config without config/help/help.toml; every shipped language is there (link_*).
TEXTS = {
    "code": "Your link code is {code}. Send it from your other channel (e.g. Telegram, WeChat or the web chat) "
            "within 10 minutes to link them. Never share it with anyone else.",
    "linked": "Done: your channels are linked, and our team sees one conversation history.",
    "wrong": "That code is wrong or has expired. Send /link on your other channel for a new one.",
    "throttled": "Too many wrong codes. Please try again in an hour.",
    "same": "These channels are already linked.",
    "unlinked": "Unlinked: this channel is no longer linked to your others.",
    "not_linked": "This channel is not linked to another one.",
}


@functools.cache
def _strings(help_dir: Path) -> dict[str, dict[str, str]]:
    return load_strings(help_dir)  # read once: it does not change while running


def _say(core: Core, key: str, language: str | None, **values: str) -> str:
    strings = strings_for(_strings(core.config.config_dir / "help"), language)
    return (strings.get(f"link_{key}") or TEXTS[key]).format(**values)


def new_code() -> str:
    """Eight characters with at least one digit, so a word ("PASSWORD") is never taken for a code."""
    while True:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
        if any(ch.isdigit() for ch in raw):
            return f"{raw[:4]}-{raw[4:]}"


def is_request(text: str) -> bool:
    """`/link`, `/unlink`, `/link CODE`, or a bare word shaped like a code (with a digit: not "password")."""
    if _LINK.match(text) or _UNLINK.match(text) or _WITH_CODE.match(text):
        return True
    match = _BARE_CODE.match(text)
    return match is not None and any(ch.isdigit() for ch in match.group(0))


def claims(msg: Message) -> bool:
    """True when the message is for the linking flow, so the FAQ bot leaves it alone."""
    return msg.direction is Direction.IN and msg.author.kind is AuthorKind.CONTACT and is_request(msg.text or "")


async def _root(core: Core, contact_id: int) -> int:
    contact = await core.store.get_contact(contact_id)
    return contact.merged_into if contact is not None and contact.merged_into is not None else contact_id


async def on_message(core: Core, conv: Conversation, msg: Message) -> bool:
    """Act on `/link`, `/unlink` or a code; False when the message is none of them."""
    text = msg.text or ""
    if _LINK.match(text):
        await issue(core, conv)
        return True
    if _UNLINK.match(text):
        await unlink(core, conv)
        return True
    with_command = _WITH_CODE.match(text)
    match = with_command or _BARE_CODE.match(text)
    if match is None or not is_request(text):
        return False
    # A bare code-shaped word is a code only if one is pending with it; with /link it always counts.
    await redeem(core, conv, (match.group(1) + "-" + match.group(2)).upper(), counted=with_command is not None)
    return True


async def issue(core: Core, conv: Conversation) -> str:
    code = new_code()
    await core.store.kv_set(f"link:code:{code}", json.dumps(
        {"contact_id": conv.contact_id, "conversation_id": conv.id, "inbox": conv.inbox}), TTL)
    log.info("link.code_issued", inbox=conv.inbox, conversation_id=conv.id)
    await core.desk.reply(conv.id, _say(core, "code", conv.language, code=code), author=BOT, auto=True)
    return code


async def redeem(core: Core, conv: Conversation, code: str, *, counted: bool = True) -> bool:
    store = core.store
    fail_key = f"link:failures:{conv.identity_id}"
    failures = int(await store.kv_get(fail_key) or 0)
    if failures >= MAX_FAILURES:
        log.warning("link.throttled", inbox=conv.inbox, conversation_id=conv.id)
        await core.desk.reply(conv.id, _say(core, "throttled", conv.language), author=BOT, auto=True)
        return False
    raw = await store.kv_get(f"link:code:{code}")
    if raw is None:
        if not counted:
            return False  # a bare word that happens to look like a code: not an attempt
        await store.kv_set(fail_key, str(failures + 1), FAILURE_WINDOW)
        log.warning("link.wrong_code", inbox=conv.inbox, conversation_id=conv.id, failures=failures + 1)
        await core.desk.reply(conv.id, _say(core, "wrong", conv.language), author=BOT, auto=True)
        return False
    await store.kv_set(f"link:code:{code}", "", 0.001)  # one use only
    issued = json.loads(raw)
    target, source = await _root(core, issued["contact_id"]), await _root(core, conv.contact_id)
    if target == source:
        await core.desk.reply(conv.id, _say(core, "same", conv.language), author=BOT, auto=True)
        return True
    await core.desk.merge(target, source, verified=True)
    note = f"Linked by the person with a one-time code (verified): contact {source} joined contact {target}."
    for conv_id in {conv.id, int(issued["conversation_id"])}:
        await core.desk.note(conv_id, note)
    log.info("link.verified", inbox=conv.inbox, conversation_id=conv.id, target=target, source=source)
    await core.desk.reply(conv.id, _say(core, "linked", conv.language), author=BOT, auto=True)
    return True


async def unlink(core: Core, conv: Conversation) -> bool:
    """Either side undoes the link: the merged side leaves, or (from the other side) every verified link goes."""
    store = core.store
    contact = await store.get_contact(conv.contact_id)
    if contact is None:
        return False
    undone: list[int] = []
    if contact.merged_into is not None:
        undone.append(contact.id)
    else:
        family = await store.get_contact(contact.id)
        linked = {i.contact_id for i in (family.identities if family else ()) if i.link == "verified"}
        undone.extend(sorted(linked))
    for contact_id in undone:
        await core.desk.unmerge(contact_id)
    key = "unlinked" if undone else "not_linked"
    if undone:
        await core.desk.note(conv.id, f"Unlinked by the person: contacts {undone} separated again.")
        log.info("link.unlinked", inbox=conv.inbox, conversation_id=conv.id, contacts=undone)
    await core.desk.reply(conv.id, _say(core, key, conv.language), author=BOT, auto=True)
    return bool(undone)
