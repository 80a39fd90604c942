"""Inbox administration queries (canned responses, contact merges, teams): owned by the inbox web app."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from tpbridge.bridge.model import Canned, Conversation, Team
from tpbridge.bridge.store.protocol import Conflict
from tpbridge.bridge.store.sqlite import rows
from tpbridge.bridge.store.sqlite.base import SqliteBase


def _canned(row: sqlite3.Row) -> Canned:
    return Canned(row["id"], row["shortcut"], row["text"], row["created_by"])


class AdminStore(SqliteBase):
    # ------------------------------------------------------------ canned responses
    async def list_canned(self) -> list[Canned]:
        return await self._read(lambda c: [_canned(r) for r in c.execute(
            "SELECT * FROM canned_responses ORDER BY shortcut")])

    async def add_canned(self, shortcut: str, text: str, created_by: int | None) -> Canned:
        now = self.now()

        def run(c: sqlite3.Connection) -> Canned:
            try:
                cur = c.execute(
                    "INSERT INTO canned_responses (shortcut, text, created_by, created_at) VALUES (?,?,?,?)",
                    (shortcut, text, created_by, now))
            except sqlite3.IntegrityError:
                raise Conflict(f"shortcut /{shortcut} already exists") from None
            return _canned(c.execute("SELECT * FROM canned_responses WHERE id = ?", (cur.lastrowid,)).fetchone())

        return await self._write(run)

    async def update_canned(self, canned_id: int, shortcut: str | None, text: str | None) -> Canned | None:
        def run(c: sqlite3.Connection) -> Canned | None:
            try:
                if shortcut is not None:
                    c.execute("UPDATE canned_responses SET shortcut = ? WHERE id = ?", (shortcut, canned_id))
            except sqlite3.IntegrityError:
                raise Conflict(f"shortcut /{shortcut} already exists") from None
            if text is not None:
                c.execute("UPDATE canned_responses SET text = ? WHERE id = ?", (text, canned_id))
            row = c.execute("SELECT * FROM canned_responses WHERE id = ?", (canned_id,)).fetchone()
            return None if row is None else _canned(row)

        return await self._write(run)

    async def delete_canned(self, canned_id: int) -> bool:
        return await self._write(lambda c: c.execute(
            "DELETE FROM canned_responses WHERE id = ?", (canned_id,)).rowcount > 0)

    # ------------------------------------------------------------ contact merges
    async def contact_family(self, contact_id: int) -> list[int]:
        """The contact and every contact merged into it (their conversations are its history)."""
        return await self._read(lambda c: rows.family(c, contact_id))

    async def merge_contacts(self, target_id: int, source_id: int, *, verified: bool = False) -> list[Conversation]:
        """Merge `source` into `target`: one person from now on; undone by `unmerge_contact`.

        Contacts merged into the source move to the target, so a family is one level deep.
        `verified`: the person proved both identities theirs (a one-time code), not an agent's guess.
        Returns the conversations of the whole family (each shows a changed person).
        """
        now = self.now()

        def run(c: sqlite3.Connection) -> list[Conversation]:
            c.execute("UPDATE contacts SET merged_into = ?, updated_at = ? WHERE merged_into = ?",
                      (target_id, now, source_id))
            c.execute("UPDATE contacts SET merged_into = ?, merge_verified = ?, updated_at = ? WHERE id = ?",
                      (target_id, int(verified), now, source_id))
            return rows.family_conversations(c, rows.family(c, target_id))

        return await self._write(run)

    async def unmerge_contact(self, contact_id: int) -> list[Conversation]:
        """Undo a merge; returns the conversations of the contact and of the one it was merged into."""
        now = self.now()

        def run(c: sqlite3.Connection) -> list[Conversation]:
            row = c.execute("SELECT merged_into FROM contacts WHERE id = ?", (contact_id,)).fetchone()
            c.execute("UPDATE contacts SET merged_into = NULL, merge_verified = 0, updated_at = ? WHERE id = ?",
                      (now, contact_id))
            ids = [contact_id] if row is None or row[0] is None else [*rows.family(c, row[0]), contact_id]
            return rows.family_conversations(c, ids)

        return await self._write(run)

    # ------------------------------------------------------------ teams
    async def set_team_inboxes(self, name: str, inboxes: Sequence[str]) -> Team | None:
        """Replace the inboxes a team owns (ensure_team only ever adds)."""

        def run(c: sqlite3.Connection) -> Team | None:
            c.execute("UPDATE teams SET inboxes = ? WHERE name = ?", (json.dumps(sorted(set(inboxes))), name))
            row = c.execute("SELECT * FROM teams WHERE name = ?", (name,)).fetchone()
            return None if row is None else rows.team(row)

        return await self._write(run)

    async def delete_team(self, name: str) -> bool:
        """Drop a team; its conversations keep their label-like `team` value but nobody belongs to it."""

        def run(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT id FROM teams WHERE name = ?", (name,)).fetchone()
            if row is None:
                return False
            c.execute("DELETE FROM agent_teams WHERE team_id = ?", (row[0],))
            c.execute("DELETE FROM teams WHERE id = ?", (row[0],))
            return True

        return await self._write(run)
