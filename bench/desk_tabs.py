"""Benchmark: the inbox's tabs and label filters at a desk's size, with statuses spread as a desk's are.

`desk.py` seeds 100,000 conversations that are all open. A desk that has run a while has most of them
resolved, a few open, pending and snoozed, and labels on some. This takes a store `desk.py` seeded (a copy:
the seeded one is left as it was), spreads statuses and labels over it the way that happens — by activity,
newest first: of the newest 2,000, 60 % open, 20 % pending, 20 % resolved; of the rest 97 % resolved and 1 %
each open, pending and snoozed; the label `vip` on 1 conversation in 1,000 and `billing` on 3 in 10 — then
times, in the store, each status tab alone and with the unassigned + inbox filter, and each label.

Run from the repo root: .venv/bin/python bench/desk_tabs.py --db PATH       (a SQLite store desk.py seeded)
                        .venv/bin/python bench/desk_tabs.py --pg-url URL    (a PostgreSQL one; copied as a
                                                                             template, dropped afterwards)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tpbridge.bridge.model import Role, Viewer  # noqa: E402
from tpbridge.bridge.store import open_store  # noqa: E402
from tpbridge.bridge.store.protocol import ConversationFilter  # noqa: E402

from bench.desk import timed  # noqa: E402

ADMIN = Viewer(0, Role.ADMIN, (), ())
TARGET_MS = 1.0  # issue 17: the list and its filters, p50 in the store
NEWEST = 2000


def spread(ids: list[int]) -> list[tuple[str, str, int]]:
    """(status, labels, id) for conversations given newest first."""
    rng = random.Random(17)
    out = []
    for rank, conv_id in enumerate(ids):
        if rank < NEWEST:
            status = rng.choices(["open", "pending", "resolved"], [60, 20, 20])[0]
        else:
            status = rng.choices(["resolved", "open", "pending", "snoozed"], [97, 1, 1, 1])[0]
        labels = ["vip"] if rng.random() < 0.001 else []
        if rng.random() < 0.3:
            labels.append("billing")
        out.append((status, "[" + ", ".join(f'"{label}"' for label in labels) + "]", conv_id))
    return out


def spread_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    ids = [r[0] for r in conn.execute("SELECT id FROM conversations ORDER BY last_activity_at DESC, id DESC")]
    with conn:
        conn.executemany("UPDATE conversations SET status = ?, labels = ? WHERE id = ?", spread(ids))
        conn.execute("UPDATE conversations SET resolved_at = last_activity_at WHERE status = 'resolved'")
        conn.execute("UPDATE conversations SET snoozed_until = last_activity_at + 31536000 WHERE status = 'snoozed'")
    conn.close()


def spread_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM conversations ORDER BY last_activity_at DESC, id DESC")]
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE spread (status text, labels text, id bigint)")
            with conn.cursor().copy("COPY spread (status, labels, id) FROM STDIN") as copy:
                for row in spread(ids):
                    copy.write_row(row)
            conn.execute("UPDATE conversations c SET status = s.status, labels = s.labels FROM spread s"
                         " WHERE s.id = c.id")
            conn.execute("UPDATE conversations SET resolved_at = last_activity_at WHERE status = 'resolved'")
            conn.execute("UPDATE conversations SET snoozed_until = last_activity_at + 31536000"
                         " WHERE status = 'snoozed'")
        # as autovacuum would have by the time a desk looks: the labels table was filled by its trigger just now
        conn.execute("VACUUM ANALYZE conversations, conversation_labels")


def copy_postgres(url: str) -> tuple[str, str]:
    """A copy of the database at `url` (CREATE DATABASE ... TEMPLATE): its url and name."""
    import psycopg

    base, _, name = url.rpartition("/")
    copy = f"{name}_tabs_{int(time.time())}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    return f"{base}/{copy}", copy


def drop_postgres(url: str, name: str) -> None:
    import psycopg

    base = url.rpartition("/")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measure(url: str, work: Path) -> dict[str, float]:
    store = open_store(url, work)
    await store.open()
    figures: dict[str, float] = {}
    cases: list[tuple[str, dict[str, Any]]] = []
    for status in ("open", "pending", "snoozed", "resolved"):
        cases.append((f"{status} tab", {"status": status}))
        cases.append((f"{status} + unassigned + inbox", {"status": status, "assignee": "unassigned",
                                                          "inbox": "telegram.main"}))
    cases += [("label vip (0.1 %)", {"status": "all", "label": "vip"}),
              ("label billing (30 %)", {"status": "all", "label": "billing"})]
    try:
        for name, fields in cases:
            flt = ConversationFilter(**fields)
            figures[name] = statistics.median(await timed(
                lambda flt=flt: store.list_conversations(ADMIN, flt, 50, None), 100, warm=10))  # type: ignore[misc]
    finally:
        await store.close()
    return figures


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--db", type=Path, help="a SQLite store seeded by bench/desk.py")
    group.add_argument("--pg-url", help="a PostgreSQL database seeded by bench/desk.py --store postgresql")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tpb-bench-tabs-"))
    dropped: tuple[str, str] | None = None
    try:
        if args.db is not None:
            db = work / "tpbridge.db"
            shutil.copy(args.db, db)
            spread_sqlite(db)
            url, engine = f"sqlite:///{db}", "SQLite"
        else:
            url, name = copy_postgres(args.pg_url)
            dropped = (url, name)
            spread_postgres(url)
            engine = "PostgreSQL"
        figures = await measure(url, work)
    finally:
        if dropped is not None:
            drop_postgres(*dropped)
        shutil.rmtree(work, ignore_errors=True)
    print("=" * 72)
    print(f"status tabs and labels, list page of 50 in the store, p50 of 100 ({engine})")
    print("-" * 72)
    for name, value in figures.items():
        print(f"{'PASS' if value < TARGET_MS else 'MISS':5} {name:36}{value:8.2f} ms   target < {TARGET_MS:g}")
    print("=" * 72)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
