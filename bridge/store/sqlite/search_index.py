"""The full-text index, written behind the messages in batches.

Indexing each message in the transaction that stores it cost the ingest path about a
seventh of its throughput (FTS5 flushes a segment per commit; bench/README.md). So a
message is stored without its search terms, and `index_pending` (a writer job, run by
the daemon every INDEX_INTERVAL seconds and by every search before it queries) indexes
everything above the `search_state.indexed_upto` mark and moves the mark in the same
transaction: nothing is indexed twice or skipped across a crash.
"""

from __future__ import annotations

import sqlite3

from tpbridge.bridge.store.sqlite.sealing import index_terms

BATCH = 2000  # messages per writer job: short enough not to hold up the ingests queued behind it


def index_pending(conn: sqlite3.Connection, limit: int = BATCH) -> int:
    """Index up to `limit` messages above the mark; how many were indexed (less than limit: caught up)."""
    mark = conn.execute("SELECT indexed_upto FROM search_state WHERE id = 1").fetchone()[0]
    found = conn.execute(
        "SELECT id, text, conversation_id FROM messages WHERE id > ? ORDER BY id LIMIT ?", (mark, limit)
    ).fetchall()
    if not found:
        return 0
    conn.executemany("INSERT INTO message_search (rowid, terms, conversation_id) VALUES (?,?,?)",
                     [(r[0], index_terms(conn, r[1] or ""), r[2]) for r in found])
    conn.execute("UPDATE search_state SET indexed_upto = ? WHERE id = 1", (found[-1][0],))
    return len(found)


def after_erasure(conn: sqlite3.Connection) -> None:
    """Messages were deleted: a new message may take the id of a deleted newest one (rowid = max + 1),
    so the mark may not stay above what is left."""
    conn.execute("UPDATE search_state SET indexed_upto = min(indexed_upto, (SELECT coalesce(max(id), 0)"
                 " FROM messages)) WHERE id = 1")
