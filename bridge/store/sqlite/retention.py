"""Erasing conversations that are past `[privacy] retain_days`, and the anonymous counts every erasure leaves.

A conversation erased for retention goes as a person's erasure does (messages, attachments,
search terms, edits, outbox rows, automation rows), and a contact left with no conversation
goes with its identities. Reports keep counts: before any erasure, the report columns are
copied to the erased_* tables (m0015), without names, texts or contact ids.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tpbridge.bridge.store.protocol import Forgotten
from tpbridge.bridge.store.sqlite import people, rows, search_index
from tpbridge.bridge.store.sqlite.base import SqliteBase

_CONV_COLUMNS = "id, inbox, channel, category, language, team, status, created_at, resolved_at, handoff_at"


def keep_counts(c: sqlite3.Connection, conversation_ids: list[int], contact_ids: list[int]) -> None:
    """A forget hook that runs first: what reports need, copied before the rows go."""
    for conv_id in conversation_ids:
        c.execute(f"INSERT OR IGNORE INTO erased_conversations SELECT {_CONV_COLUMNS} FROM conversations"
                  " WHERE id = ? AND json_extract(attrs, '$.automation.stage') IS NOT 'survey'", (conv_id,))
        c.execute("INSERT INTO erased_cycles SELECT * FROM automation_cycles WHERE conversation_id = ?", (conv_id,))
        c.execute("INSERT INTO erased_bot SELECT * FROM automation_bot WHERE conversation_id = ?", (conv_id,))
        c.execute("INSERT INTO erased_surveys SELECT * FROM automation_surveys WHERE conversation_id = ?",
                  (conv_id,))
    c.execute("UPDATE erased_surveys SET contact_id = NULL, text = NULL"
              " WHERE contact_id IS NOT NULL OR text IS NOT NULL")


if keep_counts not in people.FORGET_HOOKS:
    people.FORGET_HOOKS.insert(0, keep_counts)


def erase_conversations(c: sqlite3.Connection, conversation_ids: Sequence[int]) -> Forgotten:
    """Delete these conversations and all that hangs on them; returns them as they were and the attachment
    hashes no longer used."""
    hashes: set[str] = set()
    contacts: set[int] = set()
    gone = []
    for conv_id in conversation_ids:
        row = c.execute("SELECT * FROM conversations WHERE id = ?", (conv_id,)).fetchone()
        if row is None:
            continue
        gone.append(rows.conversation(row))
        contacts.add(row["contact_id"])
        for (mid,) in c.execute("SELECT id FROM messages WHERE conversation_id = ?", (conv_id,)).fetchall():
            hashes.update(r[0] for r in c.execute("SELECT sha256 FROM attachments WHERE message_id = ?", (mid,)))
            for table in ("attachments", "message_edits", "outbox"):
                c.execute(f"DELETE FROM {table} WHERE message_id = ?", (mid,))
        search_index.forget_conversation(c, conv_id)
        c.execute("DELETE FROM messages WHERE conversation_id = ?", (conv_id,))
        c.execute("UPDATE conversations SET linked_conversation_id = NULL WHERE linked_conversation_id = ?",
                  (conv_id,))
    ids = [conv.id for conv in gone]
    people.forget_hooks(c, ids, [])
    search_index.after_erasure(c)
    for conv_id in ids:
        c.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))
    for contact_id in contacts:
        left = c.execute("SELECT 1 FROM conversations WHERE contact_id = ? UNION ALL"
                         " SELECT 1 FROM contacts WHERE merged_into = ? LIMIT 1", (contact_id, contact_id)).fetchone()
        if left is None:
            c.execute("DELETE FROM identities WHERE contact_id = ?", (contact_id,))
            c.execute("DELETE FROM contacts WHERE id = ?", (contact_id,))
    return Forgotten(gone, sorted(h for h in hashes
                                  if c.execute("SELECT 1 FROM attachments WHERE sha256 = ?", (h,)).fetchone() is None))


class RetentionStore(SqliteBase):
    async def expired_conversations(self, resolved_before: float, limit: int) -> list[int]:
        """Resolved conversations whose resolution (and last activity) is older than the cut."""
        return await self._read(lambda c: [r[0] for r in c.execute(
            "SELECT id FROM conversations WHERE status = 'resolved' AND resolved_at < ? AND last_activity_at < ?"
            " ORDER BY id LIMIT ?", (resolved_before, resolved_before, limit))])

    async def erase_conversations(self, conversation_ids: Sequence[int]) -> Forgotten:
        ids = list(conversation_ids)
        return await self._write(lambda c: erase_conversations(c, ids))
