"""Erasing conversations past `[privacy] retain_days`, and the anonymous counts every erasure leaves
(the SQLite store's retention.py, for PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence

from tpbridge.bridge.store.postgres import notify, people, rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.protocol import Forgotten

_CONV_COLUMNS = "id, inbox, channel, category, language, team, status, created_at, resolved_at, handoff_at"


async def keep_counts(c: Conn, conversation_ids: list[int], contact_ids: list[int]) -> None:
    """A forget hook that runs first: what reports need, copied before the rows go."""
    await c.execute(f"INSERT INTO erased_conversations SELECT {_CONV_COLUMNS} FROM conversations"
                    " WHERE id = ANY(%s) AND (attrs::jsonb #>> '{automation,stage}') IS DISTINCT FROM 'survey'"
                    " ON CONFLICT (id) DO NOTHING", (conversation_ids,))
    for table in ("cycles", "bot", "surveys"):
        await c.execute(f"INSERT INTO erased_{table} SELECT * FROM automation_{table} WHERE conversation_id = ANY(%s)",
                        (conversation_ids,))
    await c.execute("UPDATE erased_surveys SET contact_id = NULL, text = NULL"
                    " WHERE contact_id IS NOT NULL OR text IS NOT NULL")


if keep_counts not in people.FORGET_HOOKS:
    people.FORGET_HOOKS.insert(0, keep_counts)


async def erase_conversations(c: Conn, conversation_ids: Sequence[int], instance: str) -> Forgotten:
    """Delete these conversations and all that hangs on them; returns them as they were and the attachment
    hashes no longer used. Every instance is told (their agents' screens drop them)."""
    gone = [rows.conversation(r) for r in await rows.all_rows(  # type: ignore[arg-type]
        c, "SELECT * FROM conversations WHERE id = ANY(%s) ORDER BY id", (list(conversation_ids),))]
    convs = [conv.id for conv in gone]
    contacts = {conv.contact_id for conv in gone}
    hashes = await people.erase_messages(c, convs)
    for hook in people.FORGET_HOOKS:
        await hook(c, convs, [])
    await c.execute("DELETE FROM conversations WHERE id = ANY(%s)", (convs,))
    for contact_id in contacts:
        left = await rows.one(c, "SELECT 1 FROM conversations WHERE contact_id = %s UNION ALL"
                              " SELECT 1 FROM contacts WHERE merged_into = %s LIMIT 1", (contact_id, contact_id))
        if left is None:
            await c.execute("DELETE FROM identities WHERE contact_id = %s", (contact_id,))
            await c.execute("DELETE FROM contacts WHERE id = %s", (contact_id,))
    await notify.notify(c, instance, notify.conversations_deleted(gone))
    return Forgotten(gone, sorted(await people.unused(c, hashes)))


class RetentionStore(PostgresBase):
    async def expired_conversations(self, resolved_before: float, limit: int) -> list[int]:
        """Resolved conversations whose resolution (and last activity) is older than the cut."""

        async def run(c: Conn) -> list[int]:
            return [r["id"] for r in await rows.all_rows(
                c, "SELECT id FROM conversations WHERE status = 'resolved' AND resolved_at < %s"
                " AND last_activity_at < %s ORDER BY id LIMIT %s", (resolved_before, resolved_before, limit))]

        return await self._read(run)

    async def erase_conversations(self, conversation_ids: Sequence[int]) -> Forgotten:
        ids = list(conversation_ids)
        return await self._tx(lambda c: erase_conversations(c, ids, self.instance))
