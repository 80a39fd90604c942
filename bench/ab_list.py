"""A/B: the inbox's list over HTTP against two checkouts of tpbridge at once, on one seeded store.

For measuring one change to the list's read path (bench/README.md D19): two daemons, each run by its
checkout's own `.venv` (so each imports its own code), on the same store — the PostgreSQL database at
`--pg-url`, or copies of the SQLite file at `--db` — each path timed by wrk (one connection, one request at
a time, as `desk.py` times it) in alternating rounds; per round the median latency and the daemon's CPU per
request from /proc. The store is read, never written: seed it with `desk.py` first.

    .venv/bin/python bench/ab_list.py ../before . --pg-url postgresql://…/desk [--rounds 6] [--seconds 4]
    .venv/bin/python bench/ab_list.py ../before . --db /tmp/desk.db
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ab_webhook import as_checkout  # noqa: E402
from bench.desk import WARM, wrk_run  # noqa: E402
from bench.ingest import cpu_seconds  # noqa: E402
from tests.support.daemon import Daemon  # noqa: E402

PATHS = ("/api/v1/conversations?limit=50", "/api/v1/conversations?limit=50&assignee=unassigned&inbox=telegram.main")


@contextlib.asynccontextmanager
async def daemon(checkout: str, args: argparse.Namespace) -> AsyncIterator[Daemon]:
    d = Daemon(Path(tempfile.mkdtemp(prefix="tpb-ab-list-")), webchat=True, store_url=args.pg_url)
    d.config_path.write_text(d.config_path.read_text().replace('log_level = "debug"', 'log_level = "info"'))
    if args.db is not None:
        d.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.db, d.data_dir / "tpbridge.db")
    with as_checkout(checkout):
        # An agent of its own: a reused store has the admins of earlier runs.
        d.token = d.add_agent(f"admin-{time.time_ns()}@example.com", "Admin", role="admin")
        async with d:
            for path in PATHS:
                for _ in range(WARM):  # as desk.py: psycopg prepares a statement at its fifth use on a connection
                    status, _ = await d.api("GET", path)
                    assert status == 200, (path, status)
            yield d


async def measure(d: Daemon, path: str, seconds: float) -> tuple[float, float]:
    """wrk's median latency (ms) and the daemon's CPU per request (ms)."""
    assert d.proc is not None
    before = cpu_seconds(d.proc.pid)
    p50, requests = await wrk_run(d, path, seconds)
    return p50, (cpu_seconds(d.proc.pid) - before) / requests * 1000


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="checkout A (with its .venv)")
    ap.add_argument("b", help="checkout B")
    store = ap.add_mutually_exclusive_group(required=True)
    store.add_argument("--pg-url", help="a PostgreSQL database desk.py seeded")
    store.add_argument("--db", type=Path, help="a SQLite store desk.py seeded (each daemon reads a copy)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=4)
    args = ap.parse_args()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    async with daemon(args.a, args) as a, daemon(args.b, args) as b:
        for n in range(args.rounds):
            for name, d in ((args.a, a), (args.b, b)) if n % 2 == 0 else ((args.b, b), (args.a, a)):
                for path in PATHS:
                    results.setdefault((name, path), []).append(await measure(d, path, args.seconds))
    for path in PATHS:
        print(path)
        for name in (args.a, args.b):
            rounds = results[(name, path)]
            p50, cpu = (statistics.median(r[i] for r in rounds) for i in range(2))
            print(f"  {name}: p50 {p50:.2f} ms, daemon CPU {cpu:.3f} ms a request"
                  f"   (rounds: {', '.join(f'{r[0]:.2f}' for r in rounds)})")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
