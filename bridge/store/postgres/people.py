"""Contacts, agents, teams, API tokens and web sessions."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Unpack

from tpbridge.bridge.model import Agent, Contact, Identity, Role, Team, Viewer
from tpbridge.bridge.store import export, updates
from tpbridge.bridge.store.postgres import notify, rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.protocol import AgentFields, Forgotten
from tpbridge.bridge.store.sqlite.sealing import kv_keys, lookup_id


async def _contact(c: Conn, contact_id: int) -> Contact | None:
    return (await _contacts(c, [contact_id])).get(contact_id)


# A contact's identities include those of contacts merged into it. Two index look-ups, not an OR (which read
# every identity), for a whole page of contacts at once (the inbox list shows fifty).
_IDENTITIES = (
    "SELECT i.*, k.merge_verified, i.contact_id AS owner FROM identities i JOIN contacts k ON k.id = i.contact_id"
    " WHERE i.contact_id = ANY(%s)"
    " UNION ALL"
    " SELECT i.*, k.merge_verified, k.merged_into AS owner FROM contacts k JOIN identities i ON i.contact_id = k.id"
    " WHERE k.merged_into = ANY(%s)"
    " ORDER BY id"
)


async def _contacts(c: Conn, wanted: list[int]) -> dict[int, Contact]:
    return (await contacts_and_agents(c, wanted, []))[0]


# A list page's contacts joined to its conversations (one index look-up each, in the page's own statement):
# the page's columns, then these. psycopg's work per statement, not the round trip, is most of a list
# request's time on PostgreSQL (bench/README.md), so the page's contacts are not read again.
PAGE_CONTACT_COLUMNS = "k.name, k.language, k.tier, k.anonymous, k.email, k.merged_into, k.created_at"
_CONTACT_FIELDS = ("name", "language", "tier", "anonymous", "email", "merged_into", "created_at")
_K = rows.CONVERSATION_WIDTH  # a page row (a tuple): the list's columns, the contact's from here,
_I = _K + len(_CONTACT_FIELDS)  # and one identity's from here


def page_contact(row: Sequence[Any], identities: tuple[Identity, ...]) -> Contact:
    """The contact a page row carries (PAGE_CONTACT_COLUMNS)."""
    columns = dict(zip(_CONTACT_FIELDS, row[_K:_I], strict=True), id=row[rows.CONTACT_ID])
    return rows.contact(columns, identities)  # type: ignore[arg-type]


# With them, the contact's identities (those of contacts merged into it too, as _IDENTITIES reads them): one row
# per identity, so a page is one statement, not two (a second statement cost more than these few index look-ups).
PAGE_IDENTITY_COLUMNS = ("i.id, i.inbox, i.channel, i.external_id, i.external_id_sealed, i.handle, i.unreachable,"
                         " i.contact_id, i.merge_verified")
PAGE_IDENTITIES = (
    "LEFT JOIN LATERAL (SELECT j.*, NULL::integer AS merge_verified FROM identities j WHERE j.contact_id = p.contact_id"
    " UNION ALL"
    " SELECT j.*, m.merge_verified FROM contacts m JOIN identities j ON j.contact_id = m.id"
    " WHERE m.merged_into = p.contact_id) i ON TRUE"
)


def page_identity(row: Sequence[Any]) -> Identity | None:
    """The identity a page row carries (PAGE_IDENTITY_COLUMNS); None for a contact with none."""
    identity_id, inbox, channel, external_id, sealed, handle, unreachable, contact_id, verified = row[_I:_A]
    if identity_id is None:
        return None
    return Identity(id=identity_id, contact_id=contact_id, inbox=inbox, channel=channel,
                    external_id=sealed or external_id, handle=handle, unreachable=unreachable,
                    link=None if verified is None else "verified" if verified else "unverified")


# And the assignee with their teams' names (one look-up by id; nothing for an unassigned conversation).
PAGE_AGENT_COLUMNS = ("a.email, a.name, a.role, a.languages, a.ui_language, a.presence, a.capacity, a.disabled,"
                      " CASE WHEN a.id IS NULL THEN NULL ELSE ARRAY(SELECT t.name FROM teams t JOIN agent_teams at"
                      " ON at.team_id = t.id WHERE at.agent_id = a.id ORDER BY t.name) END")
PAGE_AGENT = "LEFT JOIN agents a ON a.id = p.assignee_id"
_AGENT_FIELDS = ("email", "name", "role", "languages", "ui_language", "presence", "capacity", "disabled")
_A = _I + len(PAGE_IDENTITY_COLUMNS.split(","))  # a page row's assignee columns start here


def page_agent(row: Sequence[Any]) -> Agent | None:
    """The assignee a page row carries (PAGE_AGENT_COLUMNS); None for an unassigned conversation."""
    if row[_A] is None:  # an agent's email is never null
        return None
    columns = dict(zip(_AGENT_FIELDS, row[_A:-1], strict=True), id=row[rows.ASSIGNEE_ID])
    return rows.agent(columns, tuple(row[-1]))  # type: ignore[arg-type]


def _identities(found: Sequence[Any]) -> dict[int, list[Identity]]:
    """_IDENTITIES's rows by the contact they are shown under (merged ones under their root)."""
    idents: dict[int, list[Identity]] = {}
    for r in found:
        owner = r["owner"]
        link = None if r["contact_id"] == owner else "verified" if r["merge_verified"] else "unverified"
        idents.setdefault(owner, []).append(rows.identity(r, link=link))
    return idents


