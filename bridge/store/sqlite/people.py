"""Contacts, agents, teams, API tokens and web sessions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, Unpack

from tpbridge.bridge.model import Agent, Contact, Conversation, Identity, Role, Team, Viewer
from tpbridge.bridge.store import export, updates
from tpbridge.bridge.store.protocol import AgentFields, Forgotten
from tpbridge.bridge.store.sqlite import rows, search_index
from tpbridge.bridge.store.sqlite.base import SqliteBase
from tpbridge.bridge.store.sqlite.credentials import end_credentials
from tpbridge.bridge.store.sqlite.sealing import codec_of, kv_keys, lookup_id


def _contact(c: sqlite3.Connection, contact_id: int) -> Contact | None:
    return _contacts(c, [contact_id]).get(contact_id)


# A contact's identities include those of contacts merged into it: two index look-ups (the contacts' own
# identities, and those of contacts merged into them), for a whole page of contacts at once — one by one,
# a list page of fifty ran a hundred statements. Both reads give the models' fields in order: sqlite3.Row
# finds a column by a case-insensitive scan of every name, and a list page's fifty contacts and their
# identities cost ~0.3 ms that way, a third of it as plain tuples (an encrypted store's rows open their
# sealed values by position as well: the identity's channel id is its sealed column's, else the clear one).
_IDENTITIES = (
    "SELECT i.id, i.contact_id, i.inbox, i.channel, coalesce(nullif(i.external_id_sealed, ''), i.external_id),"
    " i.handle, i.unreachable, NULL, i.contact_id FROM identities i WHERE i.contact_id IN ({marks})"
    " UNION ALL"
    " SELECT i.id, i.contact_id, i.inbox, i.channel, coalesce(nullif(i.external_id_sealed, ''), i.external_id),"
    " i.handle, i.unreachable, iif(k.merge_verified, 'verified', 'unverified'), k.merged_into"
    " FROM contacts k JOIN identities i ON i.contact_id = k.id WHERE k.merged_into IN ({marks})"
    " ORDER BY 1"
)
_CONTACTS = ("SELECT id, name, language, tier, anonymous, email, merged_into, created_at FROM contacts"
             " WHERE id IN ({marks})")


def _contacts(c: sqlite3.Connection, wanted: Sequence[int]) -> dict[int, Contact]:
    if not wanted:
        return {}
    ids = list(wanted)
    marks = ",".join("?" * len(ids))
    cur = c.cursor()
    if codec_of(c) is None:
        cur.row_factory = None  # nothing to open: plain tuples
    idents: dict[int, list[Identity]] = {}
    for *values, owner in cur.execute(_IDENTITIES.format(marks=marks), ids + ids):
        idents.setdefault(owner, []).append(Identity(*values))
    found = {}
    for cid, name, language, tier, anonymous, email, merged_into, created_at in cur.execute(
            _CONTACTS.format(marks=marks), ids):
        found[cid] = Contact(cid, name, language, tier, bool(anonymous), email, merged_into,
                             tuple(idents.get(cid, ())), rows.ts(created_at))
    return found


AGENT = rows.AGENT_WITH_TEAMS


def contacts_and_agents(c: sqlite3.Connection, contact_ids: Sequence[int],
                        agent_ids: Sequence[int]) -> tuple[dict[int, Contact], dict[int, Agent]]:
    """A page's people: its contacts, and its assignees by id."""
    contacts, agents = sorted(set(contact_ids)), sorted(set(agent_ids))
    if not agents:
        return _contacts(c, contacts), {}
    marks = ",".join("?" * len(agents))
    return _contacts(c, contacts), {r["id"]: rows.agent_with_teams(r) for r in c.execute(
        f"SELECT {AGENT} FROM agents a WHERE a.id IN ({marks})", agents)}


