"""The full-text index, written behind the messages in batches.

Indexing each message in the transaction that stores it cost the ingest path about a
seventh of its throughput (FTS5 flushes a segment per commit; bench/README.md). So a
message is stored without its search terms, and `index_pending` (a writer job, run by
the daemon every INDEX_INTERVAL seconds and by every search before it queries) indexes
everything above the `search_state.indexed_upto` mark and moves the mark in the same
transaction: nothing is indexed twice or skipped across a crash.

A row's rowid is its conversation id in the high 32 bits and its message id in the low 32: a search
reads the conversations it matched straight from the term's doclist (`rowid >> 32`), without a
lookup per matching message (850 ms for a common term at 1,000,000 messages, bench/desk.py), and a
conversation's rows are one rowid range.

The table is contentless (migration 30): FTS5 keeps no copy of the terms, so a row is removed by giving
back the terms it was indexed with — recomputed from the message's text, which is why everything that
changes an indexed message's text goes through here (`forget_conversation`, `reindex`) and why a change
to `bridge.search.terms` needs a migration that rebuilds the index. The mark says which messages are in
it: exactly those with an id up to `indexed_upto`.
"""

from __future__ import annotations

import sqlite3
import unicodedata

import structlog
from tpbridge.bridge.store.sqlite.sealing import index_terms

BATCH = 250  # messages per writer job: ~25 ms under a Telegram load; 2000 held the ingests queued behind it
# ~200 ms, the webhook p99 (bench/telegram_webhook.py)
LOW = 0xFFFFFFFF
# What the terms depend on: Python's Unicode data and bridge/search.py's rules (bump the number when they
# change). An index built under another is rebuilt at start (migration 34).
TERMS_VERSION = f"unicode {unicodedata.unidata_version}, terms 1"

log = structlog.get_logger(__name__)


def rowid(conversation_id: int, message_id: int) -> int:
    """A message's row in the index (the message id's low 32 bits cannot repeat within one conversation
    short of four billion messages)."""
    return (conversation_id << 32) | (message_id & LOW)


_DELETE = "INSERT INTO message_search (message_search, rowid, terms) VALUES ('delete', ?, ?)"
_INSERT = "INSERT INTO message_search (rowid, terms) VALUES (?,?)"


def _mark(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT indexed_upto FROM search_state WHERE id = 1").fetchone()[0])


def forget_conversation(conn: sqlite3.Connection, conversation_id: int) -> None:
    """Take a conversation's messages out of the index; before the messages themselves are deleted."""
    found = conn.execute("SELECT id, text FROM messages WHERE conversation_id = ? AND id <= ?",
                         (conversation_id, _mark(conn))).fetchall()
    conn.executemany(_DELETE, [(rowid(conversation_id, r[0]), index_terms(conn, r[1] or "")) for r in found])


def reindex(conn: sqlite3.Connection, conversation_id: int, message_id: int, old_text: str | None,
            new_text: str) -> None:
    """A message's text changed (an edit): its terms follow, if it is indexed yet (if not, the indexer
    reads the new text when it gets there)."""
    if message_id > _mark(conn):
        return
    key = rowid(conversation_id, message_id)
    conn.execute(_DELETE, (key, index_terms(conn, old_text or "")))
    conn.execute(_INSERT, (key, index_terms(conn, new_text)))


def index_pending(conn: sqlite3.Connection, limit: int = BATCH) -> int:
    """Index up to `limit` messages above the mark; how many were indexed (less than limit: caught up)."""
    mark = _mark(conn)
    found = conn.execute(
        "SELECT id, text, conversation_id FROM messages WHERE id > ? ORDER BY id LIMIT ?", (mark, limit)
    ).fetchall()
    if not found:
        return 0
    # In rowid order: FTS5 writes what it holds as a new segment whenever a rowid is lower than the one
    # before, and a batch interleaves conversations (the rowid's high half). Unsorted, 2,000 bench messages
    # made 508 segments instead of 8, and merging them cost more than the inserts (bench/README.md).
    conn.executemany(_INSERT, sorted([(rowid(r[2], r[0]), index_terms(conn, r[1] or "")) for r in found]))
    conn.execute("UPDATE search_state SET indexed_upto = ? WHERE id = 1", (found[-1][0],))
    return len(found)


def after_erasure(conn: sqlite3.Connection) -> None:
    """Messages were deleted: a new message may take the id of a deleted newest one (rowid = max + 1),
    so the mark may not stay above what is left."""
    conn.execute("UPDATE search_state SET indexed_upto = min(indexed_upto, (SELECT coalesce(max(id), 0)"
                 " FROM messages)) WHERE id = 1")


def check_terms_version(conn: sqlite3.Connection) -> None:
    """At start: an index built under other Unicode data or term rules is emptied and rebuilt by the indexer
    (its rows could not be removed reliably: see the module docstring)."""
    row = conn.execute("SELECT terms_version FROM search_state WHERE id = 1").fetchone()
    if row is None or row[0] == TERMS_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    if row[0] is not None:
        log.warning("search.index_rebuilt", built_with=row[0], now=TERMS_VERSION)
        conn.execute("INSERT INTO message_search (message_search) VALUES ('delete-all')")
        conn.execute("UPDATE search_state SET indexed_upto = 0 WHERE id = 1")
    conn.execute("UPDATE search_state SET terms_version = ? WHERE id = 1", (TERMS_VERSION,))
    conn.execute("COMMIT")
