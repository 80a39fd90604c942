"""The ingest transaction: dedupe -> identity -> conversation -> message, plus the checkpoint.

Runs inside the writer thread, so everything here commits together or not at all. The planning
step (which identity, which conversation) is `settle_identity` + `settle_conversation` on typed
rows; the burst pass (ingest_batch.py) calls the same two with rows it looked up for a whole
group at once.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from tpbridge.adapters.base import Inbound, Sender, ThreadHint
from tpbridge.bridge import fastjson
from tpbridge.bridge.model import Author, AuthorKind, Conversation, Direction, Message
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound
from tpbridge.bridge.store.sqlite import rows, search_index
from tpbridge.bridge.store.sqlite.sealing import (
    codec_of,
    lookup_id,
    lookup_msg,
    lookup_thread,
    seal,
    sealed_id,
)


@dataclass(slots=True)
class Target:
    """Where a message goes, and whether its conversation was created or reopened for it (both stores)."""

    conversation_id: int
    created: bool = False
    reopened: bool = False


@dataclass(slots=True)
class KnownIdentity:
    """A sender's identity row as planning needs it (kept up to date as a burst goes on)."""

    id: int
    contact_id: int
    handle: str | None
    name: str | None  # the contact's: a name the channel gives later fills it once


@dataclass(slots=True)
class OpenConversation:
    """The identity's newest conversation not resolved: where a plain message goes."""

    id: int
    status: str


def root_contact(conn: sqlite3.Connection, contact_id: int) -> int:
    """Follow merges: the contact a merged one now belongs to."""
    seen = set()
    while contact_id not in seen:
        seen.add(contact_id)
        row = conn.execute("SELECT merged_into FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        if row is None or row[0] is None:
            return contact_id
        contact_id = row[0]
    return contact_id


def find_identity(conn: sqlite3.Connection, inbox: str, external_id: str) -> KnownIdentity | None:
    row = conn.execute(
        "SELECT i.id, i.contact_id, i.handle, c.name FROM identities i JOIN contacts c ON c.id = i.contact_id"
        " WHERE i.inbox = ? AND i.external_id = ?",
        (inbox, lookup_id(conn, inbox, external_id)),
    ).fetchone()
    return None if row is None else KnownIdentity(row[0], row[1], row[2], row[3])


def settle_identity(
    conn: sqlite3.Connection, inbox: str, channel: str, sender: Sender, known: KnownIdentity | None, now: float,
) -> KnownIdentity:
    """The sender's identity: `known` brought up to date (a new handle, a first name), or a new contact
    with its identity when there is none."""
    if known is not None:
        if sender.handle and sender.handle != known.handle:
            conn.execute("UPDATE identities SET handle = ? WHERE id = ?", (seal(conn, sender.handle), known.id))
            known.handle = sender.handle  # sealed or not, it differs from the next record's only if that changed
        if sender.name and known.name is None:
            conn.execute(
                "UPDATE contacts SET name = ?, anonymous = 0, updated_at = ? WHERE id = ? AND name IS NULL",
                (seal(conn, sender.name), now, known.contact_id),
            )
            known.name = sender.name
        return known
    identity_id, contact_id = _new_identity(conn, inbox, channel, sender, now)
    return KnownIdentity(identity_id, contact_id, sender.handle, sender.name)


def _new_identity(conn: sqlite3.Connection, inbox: str, channel: str, sender: Sender, now: float) -> tuple[int, int]:
    email = sender.email
    cur = conn.execute(
        "INSERT INTO contacts (name, language, anonymous, email, created_at, updated_at) VALUES (?,?,?,?,?,?)",
        (seal(conn, sender.name), sender.language, 0 if (sender.name or email) else 1, seal(conn, email), now, now),
    )
    contact_id = cur.lastrowid
    cur = conn.execute(
        "INSERT INTO identities (contact_id, inbox, channel, external_id, external_id_sealed, handle, created_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (contact_id, inbox, channel, lookup_id(conn, inbox, sender.external_id),
         seal(conn, sender.external_id) if codec_of(conn) else None, seal(conn, sender.handle), now),
    )
    return cur.lastrowid, contact_id  # type: ignore[return-value]


def _new_conversation(
    conn: sqlite3.Connection, inbox: str, channel: str, contact_id: int, identity_id: int, rec: Inbound,
    now: float, *, thread_key: str | None = None, linked: int | None = None,
) -> Target:
    lookup = lookup_thread(conn, inbox, thread_key) if thread_key is not None else None
    cur = conn.execute(
        "INSERT INTO conversations (inbox, channel, contact_id, identity_id, status, subject, thread_key,"
        " thread_key_sealed, linked_conversation_id, language, created_at, updated_at, last_activity_at)"
        " VALUES (?,?,?,?, 'open', ?,?,?,?,?,?,?,?)",
        (inbox, channel, contact_id, identity_id, seal(conn, rec.subject), lookup, sealed_id(conn, thread_key),
         linked, rec.sender.language, now, now, now),
    )
    return Target(cur.lastrowid, created=True)  # type: ignore[arg-type]