async def contacts_and_agents(c: Conn, contact_ids: Sequence[int],
                              agent_ids: Sequence[int]) -> tuple[dict[int, Contact], dict[int, Agent]]:
    """Some people: contacts, and agents by id (a list page reads its own: ConversationStore.conversation_page)."""
    wanted, agent_ids = sorted(set(contact_ids)), sorted(set(agent_ids))
    if not wanted and not agent_ids:
        return {}, {}
    contacts, identities, agents = c.cursor(), c.cursor(), c.cursor()
    statements: list[tuple[Any, str, tuple[Any, ...]]] = []
    if wanted:
        statements.append((contacts, "SELECT * FROM contacts WHERE id = ANY(%s)", (wanted,)))
        statements.append((identities, _IDENTITIES, (wanted, wanted)))
    if agent_ids:
        statements.append((agents, f"SELECT {AGENT} FROM agents a WHERE a.id = ANY(%s)", (agent_ids,)))
    async with c.pipeline() if len(statements) > 1 else contextlib.nullcontext():  # one round trip for all
        for cur, sql, args in statements:
            await cur.execute(sql, args)
    by_id = {r["id"]: rows.agent(r, tuple(r["team_names"]))  # type: ignore[arg-type]
             for r in (await agents.fetchall() if agent_ids else [])}
    if not wanted:
        return {}, by_id
    found = await contacts.fetchall()
    idents = _identities(await identities.fetchall())
    return {r["id"]: rows.contact(r, tuple(idents.get(r["id"], ())))  # type: ignore[arg-type]
            for r in found}, by_id


# An agent's row with its teams' names, in one statement (every API request reads its agent, and a page of
# conversations lists the agents).
AGENT = ("a.*, ARRAY(SELECT t.name FROM teams t JOIN agent_teams at ON at.team_id = t.id WHERE at.agent_id = a.id"
         " ORDER BY t.name) AS team_names")


# With it, the `inboxes` of the agent's teams (what their viewer may see unassigned).
TEAM_INBOXES = ("ARRAY(SELECT t.inboxes FROM teams t JOIN agent_teams at ON at.team_id = t.id"
                " WHERE at.agent_id = a.id) AS team_inboxes")


async def agent_of(c: Conn, row: Any) -> Agent:
    if "team_names" in row:
        return rows.agent(row, tuple(row["team_names"]))
    teams = tuple(r["name"] for r in await rows.all_rows(
        c, "SELECT t.name FROM teams t JOIN agent_teams at ON at.team_id = t.id WHERE at.agent_id = %s"
        " ORDER BY t.name", (row["id"],)))
    return rows.agent(row, teams)


