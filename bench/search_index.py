"""Microbenchmark: what indexing one Telegram bench message for search costs, in Python and in FTS5.

- terms: `index_text` (C, bridge/_search_terms.c) against the pure-Python reference on the webhook bench's
  text (bench/wrk/telegram.lua's `sentence`, with its `[serial] ` prefix);
- the index: N such messages stored in a fresh SQLite store (its own migrations, its connection settings),
  over 1,000 conversations as the two wrk threads interleave them, then indexed by
  `search_index.index_pending` in writer jobs of BATCH, as the daemon does: CPU per message, the time a job
  holds the writer, the FTS5 segments left;
- FTS5's part alone (the terms made beforehand), each job inserted in rowid order (as index_pending does)
  and in message order (as it did before): FTS5 starts a segment at every lower rowid.

CPU is this process's (the writer's work runs here); on a shared machine compare runs back to back.

Run from the repo root: .venv/bin/python bench/search_index.py [--messages 20000]   (about 10 s)
"""

from __future__ import annotations

import argparse
import logging
import re
import sqlite3
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tpbridge.bridge import search  # noqa: E402
from tpbridge.bridge.store.sqlite import migrations, search_index, writer  # noqa: E402

CHATS = 1000
SEGMENTS = "SELECT count(DISTINCT rowid >> 37) FROM message_search_data WHERE rowid >> 37 > 0"  # id's high bits
TABLE = ("CREATE VIRTUAL TABLE {} USING fts5(terms, content='', tokenize='unicode61 remove_diacritics 2',"
         " detail=none, columnsize=0)")  # as migration 30


def sentence() -> str:
    lua = (ROOT / "bench" / "wrk" / "telegram.lua").read_text()
    block = re.search(r'^local sentence = (.*?)\n\n', lua, re.S | re.M)
    assert block, "bench/wrk/telegram.lua has no `local sentence`"
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', block.group(1)))


def messages(n: int) -> list[tuple[int, int, str]]:
    """(id, conversation, text) as the webhook bench stores them: two wrk threads, out of step."""
    text = sentence()
    conv_of: dict[int, int] = {}
    out: list[tuple[int, int, str]] = []
    for i in range(n):
        tid = 1 + i % 2
        serial = 1_000_000_000 + tid * 10_000_000 + i // 2 + 1 + (tid - 1) * 500
        conv = conv_of.setdefault(serial % CHATS, len(conv_of) + 1)
        out.append((i + 1, conv, f"[{serial}] {text}"))
    return out


def per_call_us(fn: Callable[[str], object], arg: str) -> float:
    return min(timeit.repeat(lambda: fn(arg), number=2000, repeat=5)) / 2000 * 1e6


def index_store(conn: sqlite3.Connection) -> tuple[float, list[float]]:
    jobs, cpu = [], 0.0
    while True:
        t, w = time.process_time(), time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        done = search_index.index_pending(conn)
        conn.execute("COMMIT")
        cpu += time.process_time() - t
        jobs.append((time.perf_counter() - w) * 1e3)
        if done < search_index.BATCH:
            return cpu, jobs


def fts5_alone(conn: sqlite3.Connection, rows: list[tuple[int, int, str]], name: str, in_order: bool) -> float:
    """CPU of FTS5's part alone (terms made beforehand), into a fresh table; jobs in rowid or message order."""
    conn.execute(TABLE.format(name))
    cpu = 0.0
    for start in range(0, len(rows), search_index.BATCH):
        job = [(search_index.rowid(c, i), search.index_text(t)) for i, c, t in rows[start:start + search_index.BATCH]]
        if in_order:
            job.sort()
        t = time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO {name} (rowid, terms) VALUES (?,?)", job)
        conn.execute("COMMIT")
        cpu += time.process_time() - t
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20_000, help="messages indexed (20000)")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    text = messages(1)[0][2]
    c_us, py_us = per_call_us(search.index_text, text), per_call_us(search.py_index_text, text)
    print(f"terms of one bench message ({len(text)} characters): index_text {c_us:.1f} µs"
          f" ({'C' if search.index_text is not search.py_index_text else 'not built: Python'}),"
          f" the Python reference {py_us:.1f} µs")

    rows = messages(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        conn = writer.connect(Path(tmp) / "bench.db")
        migrations.upgrade(conn)
        conn.execute("PRAGMA foreign_keys=OFF")  # messages without their conversations' rows
        with conn:
            conn.executemany("INSERT INTO messages (id, conversation_id, inbox, direction, author_kind, text,"
                             " created_at) VALUES (?,?,'telegram.main','in','contact',?,0)", rows)
        cpu, jobs = index_store(conn)
        segments = conn.execute(SEGMENTS).fetchone()[0]
        jobs.sort()
        print(f"index_pending, {args.messages} messages in jobs of {search_index.BATCH}:"
              f" {cpu / args.messages * 1e6:.1f} µs CPU per message,"
              f" a job holds the writer {jobs[len(jobs) // 2]:.1f} ms (median),"
              f" {jobs[-1]:.1f} ms (max); {segments} FTS5 segments left")
        for name, in_order in (("by_rowid", True), ("by_message", False)):
            cpu = fts5_alone(conn, rows, name, in_order)
            segments = conn.execute(SEGMENTS.replace("message_search", name)).fetchone()[0]
            print(f"FTS5's part alone, each job in {'rowid' if in_order else 'message'} order:"
                  f" {cpu / args.messages * 1e6:.1f} µs per message; {segments} segments left")
        conn.close()


if __name__ == "__main__":
    main()
