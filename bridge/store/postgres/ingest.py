"""The ingest transaction: dedupe -> identity -> conversation -> message, plus the checkpoint.

The same steps as the SQLite store's (bridge/store/sqlite/ingest.py), for a database that several
instances write at once. SQLite has one writer; here two instances may receive the same update or
two messages of one new sender at the same moment. So the transaction first takes advisory locks
on what it is about to decide — each message's dedupe key, each sender's identity, each thread
key — all at once and in sorted order (no deadlock between batches), then decides on what the
locks' previous holders committed.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from tpbridge.adapters.base import Inbound, ThreadHint
from tpbridge.bridge.model import Conversation
from tpbridge.bridge.store.postgres import rows
from tpbridge.bridge.store.postgres.base import Conn
from tpbridge.bridge.store.postgres.text import NUL, json_text, nul_free
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound
from tpbridge.bridge.store.sqlite.ingest import Target, message_extra, written_message
from tpbridge.bridge.store.sqlite.sealing import (
    codec_of,
    lookup_id,
    lookup_msg,
    lookup_thread,
    seal,
    sealed_id,
    term_list,
)


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory lock key for a name."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def batch_locks(inbox: str, batch: list[PreparedInbound]) -> list[int]:
    keys: set[int] = set()
    for prep in batch:
        rec = prep.record
        keys.add(lock_key("message", inbox, rec.external_id))
        keys.add(lock_key("identity", inbox, rec.sender.external_id))
        if rec.edit_of is not None:
            keys.add(lock_key("message", inbox, rec.edit_of))
        if rec.thread is not None and rec.thread.key is not None:
            keys.add(lock_key("thread", inbox, rec.thread.key))
    return sorted(keys)


async def take_locks(conn: Conn, keys: list[int]) -> None:
    if keys:
        await conn.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", (keys,))


async def search_terms(conn: Conn, message_id: int, conversation_id: int, text: str) -> None:
    await conn.execute(
        "INSERT INTO message_search (message_id, conversation_id, terms) VALUES (%s, %s, array_to_tsvector(%s))"
        " ON CONFLICT (message_id) DO UPDATE SET terms = excluded.terms",
        (message_id, conversation_id, term_list(conn, text)),  # keyed hashes when encrypted
    )


async def root_contact(conn: Conn, contact_id: int) -> int:
    """Follow merges: the contact a merged one now belongs to."""
    seen = set()
    while contact_id not in seen:
        seen.add(contact_id)
        merged = await rows.value(conn, "SELECT merged_into FROM contacts WHERE id = %s", (contact_id,))
        if merged is None:
            return contact_id
        contact_id = merged
    return contact_id


async def _identity(conn: Conn, inbox: str, channel: str, rec: Inbound, now: float) -> tuple[int, int]:
    sender = rec.sender
    row = await rows.one(
        conn,
        "SELECT i.id, i.contact_id, i.handle, c.name FROM identities i JOIN contacts c ON c.id = i.contact_id"
        " WHERE i.inbox = %s AND i.external_id = %s",
        (inbox, lookup_id(conn, inbox, sender.external_id)),
    )
    if row is not None:
        if sender.handle and sender.handle != row["handle"]:
            await conn.execute("UPDATE identities SET handle = %s WHERE id = %s",
                               (seal(conn, sender.handle), row["id"]))
        if sender.name and row["name"] is None:
            await conn.execute(
                "UPDATE contacts SET name = %s, anonymous = 0, updated_at = %s WHERE id = %s AND name IS NULL",
                (seal(conn, sender.name), now, row["contact_id"]),
            )
        return row["id"], row["contact_id"]
    email = sender.email
    contact_id = await rows.value(
        conn,
        "INSERT INTO contacts (name, language, anonymous, email, created_at, updated_at)"
        " VALUES (%s,%s,%s,%s,%s,%s) RETURNING id",
        (seal(conn, sender.name), sender.language, 0 if (sender.name or email) else 1, seal(conn, email), now, now),
    )
    identity_id = await rows.value(
        conn,
        "INSERT INTO identities (contact_id, inbox, channel, external_id, external_id_sealed, handle, created_at)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (contact_id, inbox, channel, lookup_id(conn, inbox, sender.external_id),
         seal(conn, sender.external_id) if codec_of(conn) else None, seal(conn, sender.handle), now),
    )
    return identity_id, contact_id


async def _new_conversation(
    conn: Conn, inbox: str, channel: str, contact_id: int, identity_id: int, rec: Inbound, now: float, *,
    thread_key: str | None = None, linked: int | None = None,
) -> Target:
    conv_id = await rows.value(
        conn,
        "INSERT INTO conversations (inbox, channel, contact_id, identity_id, status, subject, thread_key,"
        " thread_key_sealed, linked_conversation_id, language, created_at, updated_at, last_activity_at)"
        " VALUES (%s,%s,%s,%s, 'open', %s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
        (inbox, channel, contact_id, identity_id, seal(conn, rec.subject),
         lookup_thread(conn, inbox, thread_key) if thread_key is not None else None, sealed_id(conn, thread_key),
         linked, rec.sender.language, now, now, now),
    )
    return Target(conv_id, created=True)


async def _join(conn: Conn, conversation_id: int, now: float, status: str | None = None) -> Target:
    if status is None:
        status = await rows.value(conn, "SELECT status FROM conversations WHERE id = %s", (conversation_id,))
    if status == "resolved":
        await conn.execute(
            "UPDATE conversations SET status = 'open', resolved_at = NULL, reopened_at = %s WHERE id = %s",
            (now, conversation_id),
        )
        return Target(conversation_id, reopened=True)
    if status == "snoozed":
        # A customer writing again ends the snooze, as in Chatwoot.
        await conn.execute(
            "UPDATE conversations SET status = 'open', snoozed_until = NULL WHERE id = %s", (conversation_id,)
        )
    return Target(conversation_id)


async def _takes_part(conn: Conn, conversation_id: int, inbox: str, contact_id: int) -> bool:
    owner = await rows.value(
        conn, "SELECT contact_id FROM conversations WHERE id = %s AND inbox = %s", (conversation_id, inbox)
    )
    if owner is None:
        return False
    return await root_contact(conn, owner) == await root_contact(conn, contact_id)


async def _pick(
    conn: Conn, inbox: str, channel: str, rec: Inbound, identity_id: int, contact_id: int, now: float,
) -> Target:
    hint = rec.thread or ThreadHint()
    if hint.key is not None:
        found = await rows.value(
            conn,
            "SELECT id FROM conversations WHERE inbox = %s AND thread_key = %s AND status != 'resolved'"
            " ORDER BY id + 0 DESC LIMIT 1",  # + 0: through the key's index, never a walk of the primary key
            (inbox, lookup_thread(conn, inbox, hint.key)),
        )
        if found is not None:
            return await _join(conn, found, now)
        return await _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now, thread_key=hint.key)
    referenced: int | None = None
    if hint.references:
        referenced = await rows.value(
            conn,
            "SELECT conversation_id FROM messages WHERE inbox = %s AND external_id = ANY(%s)"
            # + 0: as above — a reply to an old thread must never walk every newer message to find it
            " AND external_id IS NOT NULL ORDER BY id + 0 DESC LIMIT 1",
            (inbox, [lookup_msg(conn, inbox, r) for r in hint.references]),
        )
    if referenced is None and hint.token is not None:
        referenced = await rows.value(
            conn, "SELECT id FROM conversations WHERE id = %s AND inbox = %s", (hint.token, inbox)
        )
    if referenced is not None:
        if await _takes_part(conn, referenced, inbox, contact_id):
            return await _join(conn, referenced, now)
        # Someone else's thread (a forward, a newsletter reply): never append to it.
        return await _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now, linked=referenced)
    if hint.per_thread:
        return await _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now)
    row = await rows.one(
        conn,
        "SELECT id, status FROM conversations WHERE identity_id = %s AND status != 'resolved'"
        " ORDER BY id + 0 DESC LIMIT 1",  # + 0: never a walk of the primary key (ingest_batch.py `_OPEN`)
        (identity_id,),
    )
    if row is not None:
        return await _join(conn, row["id"], now, row["status"])
    return await _new_conversation(conn, inbox, channel, contact_id, identity_id, rec, now)


async def _edit(conn: Conn, inbox: str, rec: Inbound, now: float) -> IngestedItem | None:
    if await rows.one(conn, "SELECT 1 FROM message_edits WHERE inbox = %s AND external_id = %s",
                      (inbox, lookup_msg(conn, inbox, rec.external_id))):
        return IngestedItem(None)
    row = await rows.one(
        conn, "SELECT id, text, conversation_id FROM messages WHERE inbox = %s AND external_id = %s",
        (inbox, lookup_msg(conn, inbox, rec.edit_of)),
    )
    if row is None:
        return None  # the original never arrived: store the edit as a message of its own
    await conn.execute(
        "INSERT INTO message_edits (message_id, inbox, external_id, previous_text, edited_at)"
        " VALUES (%s,%s,%s,%s,%s)",
        (row["id"], inbox, lookup_msg(conn, inbox, rec.external_id), seal(conn, row["text"]), now),
    )
    await conn.execute("UPDATE messages SET text = %s, edited_at = %s WHERE id = %s",
                       (seal(conn, rec.text), now, row["id"]))
    await search_terms(conn, row["id"], row["conversation_id"], rec.text)
    msg = await rows.load_message(conn, row["id"])
    conv = await rows.load_conversation(conn, row["conversation_id"])
    return IngestedItem(row["id"], message=msg, conversation=conv, edited=True)


def without_nul(prep: PreparedInbound) -> PreparedInbound:
    """The record as PostgreSQL will hold it (U+FFFD for U+0000, text.py): what ingest returns, plans with and
    keys its maps by is then what was stored and what a look-up finds."""
    rec, sender, thread = prep.record, prep.record.sender, prep.record.thread or ThreadHint()
    if NUL not in "".join((
            rec.text, rec.html or "", rec.external_id, rec.subject or "", rec.reply_to or "", rec.edit_of or "",
            sender.external_id, sender.name or "", sender.handle or "", sender.email or "", sender.language or "",
            thread.key or "", *thread.references, prep.html or "")):
        return prep

    def fix(value: str | None) -> str | None:
        return None if value is None else nul_free(value)

    sender = replace(sender, external_id=nul_free(sender.external_id), name=fix(sender.name),
                     handle=fix(sender.handle), email=fix(sender.email), language=fix(sender.language))
    hint = None if rec.thread is None else replace(rec.thread, key=fix(thread.key),
                                                   references=tuple(map(nul_free, thread.references)))
    rec = replace(rec, text=nul_free(rec.text), html=fix(rec.html), external_id=nul_free(rec.external_id),
                  sender=sender, subject=fix(rec.subject), reply_to=fix(rec.reply_to), edit_of=fix(rec.edit_of),
                  thread=hint)
    return replace(prep, record=rec, html=fix(prep.html))


async def ingest_tx(
    conn: Conn, inbox: str, channel: str, batch: list[PreparedInbound], checkpoint: str | None, now: float,
) -> list[IngestedItem]:
    """Everything of one batch; the caller holds the transaction (and takes the locks first)."""
    out: list[IngestedItem] = []
    for prep in map(without_nul, batch):
        rec = prep.record
        if rec.edit_of is not None:
            edited = await _edit(conn, inbox, rec, now)
            if edited is not None:
                out.append(edited)
                continue
        if await rows.one(conn, "SELECT 1 FROM messages WHERE inbox = %s AND external_id = %s",
                          (inbox, lookup_msg(conn, inbox, rec.external_id))):
            out.append(IngestedItem(None))
            continue
        identity_id, contact_id = await _identity(conn, inbox, channel, rec, now)
        target = await _pick(conn, inbox, channel, rec, identity_id, contact_id, now)
        extra_json = message_extra(rec)
        message_id: int = await rows.value(
            conn,
            "INSERT INTO messages (conversation_id, inbox, direction, author_kind, author_id, author_name, text,"
            " html, private, external_id, created_at, sent_at, reply_to, extra, external_id_sealed)"
            " VALUES (%s,%s, 'in', %s,%s,%s,%s,%s, 0, %s,%s,%s,%s,%s,%s) RETURNING id",
            (target.conversation_id, inbox, "system" if rec.system else "contact",
             None if rec.system else contact_id, None if rec.system else seal(conn, rec.sender.name),
             seal(conn, rec.text), seal(conn, prep.html), lookup_msg(conn, inbox, rec.external_id), now,
             rec.sent_at.timestamp(), seal(conn, rec.reply_to), seal(conn, extra_json),
             sealed_id(conn, rec.external_id)),
        )
        await rows.insert_parts(conn, message_id, prep.attachments)
        await search_terms(conn, message_id, target.conversation_id, rec.text)
        preview = rec.text[:200]
        if not preview and prep.attachments:
            preview = prep.attachments[0].filename or "attachment"
        attrs_sql, attrs_args = "", ()  # type: tuple[str, tuple[str, ...]]
        facts = rec.conversation_facts()
        if facts:
            attrs_sql = ", attrs = tpb_json_patch(attrs::jsonb, %s::jsonb)::text"
            attrs_args = (json_text(facts),)
        await conn.execute(
            "UPDATE conversations SET last_message_text = %s, last_message_at = %s, last_activity_at = %s,"
            f" updated_at = %s, unread = unread + %s{attrs_sql} WHERE id = %s",
            (seal(conn, preview), now, now, now, 0 if rec.system else 1, *attrs_args, target.conversation_id),
        )
        if prep.attachments:
            msg = await rows.load_message(conn, message_id)
        else:
            msg = written_message(message_id, target.conversation_id, inbox, contact_id, prep, now, extra_json)
        conv: Conversation | None = await rows.load_conversation(conn, target.conversation_id)
        out.append(IngestedItem(message_id, message=msg, conversation=conv,
                                created=target.created, reopened=target.reopened))
    if checkpoint is not None:
        await save_checkpoint(conn, inbox, checkpoint, now)
    return out


async def save_checkpoint(conn: Conn, inbox: str, value: str, now: float) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (inbox, value, updated_at) VALUES (%s,%s,%s)"
        " ON CONFLICT (inbox) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (inbox, value, now),
    )
