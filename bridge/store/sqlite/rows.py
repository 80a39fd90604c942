"""Rows to model objects; times are REAL unix seconds in the database."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from tpbridge.bridge import fastjson
from tpbridge.bridge.model import (
    Agent,
    Attachment,
    Author,
    AuthorKind,
    Contact,
    Conversation,
    Delivery,
    Direction,
    Identity,
    Message,
    Priority,
    Role,
    Status,
    Team,
    Viewer,
)
from tpbridge.bridge.store.protocol import OutboxItem
from tpbridge.bridge.store.sqlite.sealing import seal


def ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _json(text: str | None, empty: Any) -> Any:
    """Most rows hold the empty default: skip the parser for it (the inbox's hottest path)."""
    if not text or text in ("[]", "{}"):
        return empty() if callable(empty) else empty
    return fastjson.loads(text)


def _sealed_id(row: sqlite3.Row) -> str | None:
    return row["external_id_sealed"] if "external_id_sealed" in row.keys() else None


def identity(row: sqlite3.Row, link: str | None = None) -> Identity:
    return Identity(
        id=row["id"], contact_id=row["contact_id"], inbox=row["inbox"], channel=row["channel"],
        # with encryption the channel id is the sealed column's (external_id holds its keyed hash)
        external_id=_sealed_id(row) or row["external_id"], handle=row["handle"], unreachable=row["unreachable"],
        link=link,
    )


def contact(row: sqlite3.Row, identities: tuple[Identity, ...] = ()) -> Contact:
    return Contact(
        id=row["id"], name=row["name"], language=row["language"], tier=row["tier"],
        anonymous=bool(row["anonymous"]), email=row["email"], merged_into=row["merged_into"],
        identities=identities, created_at=ts(row["created_at"]),
    )


_CONVERSATION_FIELDS = [f.name for f in fields(Conversation)]
_TIMES = {_CONVERSATION_FIELDS.index(n) for n in ("last_message_at", "created_at", "last_activity_at", "snoozed_until",
                                                   "first_response_at", "resolved_at", "handoff_at")}
# One JSON row for many conversations (one sqlite3 step, see ingest_batch). JSON would print REAL
# with 15 digits; '%!.17g' keeps every bit of a unix time (tests compare with `conversation`).
CONVERSATIONS_JSON = (
    "SELECT json_group_array(json_array({})) FROM conversations WHERE id IN (SELECT value FROM json_each(?))"
).format(
    ", ".join(f"iif({name} IS NULL, NULL, printf('%!.17g', {name}))" if i in _TIMES else name
              for i, name in enumerate(_CONVERSATION_FIELDS)))
_STATUS, _PRIORITY, _LABELS, _ATTRS = (_CONVERSATION_FIELDS.index(n) for n in ("status", "priority", "labels", "attrs"))
_PRIORITIES = {p.value: p for p in Priority}
_STATUSES = {s.value: s for s in Status}  # a dict look-up: calling the enum costs more, 51 times a page


# A desk has a few dozen label sets, each on thousands of conversations: a label column's text is parsed once
# (1.9 of a labelled row's ~7 µs on a list page). The tuples are immutable; the cache is bounded.
_LABEL_SETS: dict[str, tuple[str, ...]] = {}


def _labels(text: str | None) -> tuple[str, ...]:
    if not text or text == "[]":
        return ()
    found = _LABEL_SETS.get(text)
    if found is None:
        found = tuple(_json(text, ()))
        if len(_LABEL_SETS) >= 1024:
            _LABEL_SETS.clear()
        _LABEL_SETS[text] = found
    return found


def _conversation(values: list[Any]) -> Conversation:
    """A conversation from its column values in `Conversation`'s field order; times as unix seconds
    (a float, or the exact text CONVERSATIONS_JSON prints)."""
    for i in _TIMES:
        if values[i] is not None:
            values[i] = datetime.fromtimestamp(float(values[i]), UTC)
    status = values[_STATUS]
    values[_STATUS] = _STATUSES.get(status) or Status(status)  # an unknown word raises as before
    values[_PRIORITY] = _PRIORITIES.get(values[_PRIORITY], Priority.NORMAL)
    values[_LABELS] = _labels(values[_LABELS])
    values[_ATTRS] = _json(values[_ATTRS], dict)
    return Conversation(*values)


_THREAD_KEY = _CONVERSATION_FIELDS.index("thread_key")


# sqlite3.Row finds a column by name with a case-insensitive scan of every column: 25 names x ~28 columns
# made a row 12 µs (0.6 ms of a page of 50). Each query shape's positions are worked out once instead.
_POSITIONS: dict[tuple[str, ...], tuple[itemgetter[Any], int | None]] = {}
_BY_NAME = itemgetter(*_CONVERSATION_FIELDS)


def _positions(keys: tuple[str, ...]) -> tuple[itemgetter[Any], int | None]:
    found = _POSITIONS.get(keys)
    if found is None:
        sealed = keys.index("thread_key_sealed") if "thread_key_sealed" in keys else None
        found = (itemgetter(*(keys.index(name) for name in _CONVERSATION_FIELDS)), sealed)
        if len(_POSITIONS) < 64:  # a handful of query shapes read conversations
            _POSITIONS[keys] = found
    return found


def conversation(row: sqlite3.Row) -> Conversation:
    if type(row) is sqlite3.Row:
        at, sealed = _positions(tuple(row.keys()))
        values = list(at(row))
        if sealed is not None and row[sealed] is not None:
            values[_THREAD_KEY] = row[sealed]  # encrypted: thread_key holds its keyed hash
        return _conversation(values)
    values = list(_BY_NAME(row))  # PostgreSQL's dict rows, OpenRow (encryption)
    if "thread_key_sealed" in row.keys() and row["thread_key_sealed"] is not None:
        values[_THREAD_KEY] = row["thread_key_sealed"]  # encrypted: thread_key holds its keyed hash
    return _conversation(values)


# The list's columns: Conversation's fields in order, then the sealed thread key. A page's 51 rows are read by
# position (a by-name look-up of each column cost more than the rest of turning a row into a Conversation).
CONVERSATION_COLUMNS = ", ".join(f"c.{name}" for name in _CONVERSATION_FIELDS) + ", c.thread_key_sealed"
CONVERSATION_WIDTH = len(_CONVERSATION_FIELDS) + 1
CONTACT_ID, ASSIGNEE_ID, LAST_ACTIVITY_AT = (_CONVERSATION_FIELDS.index(n)
                                             for n in ("contact_id", "assignee_id", "last_activity_at"))


def conversation_of(row: Sequence[Any]) -> Conversation:
    """A conversation from a row that starts with CONVERSATION_COLUMNS (a tuple, sqlite3.Row or opened row)."""
    values = list(row[:CONVERSATION_WIDTH - 1])
    if row[CONVERSATION_WIDTH - 1] is not None:
        values[_THREAD_KEY] = row[CONVERSATION_WIDTH - 1]  # encrypted: thread_key holds its keyed hash
    return _conversation(values)


def conversations_from_json(text: str) -> dict[int, Conversation]:
    """What CONVERSATIONS_JSON read (the ingest burst path)."""
    return {values[0]: _conversation(values) for values in fastjson.loads(text)}


def attachment(row: sqlite3.Row) -> Attachment:
    return Attachment(
        id=row["id"], kind=row["kind"], mime=row["mime"], filename=row["filename"], size=row["size"],
        sha256=row["sha256"],
    )


def message(row: sqlite3.Row, attachments: tuple[Attachment, ...] = ()) -> Message:
    return Message(
        id=row["id"], conversation_id=row["conversation_id"], inbox=row["inbox"],
        direction=Direction(row["direction"]),
        author=Author(AuthorKind(row["author_kind"]), row["author_id"], row["author_name"]),
        text=row["text"], html=row["html"], private=bool(row["private"]),
        external_id=_sealed_id(row) or row["external_id"],
        delivery=Delivery(row["delivery"]) if row["delivery"] else None, error=row["error"],
        created_at=ts(row["created_at"]),  # type: ignore[arg-type]
        language=row["language"], reply_to=row["reply_to"], auto=bool(row["auto"]),
        attachments=attachments, extra=_json(row["extra"], dict), edited_at=ts(row["edited_at"]),
    )


# An agent's row with its teams' names, in one statement (every API request reads its agent, and a page of
# conversations its assignees). Sorted here: json_group_array promises no order (SQLite compares names
# byte-wise, as Python compares the code points UTF-8 encodes in that order).
AGENT_WITH_TEAMS = ("a.*, (SELECT json_group_array(t.name) FROM teams t JOIN agent_teams at ON at.team_id = t.id"
                    " WHERE at.agent_id = a.id) AS team_names")


# With it, the `inboxes` of the agent's teams (what their viewer may see unassigned).
TEAM_INBOXES = ("(SELECT json_group_array(t.inboxes) FROM teams t JOIN agent_teams at ON at.team_id = t.id"
                " WHERE at.agent_id = a.id) AS team_inboxes")


def agent_with_teams(row: sqlite3.Row) -> Agent:
    return agent(row, tuple(sorted(json.loads(row["team_names"]))))


def viewer(agent: Agent, inbox_lists: Sequence[str | None]) -> Viewer:
    """The agent's viewer from their teams' `inboxes` columns (JSON lists)."""
    inboxes: set[str] = set()
    for listed in inbox_lists:
        inboxes.update(json.loads(listed or "[]"))
    return Viewer(agent.id, agent.role, agent.teams, tuple(sorted(inboxes)))


def agent(row: sqlite3.Row, teams: tuple[str, ...] = ()) -> Agent:
    return Agent(
        id=row["id"], email=row["email"], name=row["name"], role=Role(row["role"]), teams=teams,
        languages=tuple(json.loads(row["languages"] or "[]")), ui_language=row["ui_language"],
        presence=row["presence"] or "away", capacity=row["capacity"] or 0, disabled=bool(row["disabled"]),
    )


def team(row: sqlite3.Row) -> Team:
    return Team(id=row["id"], name=row["name"], inboxes=tuple(json.loads(row["inboxes"] or "[]")),
                lead_id=row["lead_id"])


def outbox_item(row: sqlite3.Row | Mapping[str, Any]) -> OutboxItem:
    """An outbox row as delivery sees it (the PostgreSQL store's rows too: the same columns)."""
    return OutboxItem(
        id=row["id"], message_id=row["message_id"], conversation_id=row["conversation_id"], inbox=row["inbox"],
        attempts=row["attempts"], due_at=row["due_at"],
    )


def load_attachments(conn: sqlite3.Connection, message_ids: list[int]) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {}
    if not message_ids:
        return found
    marks = ",".join("?" * len(message_ids))
    for row in conn.execute(f"SELECT * FROM attachments WHERE message_id IN ({marks}) ORDER BY id", message_ids):
        found.setdefault(row["message_id"], []).append(attachment(row))
    return found


def insert_parts(conn: sqlite3.Connection, message_id: int, attachments: Sequence[Any]) -> None:
    """A new message's attachment rows, written in the message's transaction (search terms follow
    in batches: search_index.py)."""
    for att in attachments:
        conn.execute(
            "INSERT INTO attachments (message_id, kind, mime, filename, size, sha256) VALUES (?,?,?,?,?,?)",
            (message_id, att.kind, att.mime, seal(conn, att.filename), att.size, att.sha256),
        )


def load_message(conn: sqlite3.Connection, message_id: int) -> Message:
    row = conn.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
    atts = load_attachments(conn, [message_id]).get(message_id, [])
    return message(row, tuple(atts))


def load_conversation(conn: sqlite3.Connection, conversation_id: int) -> Conversation | None:
    row = conn.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    return None if row is None else conversation(row)


def family(conn: sqlite3.Connection, contact_id: int) -> list[int]:
    """The contact and every contact merged into it (their conversations are its history)."""
    return [contact_id] + [r[0] for r in conn.execute(
        "SELECT id FROM contacts WHERE merged_into = ? ORDER BY id", (contact_id,))]


def family_conversations(conn: sqlite3.Connection, contact_ids: Sequence[int]) -> list[Conversation]:
    """The conversations of these contacts, oldest first."""
    ids = list(contact_ids)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return [conversation(r) for r in conn.execute(
        f"SELECT * FROM conversations WHERE contact_id IN ({marks}) ORDER BY id", ids)]
