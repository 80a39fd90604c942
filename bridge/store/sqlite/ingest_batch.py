"""Many ingests in one pass: what the writer does when a burst of chat messages is queued.

`ingest_tx` runs about seven statements per message. Under load the writer finds
dozens of ingests queued at once; for plain messages (text from a sender, no edit,
no thread hint, no attachment, no conversation attributes) the same work is done
with a handful of set-wise statements for the whole group. Anything else goes
through `ingest_tx` one call at a time, in order. The outcome is the same either
way (tests/bridge/test_store.py compares them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from tpbridge.bridge.search import index_text
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

CHUNK = 400  # bound parameters per IN (...) list, well under SQLite's limit


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
            for p in self.batch
        )

    @classmethod
    def run_many(cls, conn: sqlite3.Connection, writes: list[Batchable]) -> list[object]:
        results: list[object] = [None] * len(writes)
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


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _fast(conn: sqlite3.Connection, writes: list[tuple[int, IngestWrite]], results: list[object]) -> None:
    if not writes:
        return
    if len(writes) == 1:
        i, w = writes[0]
        results[i] = w(conn)
        return
    recs = [(w, prep) for _, w in writes for prep in w.batch]
    by_inbox: dict[str, set[str]] = {}
    senders: dict[str, set[str]] = {}
    for w, prep in recs:
        by_inbox.setdefault(w.inbox, set()).add(prep.record.external_id)
        senders.setdefault(w.inbox, set()).add(prep.record.sender.external_id)
    stored: set[tuple[str, str]] = set()
    known: dict[tuple[str, str], sqlite3.Row] = {}
    for inbox, ids in by_inbox.items():
        for chunk in _chunks(sorted(ids)):
            marks = ",".join("?" * len(chunk))
            stored.update((inbox, r[0]) for r in conn.execute(
                f"SELECT external_id FROM messages WHERE inbox = ? AND external_id IN ({marks})", (inbox, *chunk)))
        for chunk in _chunks(sorted(senders[inbox])):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(
                "SELECT i.id, i.contact_id, i.handle, i.external_id, c.name FROM identities i"
                f" JOIN contacts c ON c.id = i.contact_id WHERE i.inbox = ? AND i.external_id IN ({marks})",
                (inbox, *chunk),
            ):
                known[(inbox, r["external_id"])] = r
    open_conv: dict[int, tuple[int, str]] = {}
    ident_ids = [r["id"] for r in known.values()]
    for chunk in _chunks(ident_ids):  # type: ignore[arg-type]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(
            f"SELECT id, identity_id, status FROM conversations WHERE identity_id IN ({marks})"
            " AND status != 'resolved' ORDER BY id", chunk,
        ):
            open_conv[r["identity_id"]] = (r["id"], r["status"])

    planned: list[tuple[IngestWrite, PreparedInbound, int, int, bool] | None] = []
    for w, prep in recs:
        rec = prep.record
        key = (w.inbox, rec.external_id)
        if key in stored:
            planned.append(None)
            continue
        stored.add(key)
        row = known.get((w.inbox, rec.sender.external_id))
        if row is None or (rec.sender.handle and rec.sender.handle != row["handle"]) or (
                rec.sender.name and row["name"] is None):
            identity_id, contact_id = _identity(conn, w.inbox, w.channel, rec, w.now)
            if row is None:
                known[(w.inbox, rec.sender.external_id)] = {"id": identity_id, "contact_id": contact_id,  # type: ignore[assignment]
                                                            "handle": rec.sender.handle, "name": rec.sender.name}
        else:
            identity_id, contact_id = row["id"], row["contact_id"]
        created = False
        found = open_conv.get(identity_id)
        if found is None:
            conv_id = _new_conversation(conn, w.inbox, w.channel, contact_id, identity_id, rec, w.now).conversation_id
            created = True
        else:
            conv_id = found[0]
            if found[1] == "snoozed":
                _join(conn, conv_id, w.now, "snoozed")
        open_conv[identity_id] = (conv_id, "open")
        planned.append((w, prep, conv_id, contact_id, created))

    todo = [p for p in planned if p is not None]
    first = (conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0) + 1
    params, extras = [], []
    for w, prep, conv_id, contact_id, _created in todo:
        rec = prep.record
        extras.append(message_extra(rec))
        params.append((conv_id, w.inbox, contact_id, rec.sender.name, rec.text, prep.html, rec.external_id, w.now,
                       rec.sent_at.timestamp(), rec.reply_to, extras[-1]))
    conn.executemany(
        "INSERT INTO messages (conversation_id, inbox, direction, author_kind, author_id, author_name, text, html,"
        " private, external_id, created_at, sent_at, reply_to, extra)"
        " VALUES (?,?, 'in', 'contact', ?,?,?,?, 0, ?,?,?,?,?)", params)
    # One writer, no AUTOINCREMENT: new rowids are max+1, max+2, ... — checked, not assumed.
    last = conn.execute("SELECT max(id) FROM messages").fetchone()[0]
    if todo and last != first + len(todo) - 1:
        raise RuntimeError("message ids were not consecutive")  # the writer reruns each write alone
    conn.executemany(
        "INSERT INTO message_search (rowid, terms, conversation_id) VALUES (?,?,?)",
        [(first + n, index_text(w_prep[1].record.text), w_prep[2]) for n, w_prep in enumerate(todo)])
    summary: dict[int, list[object]] = {}
    for w, prep, conv_id, _c, _created in todo:
        s = summary.setdefault(conv_id, [None, w.now, 0])
        s[0], s[1], s[2] = prep.record.text[:200], w.now, int(s[2]) + 1  # type: ignore[call-overload]
    conn.executemany(
        "UPDATE conversations SET last_message_text = ?, last_message_at = ?, last_activity_at = ?, updated_at = ?,"
        " unread = unread + ? WHERE id = ?",
        [(text, at, at, at, n, cid) for cid, (text, at, n) in summary.items()])
    convs = {}
    conv_ids = list(summary)
    for chunk in _chunks(conv_ids):  # type: ignore[arg-type]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(f"SELECT * FROM conversations WHERE id IN ({marks})", chunk):
            convs[r["id"]] = rows.conversation(r)
    for _, w in writes:
        if w.checkpoint is not None:
            save_checkpoint(conn, w.inbox, w.checkpoint, w.now)

    items: dict[int, list[IngestedItem]] = {id(w): [] for _, w in writes}
    n = 0
    for (w, prep), plan in zip(recs, planned, strict=True):
        if plan is None:
            items[id(w)].append(IngestedItem(None))
            continue
        _w, _p, conv_id, contact_id, created = plan
        msg = written_message(first + n, conv_id, w.inbox, contact_id, prep, w.now, extras[n])
        items[id(w)].append(IngestedItem(first + n, message=msg, conversation=convs[conv_id], created=created))
        n += 1
    for i, w in writes:
        results[i] = items[id(w)]
