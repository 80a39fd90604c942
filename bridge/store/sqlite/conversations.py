"""Reading and changing conversations: the inbox list, one conversation, its messages."""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Unpack

from tpbridge.bridge.model import Agent, Attachment, Contact, Conversation, Message, Viewer
from tpbridge.bridge.store import filters, updates
from tpbridge.bridge.store.protocol import BIGINT, ConversationFields, ConversationFilter, Page
from tpbridge.bridge.store.sqlite import people, rows, search_index
from tpbridge.bridge.store.sqlite.base import SqliteBase
from tpbridge.bridge.store.sqlite.sealing import lookup_id, match_terms
from tpbridge.bridge.store.sqlite.search_match import SearchMatch


def encode_cursor(activity: float, conv_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([activity, conv_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int]:
    """ValueError or TypeError for anything but a cursor a page gave (its id 64-bit, as both stores keep it)."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    activity, conv_id = json.loads(raw)
    if not -BIGINT <= int(conv_id) < BIGINT:
        raise ValueError("cursor: the conversation id is out of range")
    return float(activity), int(conv_id)


def visibility(viewer: Viewer) -> tuple[str, list[Any]]:
    """SQL for Viewer.may_see: enforced in the query, not only hidden in the page."""
    if viewer.is_admin:
        return "1", []
    teams = list(viewer.teams) or [""]
    tmarks = ",".join("?" * len(teams))
    clauses = [f"c.team IN ({tmarks})", "(c.team IS NULL AND c.assignee_id = ?)"]
    args: list[Any] = [*teams, viewer.agent_id]
    if "*" in viewer.team_inboxes:
        clauses.append("(c.team IS NULL AND c.assignee_id IS NULL)")
    elif viewer.team_inboxes:
        imarks = ",".join("?" * len(viewer.team_inboxes))
        clauses.append(f"(c.team IS NULL AND c.assignee_id IS NULL AND c.inbox IN ({imarks}))")
        args.extend(viewer.team_inboxes)
    return "(" + " OR ".join(clauses) + ")", args


def page_of_messages(conversation_id: int, include_private: bool, limit: int | None, before: int | None,
                     mark: str) -> tuple[str, list[Any]]:
    """SQL for a conversation's messages, oldest first: all, or the newest `limit` below `before`
    (the same text for both stores but for the parameter mark)."""
    sql, args = f"SELECT * FROM messages WHERE conversation_id = {mark}", [conversation_id]
    if not include_private:
        sql += " AND private = 0"
    if before is not None:
        sql += f" AND id < {mark}"
        args.append(before)
    if limit is None:
        return sql + " ORDER BY id", args
    args.append(limit)
    return f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {mark}) AS newest ORDER BY id", args


def resolved(c: sqlite3.Connection, query: str, args: list[Any]) -> tuple[str, list[Any]] | None:
    """The list's SQL and arguments with what is decided on the connection filled in: a search's terms spelled
    out, a label filter's clause chosen. None: the search's prefix stands for no term in the index."""
    for i, arg in enumerate(args):
        if isinstance(arg, SearchMatch):
            expression = arg.expression(c)
            if expression is None:
                return None
            args = [*args[:i], expression, *args[i + 1:]]
        elif isinstance(arg, LabelFilter):
            query = query.replace(LABEL_MARK, label_clause(c, arg.label))
            args = [*args[:i], arg.label, *args[i + 1:]]
    return query, args


def _page(c: sqlite3.Connection, query: str, args: list[Any], limit: int) -> Page:
    ready = resolved(c, query, args)
    if ready is None:
        return Page([], None)
    found = c.execute(*ready).fetchall()
    items = [rows.conversation_of(r) for r in found[:limit]]
    nxt = None
    if len(found) > limit:
        last = found[limit - 1]
        nxt = encode_cursor(last[rows.LAST_ACTIVITY_AT], last[0])
    return Page(items, nxt)


# A label filter (migration 38). A rare label's conversations are looked up and sorted (~2.5 µs each); a
# common one's are met soon enough walking the activity index and opening each conversation's labels (~0.4 µs
# each, until 51 match). The two cost the same near sqrt(8 x conversations) carrying the label (~900 at
# 100,000): a rare label took 40 ms the second way, a label on a third of them 75 ms the first (bench/README.md).
LABEL_LOOKED_UP = "AND c.id IN (SELECT conversation_id FROM conversation_labels WHERE label = ?)"
LABEL_SCANNED = "AND EXISTS (SELECT 1 FROM json_each(c.labels) WHERE json_each.value = ?)"
FEW_LABELLED_AT_LEAST = 200
LABEL_MARK = "AND /*label*/"  # where the list's SQL takes one of the two, chosen in its read (`resolved`)


@dataclass(frozen=True, slots=True)
class LabelFilter:
    """The label a list filters by, as the list's argument for LABEL_MARK."""

    label: str


def label_clause(c: sqlite3.Connection, label: str) -> str:
    newest = c.execute("SELECT max(id) FROM conversations").fetchone()[0] or 0
    few = max(FEW_LABELLED_AT_LEAST, int((8 * newest) ** 0.5))
    carrying = c.execute("SELECT count(*) FROM (SELECT 1 FROM conversation_labels WHERE label = ? LIMIT ?)",
                         (label, few + 1)).fetchone()[0]
    return LABEL_LOOKED_UP if carrying <= few else LABEL_SCANNED


# The two background look-ups name their partial index (migrations 33, 36): with no statistics SQLite's planner
# takes the status tabs' index (migration 37) for `status = ?` instead, and walks every resolved conversation.
RESOLVED_BETWEEN = ("SELECT id FROM conversations INDEXED BY conversations_resolved WHERE status = 'resolved'"
                    " AND resolved_at > ? AND resolved_at <= ? ORDER BY resolved_at LIMIT 500")
DUE_SNOOZES = ("SELECT id FROM conversations INDEXED BY conversations_due_snoozes WHERE status = 'snoozed'"
               " AND snoozed_until <= ?")


class ConversationStore(SqliteBase):
    async def index_search(self) -> int:
        total = 0
        while (done := await self._write(search_index.index_pending)) == search_index.BATCH:
            total += done  # one batch per writer job: ingests queued meanwhile go in between
        return total + done

    async def get_conversation(self, conversation_id: int) -> Conversation | None:
        return await self._read(lambda c: rows.load_conversation(c, conversation_id))

    async def list_conversations(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> Page:
        query = await self._list_query(viewer, flt, limit, cursor)
        return Page([], None) if query is None else await self._read(lambda c: _page(c, *query, limit))

    async def conversation_page(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> tuple[Page, dict[int, Contact], dict[int, Agent]]:
        query = await self._list_query(viewer, flt, limit, cursor)
        if query is None:
            return Page([], None), {}, {}

        def run(c: sqlite3.Connection) -> tuple[Page, dict[int, Contact], dict[int, Agent]]:
            page = _page(c, *query, limit)
            return page, *people.contacts_and_agents(c, [v.contact_id for v in page.items], [
                v.assignee_id for v in page.items if v.assignee_id is not None])

        return await self._read(run)

    async def _list_query(
        self, viewer: Viewer, flt: ConversationFilter, limit: int, cursor: str | None
    ) -> tuple[str, list[Any]] | None:
        """The list's SQL and its arguments; None when a search has no terms (nothing matches)."""
        where, args = visibility(viewer)
        sql = [f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations c WHERE", where]
        if flt.status and flt.status != "all":
            # The status tabs' indexes (migrations 37, 39) for a tab alone or of one inbox: with no statistics
            # SQLite takes them over the assignee's, a contact's or a label's look-up whenever a status is given,
            # and walks every open conversation for a filter that picks ten (`+` keeps a column's term out of
            # index choice; then the narrower filter's index is walked).
            narrower = flt.assignee not in (None, "", "all", "unassigned") or flt.contact_id is not None or flt.label
            unassigned_alone = flt.assignee == "unassigned" and not flt.inbox
            sql.append("AND +c.status = ?" if narrower or unassigned_alone else "AND c.status = ?")
            args.append(flt.status)
        terms, values = filters.equal_terms(viewer, flt, "?")
        sql += terms
        args += values
        if flt.label:  # which clause is decided in the list's own read (`resolved`)
            sql.append(LABEL_MARK)
            args.append(LabelFilter(flt.label))
        if flt.q:
            match = match_terms(self.codec, flt.q)
            if match is None:
                return None
            await self.index_search()  # a search sees every message stored before it
            # `+c.id`: walk the conversations newest first and test each against the matched set, instead of
            # fetching every matched conversation by id and sorting them all (71 ms vs 14 ms for a term in a
            # third of 100,000 conversations; a rare term scans the activity index, ~11 ms at that size).
            sql.append("AND +c.id IN (SELECT rowid >> 32 FROM message_search WHERE message_search MATCH ?)")
            args.append(match)
        if cursor:
            activity, conv_id = decode_cursor(cursor)
            sql.append("AND (c.last_activity_at < ? OR (c.last_activity_at = ? AND c.id < ?))")
            args.extend([activity, activity, conv_id])
        sql.append("ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?")
        args.append(limit + 1)
        return " ".join(sql), args

    async def list_messages(
        self, conversation_id: int, *, include_private: bool = True, limit: int | None = None,
        before: int | None = None,
    ) -> list[Message]:
        sql, args = page_of_messages(conversation_id, include_private, limit, before, "?")

        def run(c: sqlite3.Connection) -> list[Message]:
            found = c.execute(sql, args).fetchall()
            atts = rows.load_attachments(c, [r["id"] for r in found])
            return [rows.message(r, tuple(atts.get(r["id"], ()))) for r in found]

        return await self._read(run)

    async def get_message(self, message_id: int) -> Message | None:
        def run(c: sqlite3.Connection) -> Message | None:
            if c.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone() is None:
                return None
            return rows.load_message(c, message_id)

        return await self._read(run)

    async def update_conversation(self, conversation_id: int, **fields: Unpack[ConversationFields]) -> Conversation:
        """Set columns; `attrs` is merged (JSON patch), `labels` replaced."""
        sql, args = updates.conversation_statement(conversation_id, fields, self.now(), "?", "json_patch(attrs, ?)")

        def run(c: sqlite3.Connection) -> Conversation:
            cur = c.execute(sql, args)
            if cur.rowcount == 0:
                raise LookupError(f"conversation {conversation_id} not found")
            return rows.load_conversation(c, conversation_id)  # type: ignore[return-value]

        return await self._write(run)

    async def attachment(self, attachment_id: int) -> tuple[Attachment, int] | None:
        """An attachment and the conversation it belongs to (for the authorised download)."""

        def run(c: sqlite3.Connection) -> tuple[Attachment, int] | None:
            row = c.execute(
                "SELECT a.*, m.conversation_id AS conv FROM attachments a JOIN messages m ON m.id = a.message_id"
                " WHERE a.id = ?", (attachment_id,)).fetchone()
            return None if row is None else (rows.attachment(row), row["conv"])

        return await self._read(run)

    async def identity_messages(self, inbox: str, external_id: str, limit: int) -> list[Message]:
        """What a channel may show the person themself (the web chat's history): no private notes."""

        def run(c: sqlite3.Connection) -> list[Message]:
            found = c.execute(
                "SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id"
                " JOIN identities i ON i.id = c.identity_id"
                " WHERE i.inbox = ? AND i.external_id = ? AND m.private = 0"
                " ORDER BY m.id DESC LIMIT ?", (inbox, lookup_id(c, inbox, external_id), limit)).fetchall()
            found.reverse()
            atts = rows.load_attachments(c, [r["id"] for r in found])
            return [rows.message(r, tuple(atts.get(r["id"], ()))) for r in found]

        return await self._read(run)

    async def resolved_between(self, since: float, until: float) -> list[int]:
        return await self._read(lambda c: [r[0] for r in c.execute(RESOLVED_BETWEEN, (since, until))])

    async def due_snoozes(self, now: float) -> list[int]:
        return await self._read(lambda c: [r[0] for r in c.execute(DUE_SNOOZES, (now,))])
