"""Benchmark: web chat messages per second through 1, 2 and 3 instances on PostgreSQL, and 1 on SQLite.

One run, the same load for each setup: wrk posts web chat messages (bench/wrk/post.lua, real visitor
tokens) at full speed for --duration seconds, the connections split evenly over the instances (as a
load balancer would); a warm-up first. Reported per setup: messages stored per second (counted in
the store), CPU per stored message (all daemons plus, for PostgreSQL, every server process), and the
worst instance's wrk p99. PostgreSQL runs with fsync on and synchronous_commit off — the durability
of the SQLite store's WAL with synchronous=NORMAL (a crash of the process loses nothing, a crash of
the machine may lose the last commits), so the two are compared like for like.

Run from the repo root: .venv/bin/python bench/instances.py   (about two minutes; --help for knobs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import CLK_TCK, cpu_seconds, run_wrk  # noqa: E402
from tests.fakes.postgres import Postgres  # noqa: E402
from tests.support.daemon import Daemon, Visitor  # noqa: E402


def postgres_cpu(pg: Postgres) -> float:
    """CPU seconds of the postmaster and all its children (backends, WAL writer, checkpointer)."""
    total = 0.0
    root = pg.pid
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        pid = int(stat.parent.name)
        if pid == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def stored(url: str | None, db: Path | None) -> int:
    sql = "SELECT count(*) FROM messages WHERE direction = 'in'"
    if url is not None:
        with psycopg.connect(url) as conn:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def settle(count: Any, timeout: float = 15.0) -> int:
    last, since, deadline = count(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 0.6:
            break
    return last


def quiet(d: Daemon, level: str) -> None:
    """The shipped log level, and the web chat's flood limits off (the load comes from one address)."""
    d.config_path.write_text(d.config_path.read_text().replace('log_level = "debug"', f'log_level = "{level}"')
                             .replace("[channels.webchat.site]\nenabled = true\n",
                                      "[channels.webchat.site]\nenabled = true\nflood = { enabled = false }\n"))


async def measure(name: str, n: int, args: argparse.Namespace, work: Path, pg: Postgres | None) -> dict[str, Any]:
    url = pg.new_database() if pg is not None else None
    ds = [Daemon(work / f"{name}-{i}", store_url=url) for i in range(n)]
    for d in ds:
        quiet(d, args.log_level)
    await ds[0].start()
    for d in ds[1:]:
        d.token = ds[0].token
        await d.start()
    try:
        visitors = [await Visitor(ds[i % n]).start() for i in range(args.visitors)]
        tokens = work / f"{name}.tokens"
        tokens.write_text("\n".join(v.token for v in visitors) + "\n")
        per = argparse.Namespace(wrk_threads=1, connections=max(1, args.connections // n))

        def load(seconds: float) -> list[dict[str, Any]]:
            with ThreadPoolExecutor(n) as pool:
                return list(pool.map(lambda d: run_wrk(d, seconds, per, tokens), ds))  # type: ignore[arg-type]

        def count() -> int:
            return stored(url, None if url else ds[0].data_dir / "tpbridge.db")

        load(args.warmup)
        settle(count)
        pids = [d.proc.pid for d in ds if d.proc]
        n0, t0 = count(), time.monotonic()
        own0, db0 = sum(cpu_seconds(p) for p in pids), (postgres_cpu(pg) if pg else 0.0)
        wrks = load(args.duration)
        n1 = settle(count)
        own1, db1 = sum(cpu_seconds(p) for p in pids), (postgres_cpu(pg) if pg else 0.0)
        cpu0, cpu1 = own0 + db0, own1 + db1
        messages = n1 - n0
        seconds = max(w["duration_us"] for w in wrks) / 1e6
        return {
            "setup": name, "instances": n, "msgs_per_s": messages / seconds, "stored": messages,
            "cpu_us_per_msg": (cpu1 - cpu0) / max(messages, 1) * 1e6,
            "daemon_us_per_msg": (own1 - own0) / max(messages, 1) * 1e6,
            "database_us_per_msg": (db1 - db0) / max(messages, 1) * 1e6,
            "p99_ms": max(w["lat_p99_us"] for w in wrks) / 1000,
            "errors": sum(w[k] for w in wrks for k in ("connect_errors", "read_errors", "write_errors",
                                                      "status_errors", "timeouts")),
            "elapsed_s": time.monotonic() - t0,
        }
    finally:
        for d in ds:
            await d.__aexit__()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=48, help="wrk connections in all, split over instances")
    ap.add_argument("--visitors", type=int, default=60)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args()
    pg = Postgres(durable=True)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="tpb-bench-") as tmp:
            work = Path(tmp)
            results.append(await measure("sqlite", 1, args, work, None))
            for n in (1, 2, 3):
                results.append(await measure(f"postgresql-{n}", n, args, work, pg))
    finally:
        pg.destroy()
    print(f"\n{'setup':<16}{'instances':>10}{'msgs/s':>10}{'CPU µs/msg':>12}{'daemons':>9}{'database':>10}"
          f"{'p99 ms':>9}{'errors':>8}")
    for r in results:
        print(f"{r['setup']:<16}{r['instances']:>10}{r['msgs_per_s']:>10.0f}{r['cpu_us_per_msg']:>12.0f}"
              f"{r['daemon_us_per_msg']:>9.0f}{r['database_us_per_msg']:>10.0f}{r['p99_ms']:>9.1f}{r['errors']:>8}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine moves every row alike)")
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