def _agent(c: sqlite3.Connection, row: sqlite3.Row) -> Agent:
    teams = tuple(r[0] for r in c.execute(
        "SELECT t.name FROM teams t JOIN agent_teams at ON at.team_id = t.id WHERE at.agent_id = ? ORDER BY t.name",
        (row["id"],)))
    return rows.agent(row, teams)


class PeopleStore(SqliteBase):
    async def get_contact(self, contact_id: int) -> Contact | None:
        return await self._read(lambda c: _contact(c, contact_id))

    async def update_contact(self, contact_id: int, **fields: str | None) -> Contact:
        """Set `name`, `email`, `tier` or `language` of a contact."""
        updates.check(fields, updates.CONTACT_FIELDS)
        now = self.now()

        def run(c: sqlite3.Connection) -> Contact:
            cur = c.execute(*updates.contact_statement(c, contact_id, fields, now, "?"))
            if cur.rowcount == 0:
                raise LookupError(f"contact {contact_id} not found")
            return _contact(c, contact_id)  # type: ignore[return-value]

        return await self._write(run)

    async def find_identity(self, inbox: str, external_id: str) -> Identity | None:
        def run(c: sqlite3.Connection) -> Identity | None:
            row = c.execute("SELECT * FROM identities WHERE inbox = ? AND external_id = ?",
                            (inbox, lookup_id(c, inbox, external_id))).fetchone()
            return rows.identity(row) if row is not None else None

        return await self._read(run)

    async def get_contacts(self, ids: Sequence[int]) -> dict[int, Contact]:
        wanted = sorted(set(ids))

        def run(c: sqlite3.Connection) -> dict[int, Contact]:
            return _contacts(c, wanted)

        return await self._read(run)

    async def contacts_and_agents(self, contact_ids: Sequence[int],
                                  agent_ids: Sequence[int]) -> tuple[dict[int, Contact], dict[int, Agent]]:
        return await self._read(lambda c: contacts_and_agents(c, contact_ids, agent_ids))

    async def export_contact(self, contact_id: int) -> dict[str, Any] | None:
        def run(c: sqlite3.Connection) -> dict[str, Any] | None:
            contact = _contact(c, contact_id)
            if contact is None:
                return None
            family = rows.family(c, contact_id)
            marks = ",".join("?" * len(family))
            convs = []
            for conv in c.execute(f"SELECT * FROM conversations WHERE contact_id IN ({marks}) ORDER BY id", family):
                msgs = c.execute("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conv["id"],))
                found = msgs.fetchall()
                atts = rows.load_attachments(c, [m["id"] for m in found])
                convs.append(export.conversation_export(conv, found, atts))
            return export.contact_export(contact, convs)

        return await self._read(run)

    async def set_contact_language(self, contact_id: int, language: str) -> list[Conversation]:
        now = self.now()

        def run(c: sqlite3.Connection) -> list[Conversation]:
            c.execute("UPDATE contacts SET language = ?, updated_at = ? WHERE id = ?", (language, now, contact_id))
            row = c.execute("SELECT merged_into FROM contacts WHERE id = ?", (contact_id,)).fetchone()
            root = contact_id if row is None or row[0] is None else row[0]
            return rows.family_conversations(c, rows.family(c, root))

        return await self._write(run)

    async def unused_files(self, hashes: Sequence[str]) -> list[str]:
        def run(c: sqlite3.Connection) -> list[str]:
            used = "SELECT 1 FROM attachments WHERE sha256 = ?"
            return [h for h in hashes if c.execute(used, (h,)).fetchone() is None]

        return await self._read(run)

    async def forget_contact(self, contact_id: int) -> Forgotten:
        """Erase a person everywhere; returns their conversations as they were and the attachment
        hashes no longer referenced (files to delete)."""

        def run(c: sqlite3.Connection) -> Forgotten:
            family = rows.family(c, contact_id)
            marks = ",".join("?" * len(family))
            gone = rows.family_conversations(c, family)
            convs = [conv.id for conv in gone]
            hashes: set[str] = set()
            for conv_id in convs:
                msg_ids = [r[0] for r in c.execute("SELECT id FROM messages WHERE conversation_id = ?",
                                                   (conv_id,))]
                for mid in msg_ids:
                    found = c.execute("SELECT sha256 FROM attachments WHERE message_id = ?", (mid,))
                    hashes.update(r[0] for r in found)
                    c.execute("DELETE FROM attachments WHERE message_id = ?", (mid,))
                    c.execute("DELETE FROM message_edits WHERE message_id = ?", (mid,))
                    c.execute("DELETE FROM outbox WHERE message_id = ?", (mid,))
                search_index.forget_conversation(c, conv_id)
                c.execute("DELETE FROM messages WHERE conversation_id = ?", (conv_id,))
                c.execute("UPDATE conversations SET linked_conversation_id = NULL WHERE linked_conversation_id = ?",
                          (conv_id,))
            search_index.after_erasure(c)
            forget_hooks(c, convs, family)
            c.execute(f"DELETE FROM conversations WHERE contact_id IN ({marks})", family)
            c.execute(f"DELETE FROM identities WHERE contact_id IN ({marks})", family)
            c.execute(f"UPDATE contacts SET merged_into = NULL WHERE merged_into IN ({marks})", family)
            c.execute(f"DELETE FROM contacts WHERE id IN ({marks})", family)
            unused = "SELECT 1 FROM attachments WHERE sha256 = ?"
            return Forgotten(gone, sorted(h for h in hashes if c.execute(unused, (h,)).fetchone() is None))

        return await self._write(run)

    async def add_agent(
        self, email: str, name: str, role: Role, password_hash: str | None, teams: Sequence[str],
        languages: Sequence[str],
    ) -> Agent:
        now = self.now()

        def run(c: sqlite3.Connection) -> Agent:
            cur = c.execute(
                "INSERT INTO agents (email, name, role, password_hash, languages, created_at) VALUES (?,?,?,?,?,?)",
                (email.lower(), name, role.value, password_hash, json.dumps(list(languages)), now),
            )
            for team in teams:
                team_id = _ensure_team(c, team, (), now)
                c.execute("INSERT OR IGNORE INTO agent_teams (agent_id, team_id) VALUES (?,?)",
                          (cur.lastrowid, team_id))
            return _agent(c, c.execute("SELECT * FROM agents WHERE id = ?", (cur.lastrowid,)).fetchone())

        return await self._write(run)

    async def get_agent(self, agent_id: int) -> Agent | None:
        def run(c: sqlite3.Connection) -> Agent | None:
            row = c.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
            return None if row is None else _agent(c, row)

        return await self._read(run)

    async def agent_by_email(self, email: str) -> tuple[Agent, str | None] | None:
        def run(c: sqlite3.Connection) -> tuple[Agent, str | None] | None:
            row = c.execute("SELECT * FROM agents WHERE email = ?", (email.lower(),)).fetchone()
            return None if row is None else (_agent(c, row), row["password_hash"])

        return await self._read(run)

    async def list_agents(self) -> list[Agent]:
        return await self._read(lambda c: [rows.agent_with_teams(r) for r in c.execute(
            f"SELECT {AGENT} FROM agents a ORDER BY a.id")])

    async def update_agent(self, agent_id: int, **fields: Unpack[AgentFields]) -> Agent:
        columns = updates.agent_columns(fields)  # ValueError first, for a field not updatable
        now = self.now()
        teams = fields.get("teams")

        def run(c: sqlite3.Connection) -> Agent:
            if teams is not None:
                c.execute("DELETE FROM agent_teams WHERE agent_id = ?", (agent_id,))
                for team in teams:
                    c.execute("INSERT INTO agent_teams (agent_id, team_id) VALUES (?,?)",
                              (agent_id, _ensure_team(c, team, (), now)))
            for key, value in columns.items():
                c.execute(f"UPDATE agents SET {key} = ? WHERE id = ?", (value, agent_id))
            if "password_hash" in fields or fields.get("disabled"):
                end_credentials(c, agent_id)  # a new password or a disable ends every session and token
            return _agent(c, c.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone())

        return await self._write(run)

    async def list_teams(self) -> list[Team]:
        return await self._read(lambda c: [rows.team(r) for r in c.execute("SELECT * FROM teams ORDER BY name")])

    async def ensure_team(self, name: str, inboxes: Sequence[str] = ()) -> Team:
        now = self.now()

        def run(c: sqlite3.Connection) -> Team:
            team_id = _ensure_team(c, name, inboxes, now)
            return rows.team(c.execute("SELECT * FROM teams WHERE id = ?", (team_id,)).fetchone())

        return await self._write(run)

    async def viewer(self, agent: Agent) -> Viewer:
        def run(c: sqlite3.Connection) -> Viewer:
            return rows.viewer(agent, [r[0] for r in c.execute(
                "SELECT t.inboxes FROM teams t JOIN agent_teams at ON at.team_id = t.id WHERE at.agent_id = ?",
                (agent.id,))])

        return await self._read(run)

    async def add_token(self, agent_id: int, token_hash: str, label: str | None) -> None:
        now = self.now()
        await self._write(lambda c: c.execute(
            "INSERT INTO tokens (agent_id, token_hash, label, created_at) VALUES (?,?,?,?)",
            (agent_id, token_hash, label, now)))

    async def add_session(self, session_hash: str, agent_id: int, csrf: str, ttl: float) -> None:
        now = self.now()
        await self._write(lambda c: c.execute(
            "INSERT INTO sessions (id, agent_id, csrf, created_at, expires_at) VALUES (?,?,?,?,?)",
            (session_hash, agent_id, csrf, now, now + ttl)))

    async def drop_session(self, session_hash: str) -> None:
        await self._write(lambda c: c.execute("DELETE FROM sessions WHERE id = ?", (session_hash,)))


def _ensure_team(c: sqlite3.Connection, name: str, inboxes: Sequence[str], now: float) -> int:
    row = c.execute("SELECT id, inboxes FROM teams WHERE name = ?", (name,)).fetchone()
    if row is not None:
        if inboxes:
            merged = sorted(set(json.loads(row[1] or "[]")) | set(inboxes))
            c.execute("UPDATE teams SET inboxes = ? WHERE id = ?", (json.dumps(merged), row[0]))
        return int(row[0])
    cur = c.execute("INSERT INTO teams (name, inboxes, created_at) VALUES (?,?,?)",
                    (name, json.dumps(sorted(inboxes)), now))
    return cur.lastrowid  # type: ignore[return-value]


FORGET_HOOKS: list[Any] = []


def forget_hooks(c: sqlite3.Connection, conversation_ids: list[int], contact_ids: list[int]) -> None:
    """Tables added by other modules (surveys, bot state) register here to erase their rows too."""
    for hook in FORGET_HOOKS:
        hook(c, conversation_ids, contact_ids)


def _forget_profiles(c: sqlite3.Connection, conversation_ids: list[int], contact_ids: list[int]) -> None:
    """What an app said about a verified web chat user (name, email, tier) is kept in kv: erased too."""
    marks = ",".join("?" * len(contact_ids))
    for inbox, external_id in c.execute(
            f"SELECT inbox, coalesce(external_id_sealed, external_id) FROM identities WHERE contact_id IN ({marks})",
            contact_ids).fetchall():  # the channel's id (the sealed copy, opened, when encrypted), as the key has it
        for key in kv_keys(c, f"{inbox}:profile:{external_id}"):
            c.execute("DELETE FROM kv WHERE key = ?", (key,))


FORGET_HOOKS.append(_forget_profiles)