async def _family(c: Conn, contact_id: int) -> list[int]:
    return [contact_id] + [r["id"] for r in await rows.all_rows(
        c, "SELECT id FROM contacts WHERE merged_into = %s ORDER BY id", (contact_id,))]


async def erase_messages(c: Conn, convs: list[int]) -> set[str]:
    """Delete the conversations' messages and what hangs on them; the attachment hashes they used."""
    msgs = [r["id"] for r in await rows.all_rows(
        c, "SELECT id FROM messages WHERE conversation_id = ANY(%s)", (convs,))]
    hashes = {r["sha256"] for r in await rows.all_rows(
        c, "SELECT sha256 FROM attachments WHERE message_id = ANY(%s)", (msgs,))}
    for table in ("attachments", "message_edits", "outbox"):
        await c.execute(f"DELETE FROM {table} WHERE message_id = ANY(%s)", (msgs,))
    await c.execute("DELETE FROM message_search WHERE message_id = ANY(%s)", (msgs,))
    await c.execute("DELETE FROM messages WHERE id = ANY(%s)", (msgs,))
    await c.execute("UPDATE conversations SET linked_conversation_id = NULL WHERE linked_conversation_id = ANY(%s)",
                    (convs,))
    return hashes


async def unused(c: Conn, hashes: set[str]) -> list[str]:
    still = {r["sha256"] for r in await rows.all_rows(
        c, "SELECT DISTINCT sha256 FROM attachments WHERE sha256 = ANY(%s)", (list(hashes),))}
    return [h for h in hashes if h not in still]


ForgetHook = Callable[[Conn, list[int], list[int]], Awaitable[None]]
FORGET_HOOKS: list[ForgetHook] = []