def _join(conn: sqlite3.Connection, conversation_id: int, now: float, status: str | None = None) -> Target:
    if status is None:
        status = conn.execute("SELECT status FROM conversations WHERE id = ?", (conversation_id,)).fetchone()[0]
    if status == "resolved":
        conn.execute(
            "UPDATE conversations SET status = 'open', resolved_at = NULL, reopened_at = ? WHERE id = ?",
            (now, conversation_id),
        )
        return Target(conversation_id, reopened=True)
    if status == "snoozed":
        # A customer writing again ends the snooze, as in Chatwoot.
        conn.execute(
            "UPDATE conversations SET status = 'open', snoozed_until = NULL WHERE id = ?", (conversation_id,)
        )
    return Target(conversation_id)


def _takes_part(conn: sqlite3.Connection, conversation_id: int, inbox: str, contact_id: int) -> bool:
    row = conn.execute(
        "SELECT contact_id FROM conversations WHERE id = ? AND inbox = ?", (conversation_id, inbox)
    ).fetchone()
    if row is None:
        return False
    return root_contact(conn, row[0]) == root_contact(conn, contact_id)


def _pick(
    conn: sqlite3.Connection, inbox: str, channel: str, rec: Inbound, identity_id: int, contact_id: int,
    now: float,
) -> Target:
    hint = rec.thread or ThreadHint()
    if hint.key is not None:
        row = conn.execute(
            "SELECT id FROM conversations WHERE inbox = ? AND thread_key = ? AND status != 'resolved'"
            " ORDER BY id DESC LIMIT 1",
            (inbox, lookup_thread(conn, inbox, hint.key)),
        ).fetchone()
        if row is not None:
            return _join(conn, row[0], now)
        return _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now, thread_key=hint.key)
    referenced: int | None = None
    if hint.references:
        marks = ",".join("?" * len(hint.references))
        row = conn.execute(
            f"SELECT conversation_id FROM messages WHERE inbox = ? AND external_id IN ({marks})"
            " ORDER BY id DESC LIMIT 1",
            (inbox, *(lookup_msg(conn, inbox, r) for r in hint.references)),
        ).fetchone()
        referenced = row[0] if row else None
    if referenced is None and hint.token is not None:
        row = conn.execute(
            "SELECT id FROM conversations WHERE id = ? AND inbox = ?", (hint.token, inbox)
        ).fetchone()
        referenced = row[0] if row else None
    if referenced is not None:
        if _takes_part(conn, referenced, inbox, contact_id):
            return _join(conn, referenced, now)
        # Someone else's thread (a forward, a newsletter reply): never append to it.
        return _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now, linked=referenced)
    if hint.per_thread:
        return _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now)
    return settle_conversation(conn, inbox, channel, rec, identity_id, contact_id, now,
                               find_open_conversation(conn, identity_id))


def find_open_conversation(conn: sqlite3.Connection, identity_id: int) -> OpenConversation | None:
    row = conn.execute(
        "SELECT id, status FROM conversations WHERE identity_id = ? AND status != 'resolved'"
        " ORDER BY id DESC LIMIT 1",
        (identity_id,),
    ).fetchone()
    return None if row is None else OpenConversation(row[0], row[1])


def settle_conversation(
    conn: sqlite3.Connection, inbox: str, channel: str, rec: Inbound, identity_id: int, contact_id: int,
    now: float, found: OpenConversation | None,
) -> Target:
    """A message without a thread hint joins the identity's open conversation (ending a snooze) or
    starts a new one."""
    if found is not None:
        return _join(conn, found.id, now, found.status)
    return _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now)


def _edit(conn: sqlite3.Connection, inbox: str, rec: Inbound, now: float) -> IngestedItem | None:
    if conn.execute(
        "SELECT 1 FROM message_edits WHERE inbox = ? AND external_id = ?",
        (inbox, lookup_msg(conn, inbox, rec.external_id))
    ).fetchone():
        return IngestedItem(None)
    row = conn.execute(
        "SELECT id, text, conversation_id FROM messages WHERE inbox = ? AND external_id = ?",
        (inbox, lookup_msg(conn, inbox, rec.edit_of)),
    ).fetchone()
    if row is None:
        return None  # the original never arrived: store the edit as a message of its own
    conn.execute(
        "INSERT INTO message_edits (message_id, inbox, external_id, previous_text, edited_at) VALUES (?,?,?,?,?)",
        (row["id"], inbox, lookup_msg(conn, inbox, rec.external_id), seal(conn, row["text"]), now),
    )
    conn.execute("UPDATE messages SET text = ?, edited_at = ? WHERE id = ?", (seal(conn, rec.text), now, row["id"]))
    search_index.reindex(conn, row["conversation_id"], row["id"], row["text"], rec.text)
    msg = rows.load_message(conn, row["id"])
    conv = rows.load_conversation(conn, row["conversation_id"])
    return IngestedItem(row["id"], message=msg, conversation=conv, edited=True)


