"""Benchmark: Telegram webhook ingest against a bare aiohttp + SQLite group-commit baseline, in one run.

The path most traffic takes: `wrk -t2 -c64` POSTs ~1 KB Telegram `message` updates (bench/wrk/telegram.lua:
~600 characters of mixed English and Chinese with a `bold` entity, `from`/`chat` with names, username and
language_code, a unique update_id and (chat.id, message_id), spread over 1,000 private chats) with the
secret header to

- the daemon (`python -m tpbridge.bridge run`, a Telegram inbox in webhook mode whose Bot API is the
  project's fake, tests/fakes/telegram_api.py, answering getMe/setWebhook and any replies), at
  `/hooks/telegram/main`; automation off, or on with `--automation` (language, classification, FAQ on every
  first message);
- bench/baseline_server.py's `/hooks/telegram/{name}`: secret check, JSON parse, one `INSERT OR IGNORE`,
  one writer thread with group commit, 200 only after the commit.

Messages per second count stored rows (after in-flight requests settle), not 2xx answers; server CPU per
message comes from /proc/<pid>/stat. Rounds are interleaved (baseline, daemon, ...) and the median is shown.

Run from the repo root: .venv/bin/python bench/telegram_webhook.py [--automation]   (about a minute)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402
from bench.ingest import BASELINE, Target, free_port, summarize  # noqa: E402
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram  # noqa: E402
from tests.support.daemon import Daemon  # noqa: E402

LUA = ROOT / "bench" / "wrk" / "telegram.lua"
SECRET = "bench-webhook-secret"  # bench/baseline_server.py TELEGRAM_SECRET
TARGET_RATIO = 0.7  # daemon msg/s / baseline msg/s, at least (0.5 with automation on)
TARGET_RATIO_AUTOMATION = 0.5
TARGET_CPU_RATIO = 2.0  # daemon CPU per message / baseline's, at most
TARGET_P99_MS = 25.0  # daemon ack p99 under the wrk load, at most

AUTOMATION_TOML = """
[automation]
enabled = true
languages = ["zh", "en"]
default_language = "en"

[automation.inboxes."telegram.main"]
bot = "always"
"""


def run_wrk(t: Target, seconds: float, args: argparse.Namespace, base: int) -> dict[str, Any]:
    cmd = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--latency",
           "-s", str(LUA), t.url + t.count_sql.split("|", 1)[1], "--", SECRET, str(base), str(args.chats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^WRKJSON (\{.*\})$", proc.stdout, re.M)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(m.group(1))


class Runs:
    """Hands every wrk run its own id range, so no update is a duplicate of an earlier run's."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n * 1_000_000_000


def throughput(t: Target, args: argparse.Namespace, runs: Runs, warmup: float) -> dict[str, Any]:
    return ingest.throughput(t, args, warmup, lambda seconds: run_wrk(t, seconds, args, runs.next()))


class CountingTarget(Target):
    """A Target whose count_sql is `SQL|hook path` (the path wrk posts to rides along)."""

    def stored(self) -> int:
        import sqlite3

        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return int(conn.execute(self.count_sql.split("|", 1)[0]).fetchone()[0])
        finally:
            conn.close()


@contextlib.asynccontextmanager
async def baseline(workdir: Path) -> AsyncIterator[Target]:
    port = free_port()
    db = workdir / "baseline.db"
    proc = subprocess.Popen([sys.executable, str(BASELINE), "--port", str(port), "--db", str(db)],  # noqa: ASYNC220
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 15)
        if not line.startswith("READY"):
            raise RuntimeError(f"baseline did not start: {line!r}")
        yield CountingTarget("baseline", f"http://127.0.0.1:{port}", proc.pid, db,
                             "SELECT count(*) FROM messages|/hooks/telegram/main", [])
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


@contextlib.asynccontextmanager
async def daemon(args: argparse.Namespace, workdir: Path) -> AsyncIterator[Target]:
    async with FakeTelegram() as fake:
        channels = (f'[channels.telegram.main]\ntoken = "{DEFAULT_TOKEN}"\nmode = "webhook"\n'
                    f'api_base_url = "{fake.url}"\nwebhook_secret = "{SECRET}"\n')
        d = Daemon(workdir / "daemon", channels, webchat=False,
                   extra_toml=AUTOMATION_TOML if args.automation else "")
        d.config_path.write_text(d.config_path.read_text().replace('log_level = "debug"',
                                                                    f'log_level = "{args.log_level}"'))
        async with d:
            assert d.proc is not None
            yield CountingTarget("daemon", d.url, d.proc.pid, d.data_dir / "tpbridge.db",
                                 "SELECT count(*) FROM messages WHERE direction = 'in'|/hooks/telegram/main", [])


