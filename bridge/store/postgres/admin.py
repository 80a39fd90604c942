"""Inbox administration queries (canned responses, contact merges, teams)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from psycopg import errors
from tpbridge.bridge.model import Canned, Conversation, Team
from tpbridge.bridge.store.postgres import notify, rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.protocol import Conflict


def _canned(row: dict[str, object]) -> Canned:
    return Canned(row["id"], row["shortcut"], row["text"], row["created_by"])  # type: ignore[arg-type]


class AdminStore(PostgresBase):
    async def list_canned(self) -> list[Canned]:
        async def run(c: Conn) -> list[Canned]:
            return [_canned(r) for r in await rows.all_rows(c, "SELECT * FROM canned_responses ORDER BY shortcut")]

        return await self._read(run)

    async def add_canned(self, shortcut: str, text: str, created_by: int | None) -> Canned:
        now = self.now()

        async def run(c: Conn) -> Canned:
            row = await rows.one(
                c, "INSERT INTO canned_responses (shortcut, text, created_by, created_at) VALUES (%s,%s,%s,%s)"
                " ON CONFLICT (shortcut) DO NOTHING RETURNING *", (shortcut, text, created_by, now))
            if row is None:
                raise Conflict(f"shortcut /{shortcut} already exists")
            return _canned(row)

        return await self._tx(run)

    async def update_canned(self, canned_id: int, shortcut: str | None, text: str | None) -> Canned | None:
        async def run(c: Conn) -> Canned | None:
            if shortcut is not None:
                async with c.transaction():  # a savepoint: the taken shortcut is reported, not the abort
                    try:
                        await c.execute("UPDATE canned_responses SET shortcut = %s WHERE id = %s",
                                        (shortcut, canned_id))
                    except errors.UniqueViolation:
                        raise Conflict(f"shortcut /{shortcut} already exists") from None
            if text is not None:
                await c.execute("UPDATE canned_responses SET text = %s WHERE id = %s", (text, canned_id))
            row = await rows.one(c, "SELECT * FROM canned_responses WHERE id = %s", (canned_id,))
            return None if row is None else _canned(row)

        return await self._tx(run)

    async def delete_canned(self, canned_id: int) -> bool:
        async def run(c: Conn) -> bool:
            cur = await c.execute("DELETE FROM canned_responses WHERE id = %s", (canned_id,))
            return cur.rowcount > 0

        return await self._tx(run)

    async def contact_family(self, contact_id: int) -> list[int]:
        """The contact and every contact merged into it (their conversations are its history)."""

        return await self._read(lambda c: rows.family(c, contact_id))

    async def merge_contacts(self, target_id: int, source_id: int, *, verified: bool = False) -> list[Conversation]:
        """Merge `source` into `target`; contacts merged into the source move along (one level deep).
        `verified`: the person proved both identities theirs (a one-time code).
        Returns the conversations of the whole family (each shows a changed person)."""
        now = self.now()

        async def run(c: Conn) -> list[Conversation]:
            await c.execute("UPDATE contacts SET merged_into = %s, updated_at = %s WHERE merged_into = %s OR id = %s",
                            (target_id, now, source_id, source_id))
            await c.execute("UPDATE contacts SET merge_verified = %s WHERE id = %s", (int(verified), source_id))
            convs = await rows.family_conversations(c, await rows.family(c, target_id))
            await notify.notify(c, self.instance, notify.conversations_updated(convs, ("contact",)))
            return convs

        return await self._tx(run)

    async def unmerge_contact(self, contact_id: int) -> list[Conversation]:
        now = self.now()

        async def run(c: Conn) -> list[Conversation]:
            was = await rows.value(c, "SELECT merged_into FROM contacts WHERE id = %s", (contact_id,))
            await c.execute("UPDATE contacts SET merged_into = NULL, merge_verified = 0, updated_at = %s WHERE id = %s",
                            (now, contact_id))
            ids = [contact_id] if was is None else [*await rows.family(c, was), contact_id]
            convs = await rows.family_conversations(c, ids)
            await notify.notify(c, self.instance, notify.conversations_updated(convs, ("contact",)))
            return convs

        return await self._tx(run)

    async def set_team_inboxes(self, name: str, inboxes: Sequence[str]) -> Team | None:
        """Replace the inboxes a team owns (ensure_team only ever adds)."""

        async def run(c: Conn) -> Team | None:
            row = await rows.one(c, "UPDATE teams SET inboxes = %s WHERE name = %s RETURNING *",
                                 (json.dumps(sorted(set(inboxes))), name))
            return None if row is None else rows.team(row)  # type: ignore[arg-type]

        return await self._tx(run)

    async def delete_team(self, name: str) -> bool:
        async def run(c: Conn) -> bool:
            team_id = await rows.value(c, "SELECT id FROM teams WHERE name = %s", (name,))
            if team_id is None:
                return False
            await c.execute("DELETE FROM agent_teams WHERE team_id = %s", (team_id,))
            await c.execute("DELETE FROM teams WHERE id = %s", (team_id,))
            return True

        return await self._tx(run)
