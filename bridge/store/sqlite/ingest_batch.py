"""Many ingests in one pass: what the writer does when a burst of chat messages is queued.

`ingest_tx` runs about seven statements per message. Under load the writer finds
dozens of ingests queued at once; for plain messages (text from a sender, no edit,
no thread hint, no attachment, no conversation attributes) the same work is done
with a handful of set-wise statements for the whole group. Anything else goes
through `ingest_tx` one call at a time, in order. The outcome is the same either
way (tests/bridge/test_store.py compares them). The burst pass hands back ids
(`Written`); the model objects for the events are built by the caller, off the
writer thread.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from tpbridge.bridge.model import Conversation
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound
from tpbridge.bridge.store.sqlite import rows
from tpbridge.bridge.store.sqlite.ingest import (
    _identity,
    _join,
    _new_conversation,
    ingest_tx,
    message_extra,
    save_checkpoint,
    written_message,
)
from tpbridge.bridge.store.sqlite.writer import Batchable


@dataclass(slots=True)
class IngestWrite(Batchable):
    inbox: str
    channel: str
    batch: list[PreparedInbound]
    checkpoint: str | None
    now: float

    def __call__(self, conn: sqlite3.Connection) -> list[IngestedItem]:
        return ingest_tx(conn, self.inbox, self.channel, self.batch, self.checkpoint, self.now)

    @property
    def plain(self) -> bool:
        return all(
            p.record.edit_of is None and p.record.thread is None and not p.attachments
            and not p.record.conversation_attrs and not p.record.system
            and "\x00" not in p.record.external_id and "\x00" not in p.record.sender.external_id
            for p in self.batch
        )

    @classmethod
    def run_many(cls, conn: sqlite3.Connection, writes: list[Batchable]) -> list[object]:
        results: list[object] = [None] * len(writes)
        if getattr(conn, "codec", None) is not None:  # the burst pass reads values in SQL (JSON): not sealed ones
            return [w(conn) for w in writes]
        plain: list[tuple[int, IngestWrite]] = []
        for i, w in enumerate(writes):
            assert isinstance(w, IngestWrite)
            if w.plain:
                plain.append((i, w))
                continue
            _fast(conn, plain, results)  # keep the order: what came before goes first
            plain = []
            results[i] = w(conn)
        _fast(conn, plain, results)
        return results


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Each lookup is one statement returning one row of JSON (ids with a NUL in them take ingest_tx:
# SQLite's JSON functions end a string there). A statement per row would hand the
# GIL to the event loop and back at every row (sqlite3 releases it around each step), and under
# load each hand-back waits for the loop: the writer's batch took twice its CPU time.
_LOOKUP = (
    "SELECT (SELECT json_group_array(external_id) FROM messages"
    "        WHERE inbox = ?1 AND external_id IN (SELECT value FROM json_each(?2))),"
    " (SELECT json_group_array(json_array(i.id, i.contact_id, i.handle, i.external_id, c.name))"
    "  FROM identities i JOIN contacts c ON c.id = i.contact_id"
    "  WHERE i.inbox = ?1 AND i.external_id IN (SELECT value FROM json_each(?3))),"
    " (SELECT json_group_array(json_array(id, identity_id, status)) FROM ("
    "  SELECT v.id, v.identity_id, v.status FROM conversations v JOIN identities i ON i.id = v.identity_id"
    "  WHERE i.inbox = ?1 AND i.external_id IN (SELECT value FROM json_each(?3)) AND v.status != 'resolved'"
    "  ORDER BY v.id))"
)
_INSERT_MESSAGES = (
    "INSERT INTO messages (conversation_id, inbox, direction, author_kind, author_id, author_name, text, html,"
    " private, external_id, created_at, sent_at, reply_to, extra) VALUES (?,?, 'in', 'contact', ?,?,?,?, 0, ?,?,?,?,?)"
)


def _fast(conn: sqlite3.Connection, writes: list[tuple[int, IngestWrite]], results: list[object]) -> None:
    if not writes:
        return
    if len(writes) == 1:
        i, w = writes[0]
        results[i] = w(conn)
        return
    recs = [(w, prep) for _, w in writes for prep in w.batch]
    by_inbox: dict[str, tuple[set[str], set[str]]] = {}
    for w, prep in recs:
        ids, senders = by_inbox.setdefault(w.inbox, (set(), set()))
        ids.add(prep.record.external_id)
        senders.add(prep.record.sender.external_id)
    stored: set[tuple[str, str]] = set()
    known: dict[tuple[str, str], list[Any]] = {}  # (inbox, sender) -> [id, contact_id, handle, external_id, name]
    open_conv: dict[int, tuple[int, str]] = {}
    for inbox, (ids, senders) in by_inbox.items():
        found, idents, convs = conn.execute(_LOOKUP, (inbox, _json(list(ids)), _json(list(senders)))).fetchone()
        stored.update((inbox, e) for e in json.loads(found))
        for ident in json.loads(idents):
            known[(inbox, ident[3])] = ident
        for conv_id, identity_id, status in json.loads(convs):
            open_conv[identity_id] = (conv_id, status)

    planned: list[tuple[IngestWrite, PreparedInbound, int, int, bool] | None] = []
    for w, prep in recs:
        rec = prep.record
        key = (w.inbox, rec.external_id)
        if key in stored:
            planned.append(None)
            continue
        stored.add(key)
        row = known.get((w.inbox, rec.sender.external_id))
        if row is None or (rec.sender.handle and rec.sender.handle != row[2]) or (rec.sender.name and row[4] is None):
            identity_id, contact_id = _identity(conn, w.inbox, w.channel, rec, w.now)
            if row is None:
                known[(w.inbox, rec.sender.external_id)] = [identity_id, contact_id, rec.sender.handle,
                                                            rec.sender.external_id, rec.sender.name]
        else:
            identity_id, contact_id = row[0], row[1]
        created = False
        found_conv = open_conv.get(identity_id)
        if found_conv is None:
            conv_id = _new_conversation(conn, w.inbox, w.channel, contact_id, identity_id, rec, w.now).conversation_id
            created = True
        else:
            conv_id = found_conv[0]
            if found_conv[1] == "snoozed":
                _join(conn, conv_id, w.now, "snoozed")
        open_conv[identity_id] = (conv_id, "open")
        planned.append((w, prep, conv_id, contact_id, created))

    todo = [p for p in planned if p is not None]
    first = (conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0) + 1
    values, extras = [], []
    for w, prep, conv_id, contact_id, _created in todo:
        rec = prep.record
        extras.append(message_extra(rec))
        values.append((conv_id, w.inbox, contact_id, rec.sender.name, rec.text, prep.html, rec.external_id, w.now,
                       rec.sent_at.timestamp(), rec.reply_to, extras[-1]))
    if todo:
        conn.executemany(_INSERT_MESSAGES, values)
        # One writer, no AUTOINCREMENT: new rowids are max+1, max+2, ... — checked, not assumed.
        if conn.execute("SELECT max(id) FROM messages").fetchone()[0] != first + len(todo) - 1:
            raise RuntimeError("message ids were not consecutive")  # the writer reruns each write alone
    summary: dict[int, list[Any]] = {}
    for w, prep, conv_id, _c, _created in todo:
        s = summary.setdefault(conv_id, [conv_id, None, w.now, 0])
        s[1], s[2], s[3] = prep.record.text[:200], w.now, s[3] + 1
    group = _Group("[]")
    if summary:
        conn.executemany("UPDATE conversations SET last_message_text = ?2, last_message_at = ?3, last_activity_at = ?3,"
                         " updated_at = ?3, unread = unread + ?4 WHERE id = ?1", list(summary.values()))
        group = _Group(conn.execute(rows.CONVERSATIONS_JSON, (_json(list(summary)),)).fetchone()[0])
    for _, w in writes:
        if w.checkpoint is not None:
            save_checkpoint(conn, w.inbox, w.checkpoint, w.now)

    done: dict[int, list[tuple[int, int, int, bool, str] | None]] = {id(w): [] for _, w in writes}
    n = 0
    for (w, _prep), plan in zip(recs, planned, strict=True):
        if plan is None:
            done[id(w)].append(None)
            continue
        _w, _p, conv_id, contact_id, created = plan
        done[id(w)].append((first + n, conv_id, contact_id, created, extras[n]))
        n += 1
    for i, w in writes:
        results[i] = Written(group, w, done[id(w)])


@dataclass(slots=True)
class _Group:
    """The conversations one burst pass touched, as read after its updates (one JSON text)."""

    conversations_json: str
    _built: dict[int, Conversation] | None = None

    def conversation(self, conversation_id: int) -> Conversation:
        if self._built is None:
            self._built = rows.conversations_from_json(self.conversations_json)
        return self._built[conversation_id]


@dataclass(slots=True)
class Written:
    """A plain write's outcome from the burst pass, still as ids.

    The model objects for its events are built by `items()` on the reader's side (the event
    loop), not in the writer thread: every write in the process waits for that one thread.
    """

    group: _Group
    write: IngestWrite
    # per record (None: a duplicate): message id, conversation, contact, created, the stored `extra`
    done: list[tuple[int, int, int, bool, str] | None]

    def items(self) -> list[IngestedItem]:
        w, out = self.write, []
        for prep, d in zip(w.batch, self.done, strict=True):
            if d is None:
                out.append(IngestedItem(None))
                continue
            message_id, conv_id, contact_id, created, extra_json = d
            msg = written_message(message_id, conv_id, w.inbox, contact_id, prep, w.now, extra_json)
            out.append(IngestedItem(message_id, message=msg, conversation=self.group.conversation(conv_id),
                                    created=created))
        return out


def finished(result: list[IngestedItem] | Written) -> list[IngestedItem]:
    """What an `IngestWrite` gave, whichever way the writer ran it."""
    return result.items() if isinstance(result, Written) else result