def report(b: dict[str, Any], d: dict[str, Any], rounds: list[tuple[dict[str, Any], dict[str, Any]]],
           args: argparse.Namespace) -> tuple[list[str], bool]:
    ratio = d["msgs_per_s"] / b["msgs_per_s"]
    cpu_ratio = d["cpu_us_per_msg"] / b["cpu_us_per_msg"]
    target = TARGET_RATIO_AUTOMATION if args.automation else TARGET_RATIO
    checks = [
        ("throughput ratio daemon/baseline", f"{ratio:.2f}", f">= {target}", ratio >= target),
        ("CPU per message daemon/baseline", f"{cpu_ratio:.2f}x", f"<= {TARGET_CPU_RATIO}x",
         cpu_ratio <= TARGET_CPU_RATIO),
        ("ack p99 under the wrk load", f"{d['wrk_p99_ms']:.1f} ms", f"<= {TARGET_P99_MS:g} ms",
         d["wrk_p99_ms"] <= TARGET_P99_MS),
    ]
    lines = [
        "=" * 78,
        f"Telegram webhook benchmark, automation {'ON' if args.automation else 'off'}: wrk -t{args.wrk_threads}"
        f" -c{args.connections} {args.duration:g}s x {args.rounds} rounds, {args.chats} chats, ~1 KB updates",
        "-" * 78,
        f"{'':30}{'daemon':>16}{'baseline':>16}{'ratio':>10}",
        f"{'messages/s (stored)':30}{d['msgs_per_s']:>16,.0f}{b['msgs_per_s']:>16,.0f}{ratio:>10.2f}",
        f"{'server CPU per message (us)':30}{d['cpu_us_per_msg']:>16.0f}{b['cpu_us_per_msg']:>16.0f}"
        f"{cpu_ratio:>9.2f}x",
        f"{'wrk latency p50 / p99 (ms)':30}{d['wrk_p50_ms']:>7.1f} /{d['wrk_p99_ms']:>7.1f}"
        f"{b['wrk_p50_ms']:>7.1f} /{b['wrk_p99_ms']:>7.1f}",
        f"{'stored / answered':30}{d['stored']:>9}/{d['wrk_requests']:<6}{b['stored']:>9}/{b['wrk_requests']:<6}",
        f"{'wrk errors':30}{d['wrk_errors']:>16}{b['wrk_errors']:>16}",
        "-" * 78,
    ]
    for i, (rd, rb) in enumerate(rounds, 1):
        lines.append(f"round {i}: daemon {rd['msgs_per_s']:>6,.0f} msg/s {rd['cpu_us_per_msg']:>4.0f} us/msg,"
                     f" baseline {rb['msgs_per_s']:>6,.0f} msg/s {rb['cpu_us_per_msg']:>4.0f} us/msg,"
                     f" ratio {rd['msgs_per_s'] / rb['msgs_per_s']:.2f}")
    others = max(r["other_cores"] for pair in rounds for r in pair)
    lines.append(f"other processes on the machine meanwhile: up to {others:.2f} cores busy"
                 + ("  <- NOT QUIET: figures are pessimistic" if others > 0.25 else ""))
    lines.append("-" * 78)
    lines += [f"{'PASS' if ok else 'MISS'}  {name:36} {value:>10}   target {tgt}" for name, value, tgt, ok in checks]
    lines.append("=" * 78)
    return lines, all(ok for *_, ok in checks)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--automation", action="store_true", help="automation on (language, classification, FAQ)")
    ap.add_argument("--duration", type=float, default=8, help="seconds of wrk load per server and round (8)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported (3)")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of wrk warm-up per server (2)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    ap.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    ap.add_argument("--chats", type=int, default=1000, help="private chats the updates are spread over (1000)")
    ap.add_argument("--log-level", default="info", help="daemon log level (shipped default: info)")
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tpb-bench-tg-"))
    runs = Runs()
    try:
        async with baseline(workdir) as b, daemon(args, workdir) as d:
            for i in range(args.rounds):
                for t in (b, d):
                    t.rounds.append(await asyncio.to_thread(throughput, t, args, runs,
                                                            args.warmup if i == 0 else 0))
            summarize(b)
            summarize(d)
        lines, ok = report(b.results, d.results, list(zip(d.rounds, b.rounds, strict=True)), args)
        print("\n".join(lines))
        if args.json:
            args.json.write_text(json.dumps({"baseline": b.results, "daemon": d.results}, indent=1))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