def message_extra(rec: Inbound) -> str:
    """A message's `extra` as stored: the channel's mapping plus the never-answer-automatically flag."""
    if not rec.extra and not rec.no_auto_reply:
        return "{}"  # a chat message: no encoder run
    extra = dict(rec.extra)
    if rec.no_auto_reply:
        extra["no_auto_reply"] = True
    return json.dumps(extra, default=str)


def written_message(
    message_id: int, conversation_id: int, inbox: str, contact_id: int, prep: PreparedInbound, now: float,
    extra_json: str,
) -> Message:
    """The message just inserted, built from its values instead of read back (every chat message's path)."""
    rec = prep.record
    return Message(
        id=message_id, conversation_id=conversation_id, inbox=inbox, direction=Direction.IN,
        author=Author(AuthorKind.SYSTEM, None, None) if rec.system
        else Author(AuthorKind.CONTACT, contact_id, rec.sender.name),
        text=rec.text, html=prep.html, private=False, external_id=rec.external_id, delivery=None, error=None,
        created_at=rows.ts(now), reply_to=rec.reply_to,  # type: ignore[arg-type]
        extra=fastjson.loads(extra_json) if extra_json != "{}" else {},
    )


def ingest_tx(
    conn: sqlite3.Connection, inbox: str, channel: str, batch: list[PreparedInbound], checkpoint: str | None,
    now: float,
) -> list[IngestedItem]:
    out: list[IngestedItem] = []
    for prep in batch:
        rec = prep.record
        if rec.edit_of is not None:
            edited = _edit(conn, inbox, rec, now)
            if edited is not None:
                out.append(edited)
                continue
        if conn.execute(
            "SELECT 1 FROM messages WHERE inbox = ? AND external_id = ?",
            (inbox, lookup_msg(conn, inbox, rec.external_id))
        ).fetchone():
            out.append(IngestedItem(None))
            continue
        ident = settle_identity(conn, inbox, channel, rec.sender,
                                find_identity(conn, inbox, rec.sender.external_id), now)
        identity_id, contact_id = ident.id, ident.contact_id
        target = _pick(conn, inbox, channel, rec, identity_id, contact_id, now)
        sent_at = rec.sent_at.timestamp()
        extra_json = message_extra(rec)
        cur = conn.execute(
            "INSERT INTO messages (conversation_id, inbox, direction, author_kind, author_id, author_name, text,"
            " html, private, external_id, created_at, sent_at, reply_to, extra, external_id_sealed)"
            " VALUES (?,?, 'in', ?,?,?,?,?, 0, ?,?,?,?,?,?)",
            (target.conversation_id, inbox, "system" if rec.system else "contact",
             None if rec.system else contact_id, None if rec.system else seal(conn, rec.sender.name),
             seal(conn, rec.text), seal(conn, prep.html), lookup_msg(conn, inbox, rec.external_id), now, sent_at,
             seal(conn, rec.reply_to), seal(conn, extra_json), sealed_id(conn, rec.external_id)),
        )
        message_id: int = cur.lastrowid  # type: ignore[assignment]
        rows.insert_parts(conn, message_id, prep.attachments)
        preview = rec.text[:200]
        if not preview and prep.attachments:
            preview = prep.attachments[0].filename or "attachment"
        attrs_sql = ""
        attrs_args: tuple[str, ...] = ()
        facts = rec.conversation_facts()
        if facts:
            attrs_sql = ", attrs = json_patch(attrs, ?)"
            attrs_args = (json.dumps(facts, default=str),)
        conn.execute(
            "UPDATE conversations SET last_message_text = ?, last_message_at = ?, last_activity_at = ?,"
            f" updated_at = ?, unread = unread + ?{attrs_sql} WHERE id = ?",
            (seal(conn, preview), now, now, now, 0 if rec.system else 1, *attrs_args, target.conversation_id),
        )
        if prep.attachments:
            msg: Message = rows.load_message(conn, message_id)
        else:
            msg = written_message(message_id, target.conversation_id, inbox, contact_id, prep, now, extra_json)
        conv: Conversation | None = rows.load_conversation(conn, target.conversation_id)
        out.append(IngestedItem(message_id, message=msg, conversation=conv,
                                created=target.created, reopened=target.reopened))
    if checkpoint is not None:
        save_checkpoint(conn, inbox, checkpoint, now)
    return out


def save_checkpoint(conn: sqlite3.Connection, inbox: str, value: str, now: float) -> None:
    conn.execute(
        "INSERT INTO checkpoints (inbox, value, updated_at) VALUES (?,?,?)"
        " ON CONFLICT(inbox) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (inbox, value, now),
    )