class PeopleStore(PostgresBase):
    async def get_contact(self, contact_id: int) -> Contact | None:
        return await self._read(lambda c: _contact(c, contact_id))

    async def update_contact(self, contact_id: int, **fields: str | None) -> Contact:
        """Set `name`, `email`, `tier` or `language` of a contact."""
        updates.check(fields, updates.CONTACT_FIELDS)
        now = self.now()

        async def run(c: Conn) -> Contact:
            cur = await c.execute(*updates.contact_statement(c, contact_id, fields, now, "%s"))
            if cur.rowcount == 0:
                raise LookupError(f"contact {contact_id} not found")
            return await _contact(c, contact_id)  # type: ignore[return-value]

        return await self._tx(run)

    async def find_identity(self, inbox: str, external_id: str) -> Identity | None:
        async def run(c: Conn) -> Identity | None:
            row = await rows.one(c, "SELECT * FROM identities WHERE inbox = %s AND external_id = %s",
                                 (inbox, lookup_id(c, inbox, external_id)))
            return rows.identity(row) if row is not None else None  # type: ignore[arg-type]

        return await self._read(run)

    async def get_contacts(self, ids: Sequence[int]) -> dict[int, Contact]:
        wanted = sorted(set(ids))

        return await self._read(lambda c: _contacts(c, wanted))

    async def contacts_and_agents(self, contact_ids: Sequence[int],
                                  agent_ids: Sequence[int]) -> tuple[dict[int, Contact], dict[int, Agent]]:
        return await self._read(lambda c: contacts_and_agents(c, contact_ids, agent_ids))

    async def export_contact(self, contact_id: int) -> dict[str, Any] | None:
        async def run(c: Conn) -> dict[str, Any] | None:
            contact = await _contact(c, contact_id)
            if contact is None:
                return None
            family = await _family(c, contact_id)
            convs = []
            for conv in await rows.all_rows(
                    c, "SELECT * FROM conversations WHERE contact_id = ANY(%s) ORDER BY id", (family,)):
                found = await rows.all_rows(c, "SELECT * FROM messages WHERE conversation_id = %s ORDER BY id",
                                            (conv["id"],))
                atts = await rows.load_attachments(c, [m["id"] for m in found])
                convs.append(export.conversation_export(conv, found, atts))
            return export.contact_export(contact, convs)

        return await self._read(run)

    async def unused_files(self, hashes: Sequence[str]) -> list[str]:
        if not hashes:
            return []
        free = set(await self._read(lambda c: unused(c, set(hashes))))
        return [h for h in hashes if h in free]

    async def forget_contact(self, contact_id: int) -> Forgotten:
        """Erase a person everywhere; returns their conversations as they were and the attachment hashes
        no longer referenced (files to delete)."""

        async def run(c: Conn) -> Forgotten:
            family = await _family(c, contact_id)
            gone = await rows.family_conversations(c, family)
            convs = [conv.id for conv in gone]
            hashes = await erase_messages(c, convs)
            for hook in FORGET_HOOKS:
                await hook(c, convs, family)
            await c.execute("DELETE FROM conversations WHERE id = ANY(%s)", (convs,))
            await c.execute("DELETE FROM identities WHERE contact_id = ANY(%s)", (family,))
            await c.execute("UPDATE contacts SET merged_into = NULL WHERE merged_into = ANY(%s)", (family,))
            await c.execute("DELETE FROM contacts WHERE id = ANY(%s)", (family,))
            await notify.notify(c, self.instance, notify.conversations_deleted(gone))
            return Forgotten(gone, sorted(await unused(c, hashes)))

        return await self._tx(run)

    async def add_agent(
        self, email: str, name: str, role: Role, password_hash: str | None, teams: Sequence[str],
        languages: Sequence[str],
    ) -> Agent:
        now = self.now()

        async def run(c: Conn) -> Agent:
            row = await rows.one(
                c, "INSERT INTO agents (email, name, role, password_hash, languages, created_at)"
                " VALUES (%s,%s,%s,%s,%s,%s) RETURNING *",
                (email.lower(), name, role.value, password_hash, json.dumps(list(languages)), now))
            assert row is not None
            for team in teams:
                team_id = await _ensure_team(c, team, (), now)
                await c.execute("INSERT INTO agent_teams (agent_id, team_id) VALUES (%s,%s) ON CONFLICT DO NOTHING",
                                (row["id"], team_id))
            return await agent_of(c, row)

        return await self._tx(run)

    async def get_agent(self, agent_id: int) -> Agent | None:
        async def run(c: Conn) -> Agent | None:
            row = await rows.one(c, f"SELECT {AGENT} FROM agents a WHERE a.id = %s", (agent_id,))
            return None if row is None else await agent_of(c, row)

        return await self._read(run)

    async def agent_by_email(self, email: str) -> tuple[Agent, str | None] | None:
        async def run(c: Conn) -> tuple[Agent, str | None] | None:
            row = await rows.one(c, "SELECT * FROM agents WHERE email = %s", (email.lower(),))
            return None if row is None else (await agent_of(c, row), row["password_hash"])

        return await self._read(run)

    async def list_agents(self) -> list[Agent]:
        async def run(c: Conn) -> list[Agent]:
            return [await agent_of(c, r) for r in await rows.all_rows(c, f"SELECT {AGENT} FROM agents a ORDER BY a.id")]

        return await self._read(run)

    async def update_agent(self, agent_id: int, **fields: Unpack[AgentFields]) -> Agent:
        columns = updates.agent_columns(fields)  # ValueError first, for a field not updatable
        now = self.now()
        teams = fields.get("teams")

        async def run(c: Conn) -> Agent:
            if teams is not None:
                await c.execute("DELETE FROM agent_teams WHERE agent_id = %s", (agent_id,))
                for team in teams:
                    await c.execute("INSERT INTO agent_teams (agent_id, team_id) VALUES (%s,%s)"
                                    " ON CONFLICT DO NOTHING", (agent_id, await _ensure_team(c, team, (), now)))
            for key, value in columns.items():
                await c.execute(f"UPDATE agents SET {key} = %s WHERE id = %s", (value, agent_id))
            if "password_hash" in fields or fields.get("disabled"):
                # a new password or a disable ends every session and token (as SQLite's)
                await c.execute("DELETE FROM sessions WHERE agent_id = %s", (agent_id,))
                await c.execute("DELETE FROM tokens WHERE agent_id = %s", (agent_id,))
            row = await rows.one(c, "SELECT * FROM agents WHERE id = %s", (agent_id,))
            if row is None:
                raise LookupError(f"agent {agent_id} not found")
            return await agent_of(c, row)

        return await self._tx(run)

    async def list_teams(self) -> list[Team]:
        async def run(c: Conn) -> list[Team]:
            return [rows.team(r) for r in await rows.all_rows(c, "SELECT * FROM teams ORDER BY name")]  # type: ignore[arg-type]

        return await self._read(run)

    async def ensure_team(self, name: str, inboxes: Sequence[str] = ()) -> Team:
        now = self.now()

        async def run(c: Conn) -> Team:
            team_id = await _ensure_team(c, name, inboxes, now)
            return rows.team(await rows.one(c, "SELECT * FROM teams WHERE id = %s", (team_id,)))  # type: ignore[arg-type]

        return await self._tx(run)

    async def viewer(self, agent: Agent) -> Viewer:
        async def run(c: Conn) -> Viewer:
            return rows.viewer(agent, [r["inboxes"] for r in await rows.all_rows(
                c, "SELECT t.inboxes FROM teams t JOIN agent_teams at ON at.team_id = t.id WHERE at.agent_id = %s",
                (agent.id,))])

        return await self._read(run)

    async def add_token(self, agent_id: int, token_hash: str, label: str | None) -> None:
        now = self.now()

        async def run(c: Conn) -> None:
            await c.execute("INSERT INTO tokens (agent_id, token_hash, label, created_at) VALUES (%s,%s,%s,%s)",
                            (agent_id, token_hash, label, now))

        await self._tx(run)

    async def add_session(self, session_hash: str, agent_id: int, csrf: str, ttl: float) -> None:
        now = self.now()

        async def run(c: Conn) -> None:
            await c.execute("INSERT INTO sessions (id, agent_id, csrf, created_at, expires_at)"
                            " VALUES (%s,%s,%s,%s,%s)", (session_hash, agent_id, csrf, now, now + ttl))

        await self._tx(run)

    async def drop_session(self, session_hash: str) -> None:
        async def run(c: Conn) -> None:
            await c.execute("DELETE FROM sessions WHERE id = %s", (session_hash,))

        await self._tx(run)


