"""Many ingests in one pass: what the writer does when a burst of chat messages is queued.

`ingest_tx` runs about seven statements per message. Under load the writer finds
dozens of ingests queued at once; for plain messages (text from a sender, no edit,
no thread hint, no attachment, no conversation attributes) the same work is done
with a handful of set-wise statements for the whole group: the lookups and the
inserts are set-wise, the planning step (which identity, which conversation) is
ingest.py's own, called on the looked-up rows. Anything else goes
through `ingest_tx` one call at a time, in order. The outcome is the same either
way (tests/bridge/test_store.py compares them). The burst pass hands back ids
(`Written`); the model objects for the events are built by the caller, off the
writer thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tpbridge.bridge import fastjson
from tpbridge.bridge.model import Conversation
from tpbridge.bridge.store.protocol import IngestedItem, PreparedInbound
from tpbridge.bridge.store.sqlite import rows
from tpbridge.bridge.store.sqlite.ingest import (
    KnownIdentity,
    OpenConversation,
    ingest_tx,
    message_extra,
    save_checkpoint,
    settle_conversation,
    settle_identity,
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
            and not p.record.conversation_facts() and not p.record.system
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


def _json(value: list[str] | list[int]) -> str:
    return fastjson.dumps_compact(value)


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


@dataclass(slots=True)
class Placed:
    """Where one record of the burst goes (the planning step's outcome), then its message id."""

    write: IngestWrite
    prep: PreparedInbound
    conversation_id: int
    contact_id: int
    created: bool
    extra: str  # the message's `extra` as stored
    message_id: int = 0


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
    known: dict[tuple[str, str], KnownIdentity] = {}  # (inbox, the sender's external id) -> identity
    open_conv: dict[int, OpenConversation] = {}  # identity id -> its open conversation
    for inbox, (ids, senders) in by_inbox.items():
        found, idents, convs = conn.execute(_LOOKUP, (inbox, _json(list(ids)), _json(list(senders)))).fetchone()
        stored.update((inbox, e) for e in fastjson.loads(found))
        for ident_id, contact_id, handle, external_id, name in fastjson.loads(idents):
            known[(inbox, external_id)] = KnownIdentity(ident_id, contact_id, handle, name)
        for conv_id, identity_id, status in fastjson.loads(convs):  # by id: the newest one stays
            open_conv[identity_id] = OpenConversation(conv_id, status)

    # The planning step: the same two calls as ingest_tx, on the rows looked up above.
    planned: list[Placed | None] = []
    for w, prep in recs:
        rec = prep.record
        key = (w.inbox, rec.external_id)
        if key in stored:
            planned.append(None)
            continue
        stored.add(key)
        sender_key = (w.inbox, rec.sender.external_id)
        ident = known[sender_key] = settle_identity(conn, w.inbox, w.channel, rec.sender, known.get(sender_key),
                                                    w.now)
        target = settle_conversation(conn, w.inbox, w.channel, rec, ident.id, ident.contact_id, w.now,
                                     open_conv.get(ident.id))
        open_conv[ident.id] = OpenConversation(target.conversation_id, "open")
        planned.append(Placed(w, prep, target.conversation_id, ident.contact_id, target.created, message_extra(rec)))

    todo = [p for p in planned if p is not None]
    first = (conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0) + 1
    if todo:
        conn.executemany(_INSERT_MESSAGES, [
            (p.conversation_id, p.write.inbox, p.contact_id, p.prep.record.sender.name, p.prep.record.text,
             p.prep.html, p.prep.record.external_id, p.write.now, p.prep.record.sent_at.timestamp(),
             p.prep.record.reply_to, p.extra) for p in todo])
        # One writer, no AUTOINCREMENT: new rowids are max+1, max+2, ... — checked, not assumed.
        if conn.execute("SELECT max(id) FROM messages").fetchone()[0] != first + len(todo) - 1:
            raise RuntimeError("message ids were not consecutive")  # the writer reruns each write alone
    summary: dict[int, tuple[int, str, float, int]] = {}  # conversation -> (id, preview, at, new messages)
    for n, p in enumerate(todo):
        p.message_id = first + n
        before = summary.get(p.conversation_id)
        summary[p.conversation_id] = (p.conversation_id, p.prep.record.text[:200], p.write.now,
                                      1 + (before[3] if before else 0))
    group = _Group("[]")
    if summary:
        conn.executemany("UPDATE conversations SET last_message_text = ?2, last_message_at = ?3, last_activity_at = ?3,"
                         " updated_at = ?3, unread = unread + ?4 WHERE id = ?1", list(summary.values()))
        group = _Group(conn.execute(rows.CONVERSATIONS_JSON, (_json(list(summary)),)).fetchone()[0])
    for _, w in writes:
        if w.checkpoint is not None:
            save_checkpoint(conn, w.inbox, w.checkpoint, w.now)

    done: dict[int, list[Placed | None]] = {id(w): [] for _, w in writes}
    for (w, _prep), plan in zip(recs, planned, strict=True):
        done[id(w)].append(plan)
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
    done: list[Placed | None]  # per record; None: a duplicate

    def items(self) -> list[IngestedItem]:
        w, out = self.write, []
        for prep, p in zip(w.batch, self.done, strict=True):
            if p is None:
                out.append(IngestedItem(None))
                continue
            msg = written_message(p.message_id, p.conversation_id, w.inbox, p.contact_id, prep, w.now, p.extra)
            out.append(IngestedItem(p.message_id, message=msg, conversation=self.group.conversation(p.conversation_id),
                                    created=p.created))
        return out


def finished(result: list[IngestedItem] | Written) -> list[IngestedItem]:
    """What an `IngestWrite` gave, whichever way the writer ran it."""
    return result.items() if isinstance(result, Written) else result
