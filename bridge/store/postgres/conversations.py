"""Reading and changing conversations: the inbox list (keyset paging), one conversation, its messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any, Unpack

from psycopg.sql import Literal
from tpbridge.bridge import search
from tpbridge.bridge.crypto import Codec
from tpbridge.bridge.model import Agent, Attachment, Contact, Conversation, Identity, Message, Viewer
from tpbridge.bridge.store import filters, updates
from tpbridge.bridge.store.postgres import notify, people, rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase
from tpbridge.bridge.store.postgres.text import json_text
from tpbridge.bridge.store.protocol import Change, ConversationFields, ConversationFilter, Page
from tpbridge.bridge.store.sqlite.conversations import decode_cursor, encode_cursor, page_of_messages
from tpbridge.bridge.store.sqlite.sealing import lookup_id


def tsquery(query: str, codec: Codec | None = None) -> str | None:
    """The search as a tsquery of verbatim lexemes (the terms of bridge/search.py, as indexed): every term
    must occur; which match as a prefix, as the SQLite store's (`search.match_parts`). Encrypted: the terms'
    keyed hashes, whole terms only (a hash has no prefix)."""
    parts = search.match_parts(query)
    if not parts:
        return None
    if codec is not None:
        return " & ".join(f"'{codec.blind(t)}'" for t, _prefix in parts)
    return " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" + (":*" if prefix else "")
                      for t, prefix in parts)


def visibility(viewer: Viewer) -> tuple[str, list[Any]]:
    """SQL for Viewer.may_see: enforced in the query, not only hidden in the page."""
    if viewer.is_admin:
        return "TRUE", []
    clauses = ["c.team = ANY(%s)", "(c.team IS NULL AND c.assignee_id = %s)"]
    args: list[Any] = [list(viewer.teams), viewer.agent_id]
    if "*" in viewer.team_inboxes:
        clauses.append("(c.team IS NULL AND c.assignee_id IS NULL)")
    elif viewer.team_inboxes:
        clauses.append("(c.team IS NULL AND c.assignee_id IS NULL AND c.inbox = ANY(%s))")
        args.append(list(viewer.team_inboxes))
    return "(" + " OR ".join(clauses) + ")", args


async def _page(c: Conn, query: str, args: list[Any], limit: int) -> Page:
    cur = rows.tuple_cursor(c)
    await cur.execute(query, args)
    return _page_of(await cur.fetchall(), limit)


def _page_of(found: Sequence[Sequence[Any]], limit: int) -> Page:
    """A page from rows that start with the list's columns (rows.CONVERSATION_COLUMNS), read by position."""
    items = [rows.conversation_of(r) for r in found[:limit]]
    nxt = None
    if len(found) > limit:
        last = found[limit - 1]
        nxt = encode_cursor(last[rows.LAST_ACTIVITY_AT], last[0])
    return Page(items, nxt)


# Filters each served by an index in the list's order (status, inbox, assignee: migrations 26, 35, 37) or
# that pick a handful of conversations (a contact's): the plan PostgreSQL keeps for the statement suits any
# of their values. A label's value is written into the text (_label_literal): each label's statement keeps a
# plan of its own. The others (a search's terms, a team, a channel, a priority) are planned anew for each
# value: a rare one and a common one need different plans.
_PLAN_KEPT = frozenset({"status", "inbox", "assignee", "contact_id", "label"})


def _label_literal(label: str) -> str:
    """A label written into the statement's text, not bound: how many conversations carry it decides the plan
    (a rare one: its few rows; a common one: filtering the others on the way), so a bound label would be
    planned at each use (0.4-0.6 ms at a desk's size). As a literal, each label's statement is prepared with its
    own plan and kept (psycopg prepares a text used five times; at most 100 a connection); PostgreSQL drops the
    plan when ANALYZE changes the table's statistics. psycopg reads `%` in the text as a placeholder's start."""
    return Literal(label).as_string(None).replace("%", "%%")


# The follow-up's and the snooze waker's look-ups, through their partial indexes (migrations 34, 33).
RESOLVED_BETWEEN = ("SELECT id FROM conversations WHERE status = 'resolved' AND resolved_at > %s AND resolved_at <= %s"
                    " ORDER BY resolved_at LIMIT 500")