async def _ensure_team(c: Conn, name: str, inboxes: Sequence[str], now: float) -> int:
    # Two instances may start at once with the same [teams] table: one inserts, the other finds it.
    await c.execute("INSERT INTO teams (name, inboxes, created_at) VALUES (%s,%s,%s) ON CONFLICT (name) DO NOTHING",
                    (name, json.dumps(sorted(inboxes)), now))
    row = await rows.one(c, "SELECT id, inboxes FROM teams WHERE name = %s FOR UPDATE", (name,))
    assert row is not None
    if inboxes:
        merged = sorted(set(json.loads(row["inboxes"] or "[]")) | set(inboxes))
        await c.execute("UPDATE teams SET inboxes = %s WHERE id = %s", (json.dumps(merged), row["id"]))
    team_id: int = row["id"]
    return team_id


async def _forget_profiles(c: Conn, conversation_ids: list[int], contact_ids: list[int]) -> None:
    """What an app said about a verified web chat user (name, email, tier) is kept in kv: erased too."""
    for row in await rows.all_rows(c, "SELECT inbox, coalesce(external_id_sealed, external_id) AS external_id"
                                   " FROM identities WHERE contact_id = ANY(%s)", (contact_ids,)):
        await c.execute("DELETE FROM kv WHERE key = ANY(%s)",
                        (kv_keys(c, f"{row['inbox']}:profile:{row['external_id']}"),))


FORGET_HOOKS.append(_forget_profiles)