DUE_SNOOZES = "SELECT id FROM conversations WHERE status = 'snoozed' AND snoozed_until <= %s"


class ConversationStore(PostgresBase):
    async def index_search(self) -> int:
        return 0  # terms are written in the transaction that stores the message

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        return await self._read(lambda c: rows.load_conversation(c, conversation_id))

    async def list_conversations(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> Page:
        query = self._list_query(viewer, flt, limit, cursor)
        return Page([], None) if query is None else await self._read(lambda c: _page(c, *query, limit))

    async def conversation_page(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> tuple[Page, dict[int, Contact], dict[int, Agent]]:
        query = self._list_query(viewer, flt, limit, cursor)
        if query is None:
            return Page([], None), {}, {}

        sql, args = query
        # One statement: the page, each conversation's contact, one row per identity of it, and its assignee.
        joined = (f"SELECT p.*, {people.PAGE_CONTACT_COLUMNS}, {people.PAGE_IDENTITY_COLUMNS},"
                  f" {people.PAGE_AGENT_COLUMNS} FROM ({sql}) p JOIN contacts k ON k.id = p.contact_id"
                  f" {people.PAGE_IDENTITIES} {people.PAGE_AGENT} ORDER BY p.last_activity_at DESC, p.id DESC, i.id")

        async def run(c: Conn) -> tuple[Page, dict[int, Contact], dict[int, Agent]]:
            cur = rows.tuple_cursor(c)
            await cur.execute(joined, args)
            firsts: list[tuple[Any, ...]] = []  # each conversation's first row: one comes per identity of its contact
            identities: dict[int, list[Identity]] = {}
            for r in await cur.fetchall():
                if not firsts or firsts[-1][0] != r[0]:
                    firsts.append(r)
                    identities[r[rows.CONTACT_ID]] = []
                if (identity := people.page_identity(r)) is not None:
                    identities[r[rows.CONTACT_ID]].append(identity)
            page = _page_of(firsts, limit)
            shown = firsts[:limit]
            contacts = {r[rows.CONTACT_ID]: people.page_contact(r, tuple(identities[r[rows.CONTACT_ID]]))
                        for r in shown}
            agents = {agent.id: agent for r in shown if (agent := people.page_agent(r)) is not None}
            return page, contacts, agents

        return await self._read(run)

    def _list_query(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> tuple[str, list[Any]] | None:
        """The list's SQL and its arguments; None when a search has no terms (nothing matches)."""
        where, args = visibility(viewer)
        if flt.label:  # the label's rows in activity order, a copy of their conversations' (migration 38)
            activity, conv_id = "l.last_activity_at", "l.conversation_id"
            source = ("conversation_labels l JOIN conversations c ON c.id = l.conversation_id"
                      f" WHERE l.label = {_label_literal(flt.label)} AND")
        else:
            activity, conv_id, source = "c.last_activity_at", "c.id", "conversations c WHERE"
        sql = [f"SELECT {rows.CONVERSATION_COLUMNS} FROM {source}", where]
        if flt.status and flt.status != "all":
            sql.append("AND c.status = %s")
            args.append(flt.status)
        terms, values = filters.equal_terms(viewer, flt, "%s")
        sql += terms
        args += values
        if flt.q:
            match = tsquery(flt.q, self.codec)
            if match is None:
                return None
            sql.append("AND c.id IN (SELECT conversation_id FROM message_search WHERE terms @@ %s::tsquery)")
            args.append(match)
        if cursor:
            sql.append(f"AND ({activity}, {conv_id}) < (%s, %s)")
            args.extend(decode_cursor(cursor))
        if _PLAN_KEPT.issuperset(f.name for f in fields(flt) if getattr(flt, f.name) is not None):
            # The limit in the text: PostgreSQL keeps the plan (with `LIMIT $n` it plans every use anew, 0.3-0.4
            # ms; at most 200 such texts), and the kept plan is right here (bench/README.md D15, D21).
            sql.append(f"ORDER BY {activity} DESC, {conv_id} DESC LIMIT {int(limit) + 1:d}")
        else:  # a search, a team...: how many match depends on the value, planned for each
            sql.append(f"ORDER BY {activity} DESC, {conv_id} DESC LIMIT %s")
            args.append(limit + 1)
        return " ".join(sql), args

    async def list_messages(
        self, conversation_id: int, *, include_private: bool = True, limit: int | None = None,
        before: int | None = None,
    ) -> list[Message]:
        sql, args = page_of_messages(conversation_id, include_private, limit, before, "%s")

        async def run(c: Conn) -> list[Message]:
            return await rows.messages(c, await rows.all_rows(c, sql, args))

        return await self._read(run)

    async def changed_rows(self, changes: Sequence[Change]) -> tuple[dict[int, Conversation], dict[int, Message]]:
        """Another instance's committed group, read back in two statements (not two per change)."""
        conv_ids = sorted({ch.conversation_id for ch in changes})
        msg_ids = sorted({ch.message_id for ch in changes if ch.message_id is not None})

        async def run(c: Conn) -> tuple[dict[int, Conversation], dict[int, Message]]:
            convs = {r["id"]: rows.conversation(r) for r in await rows.all_rows(  # type: ignore[arg-type]
                c, "SELECT * FROM conversations WHERE id = ANY(%s)", (conv_ids,))}
            msgs: dict[int, Message] = {}
            if msg_ids:
                found = await rows.all_rows(c, "SELECT * FROM messages WHERE id = ANY(%s)", (msg_ids,))
                msgs = {m.id: m for m in await rows.messages(c, found)}
            return convs, msgs

        return await self._read(run)

    async def get_message(self, message_id: int) -> Message | None:
        async def run(c: Conn) -> Message | None:
            found = await rows.all_rows(c, "SELECT * FROM messages WHERE id = %s", (message_id,))
            return (await rows.messages(c, found))[0] if found else None

        return await self._read(run)

    async def update_conversation(self, conversation_id: int, **fields: Unpack[ConversationFields]) -> Conversation:
        """Set columns; `attrs` is merged (JSON merge patch), `labels` replaced."""
        sql, args = updates.conversation_statement(conversation_id, fields, self.now(), "%s",
                                                   "tpb_json_patch(attrs::jsonb, %s::jsonb)::text", json_text)

        async def run(c: Conn) -> Conversation:
            cur = await c.execute(sql, args)
            if cur.rowcount == 0:
                raise LookupError(f"conversation {conversation_id} not found")
            await notify.notify(c, self.instance, notify.conversation_updated(conversation_id, fields))
            return await rows.load_conversation(c, conversation_id)  # type: ignore[return-value]

        return await self._tx(run)

    async def attachment(self, attachment_id: int) -> tuple[Attachment, int] | None:
        """An attachment and the conversation it belongs to (for the authorised download)."""

        async def run(c: Conn) -> tuple[Attachment, int] | None:
            row = await rows.one(
                c, "SELECT a.*, m.conversation_id AS conv FROM attachments a JOIN messages m ON m.id = a.message_id"
                " WHERE a.id = %s", (attachment_id,))
            return None if row is None else (rows.attachment(row), row["conv"])  # type: ignore[arg-type]

        return await self._read(run)

    async def identity_messages(self, inbox: str, external_id: str, limit: int) -> list[Message]:
        """What a channel may show the person themself (the web chat's history): no private notes."""

        async def run(c: Conn) -> list[Message]:
            found = await rows.all_rows(
                c, "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " JOIN identities i ON i.id = c.identity_id"
                " WHERE i.inbox = %s AND i.external_id = %s AND m.private = 0"
                " ORDER BY m.id DESC LIMIT %s", (inbox, lookup_id(c, inbox, external_id), limit))
            found.reverse()
            return await rows.messages(c, found)

        return await self._read(run)

    async def resolved_between(self, since: float, until: float) -> list[int]:
        async def run(c: Conn) -> list[int]:
            return [r["id"] for r in await rows.all_rows(c, RESOLVED_BETWEEN, (since, until))]

        return await self._read(run)

    async def due_snoozes(self, now: float) -> list[int]:
        async def run(c: Conn) -> list[int]:
            return [r["id"] for r in await rows.all_rows(c, DUE_SNOOZES, (now,))]

        return await self._read(run)
