"""Benchmark: web chat messages per second into the store, against a bare aiohttp + SQLite baseline.

Two servers, each a subprocess, measured the same way in one run:
- the daemon (`python -m tpbridge.bridge run`, started as tests/support/daemon.py does),
  posted to at `POST /chat/api/messages` with real visitor tokens;
- bench/baseline_server.py: bare aiohttp, one SQLite writer thread (WAL, group commit
  draining the queue, no timer), 200 only after commit, the same JSON body.

Phases per server: a short warm-up, then wrk at full load (throughput; server CPU per
stored message from /proc/<pid>/stat), then a paced Python client at --rate msg/s
(ack latency = POST round trip; for the daemon also accept->SSE: the time from sending
the POST to reading its `message.created` event on the agent stream /api/v1/events).

Run from the repo root: .venv/bin/python bench/ingest.py   (about a minute; --help for knobs)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.daemon import Daemon, Visitor, free_port  # noqa: E402

LUA = ROOT / "bench" / "wrk" / "post.lua"
BASELINE = ROOT / "bench" / "baseline_server.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The targets on this 2-core machine.
TARGET_RATIO = 0.5  # daemon msg/s / baseline msg/s, at least
TARGET_CPU_RATIO = 2.5  # daemon CPU per message / baseline's, at most
TARGET_ACK_P99_MS = 25.0  # at most
TARGET_SSE_P99_MS = 50.0  # below


# ---------------------------------------------------------------- measuring helpers
def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of the whole process (all its threads), or of its thread `tid`, in seconds."""
    stat = Path(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu() -> float:
    """CPU seconds of the waited-for children of this script (wrk) so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def count_rows(db: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Target:
    """One server under test: where to post, how to count what it stored, whose CPU to read."""

    name: str
    url: str  # base URL
    pid: int
    db: Path
    count_sql: str
    tokens: list[str]
    sse_token: str | None = None  # agent token for /api/v1/events (daemon only)
    results: dict[str, Any] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    tokens_file: Path | None = None

    def stored(self) -> int:
        return count_rows(self.db, self.count_sql)


# ---------------------------------------------------------------- wrk (throughput)
def run_wrk(t: Target, seconds: float, args: argparse.Namespace, tokens_file: Path) -> dict[str, Any]:
    run_id = secrets.token_hex(4)
    cmd = ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--latency",
           "-s", str(LUA), t.url + "/chat/api/messages", "--", str(tokens_file), run_id]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^WRKJSON (\{.*\})$", proc.stdout, re.M)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return json.loads(m.group(1))


def settle(t: Target, timeout: float = 10.0) -> int:
    """Wait until requests still in flight when wrk stopped are stored, so CPU and count match."""
    last, stable_since, deadline = t.stored(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = t.stored()
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 0.3:
            break
    return last


def throughput(t: Target, args: argparse.Namespace, warmup: float,
               load: Callable[[float], dict[str, Any]] | None = None) -> dict[str, Any]:
    """One wrk run at full load; what was stored, and the CPU it cost the server and everyone else.
    `load(seconds)` runs wrk and returns its WRKJSON figures (default: web chat posts)."""
    if load is None:
        tokens = t.tokens_file
        assert tokens is not None

        def load(seconds: float) -> dict[str, Any]:
            return run_wrk(t, seconds, args, tokens)

    if warmup > 0:
        load(warmup)
        settle(t)
    n0, cpu0, t0 = t.stored(), cpu_seconds(t.pid), time.monotonic()
    busy0, wrk0, me0 = machine_busy(), children_cpu(), self_cpu()
    wrk = load(args.duration)
    n1 = settle(t)
    cpu1, elapsed = cpu_seconds(t.pid), time.monotonic() - t0
    server, wrk_cpu = cpu1 - cpu0, children_cpu() - wrk0
    other = machine_busy() - busy0 - server - wrk_cpu - (self_cpu() - me0)
    stored = n1 - n0
    errors = sum(wrk[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {
        "msgs_per_s": stored / (wrk["duration_us"] / 1e6),
        "stored": stored, "wrk_requests": wrk["requests"], "wrk_errors": errors,
        "wrk_p50_ms": wrk["lat_p50_us"] / 1000, "wrk_p99_ms": wrk["lat_p99_us"] / 1000,
        "cpu_s": server, "cpu_us_per_msg": server / max(stored, 1) * 1e6,
        "cpu_cores": server / elapsed, "wrk_cores": wrk_cpu / elapsed, "other_cores": max(other, 0.0) / elapsed,
    }


def summarize(t: Target) -> None:
    """The median round's figures (by throughput) stand for the server; every round is kept."""
    ordered = sorted(t.rounds, key=lambda r: r["msgs_per_s"])
    t.results.update(ordered[(len(ordered) - 1) // 2])
    t.results["rounds"] = t.rounds


# ---------------------------------------------------------------- paced client (latency)
@dataclass
class Stream:
    """What the SSE reader saw: receipt time per message text; `complete` once `expected` arrived."""

    seen: dict[str, float] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int | None = None

    def check(self) -> None:
        if self.expected is not None and len(self.seen) >= self.expected:
            self.complete.set()


async def sse_reader(session: aiohttp.ClientSession, t: Target, stream: Stream) -> None:
    headers = {"Authorization": f"Bearer {t.sse_token}", "Accept": "text/event-stream"}
    async with session.get(t.url + "/api/v1/events", headers=headers,
                           timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
        if resp.status != 200:
            raise RuntimeError(f"SSE answered {resp.status}: {await resp.text()}")
        async for raw in resp.content:
            now = time.perf_counter()
            stream.connected.set()
            if not raw.startswith(b"data:"):
                continue
            body = json.loads(raw[5:])
            msg = body.get("message") or {}
            text = msg.get("text") or ""
            if body.get("kind") == "message.created" and text.startswith("paced "):
                stream.seen.setdefault(text, now)
                stream.check()


async def paced(t: Target, rate: float, seconds: float) -> None:
    n = int(rate * seconds)
    run_id = secrets.token_hex(4)
    sent: dict[str, float] = {}
    stream = Stream()
    seen = stream.seen
    acks: list[float] = []
    failures: list[str] = []
    connector = aiohttp.TCPConnector(limit=512)
    async with aiohttp.ClientSession(connector=connector) as session, aiohttp.ClientSession() as sse_session:
        reader = None
        if t.sse_token:
            reader = asyncio.create_task(sse_reader(sse_session, t, stream))
            await asyncio.wait_for(stream.connected.wait(), 10)

        async def post(i: int) -> None:
            cid = f"{run_id}-{i}"
            text = f"paced {cid}"
            body = {"text": text, "client_id": cid}
            headers = {"Authorization": f"Bearer {t.tokens[i % len(t.tokens)]}"}
            start = time.perf_counter()
            sent[text] = start
            try:
                async with session.post(t.url + "/chat/api/messages", json=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except aiohttp.ClientError as exc:
                failures.append(repr(exc))
                return
            acks.append(time.perf_counter() - start)
            if status not in (200, 201):
                failures.append(f"HTTP {status}")

        tasks: list[asyncio.Task[None]] = []
        busy0, cpu0, me0 = machine_busy(), cpu_seconds(t.pid), self_cpu()
        begin = time.perf_counter() + 0.05
        behind = 0
        for i in range(n):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.005:
                behind += 1
            tasks.append(asyncio.create_task(post(i)))
        elapsed = time.perf_counter() - begin
        await asyncio.gather(*tasks)
        server, client = cpu_seconds(t.pid) - cpu0, self_cpu() - me0
        other = machine_busy() - busy0 - server - client
        if reader is not None:
            stream.expected = len(sent) - len(failures)
            stream.check()
            try:
                await asyncio.wait_for(stream.complete.wait(), 10)
            except TimeoutError:
                pass  # reported as fewer events matched than sent
            reader.cancel()
            try:
                await reader
            except (asyncio.CancelledError, aiohttp.ClientError):
                pass

    t.results.update(
        paced_rate=n / elapsed, paced_sent=n, paced_other_cores=max(other, 0.0) / elapsed,
        paced_server_cores=server / elapsed, paced_failures=len(failures), paced_behind=behind,
        ack_p50_ms=pct(acks, 50) * 1000, ack_p99_ms=pct(acks, 99) * 1000, ack_max_ms=max(acks, default=0) * 1000,
    )
    if failures:
        t.results["paced_failure_sample"] = failures[:3]
    if t.sse_token:
        lat = [seen[k] - sent[k] for k in seen if k in sent]
        t.results.update(
            sse_received=len(lat), sse_p50_ms=pct(lat, 50) * 1000, sse_p99_ms=pct(lat, 99) * 1000,
            sse_max_ms=max(lat, default=0) * 1000,
        )


# ---------------------------------------------------------------- the two servers
@contextlib.asynccontextmanager
async def baseline_server(args: argparse.Namespace, workdir: Path) -> AsyncIterator[Target]:
    port = free_port()
    db = workdir / "baseline.db"
    cmd = [sys.executable, str(BASELINE), "--port", str(port), "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # noqa: ASYNC220 - starting does not block
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 15)
        if not line.startswith("READY"):
            raise RuntimeError(f"baseline did not start: {line!r}")
        t = Target("baseline", f"http://127.0.0.1:{port}", proc.pid, db, "SELECT count(*) FROM messages",
                   [f"visitor-{i}" for i in range(args.visitors)])
        yield t
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


@contextlib.asynccontextmanager
async def daemon_server(args: argparse.Namespace, workdir: Path) -> AsyncIterator[Target]:
    d = Daemon(workdir / "daemon")
    # The shipped tpbridge.toml logs at info; the test harness's debug level would measure the log file.
    # The load comes from one address and 50 visitors at full speed: the web chat's flood limits off.
    d.config_path.write_text(d.config_path.read_text().replace('log_level = "debug"',
                                                                f'log_level = "{args.log_level}"')
                             .replace("[channels.webchat.site]\nenabled = true\n",
                                      "[channels.webchat.site]\nenabled = true\nflood = { enabled = false }\n"))
    if args.encrypt:  # encryption at rest on, with a fresh key (its cost: README, Benchmark)
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        d.config_path.write_text(d.config_path.read_text().replace(
            "[store]\n", f'[store]\nencryption_key = "{key}"\n', 1))
    async with d:
        assert d.proc is not None
        visitors = [await Visitor(d).start() for _ in range(args.visitors)]
        yield Target("daemon", d.url, d.proc.pid, d.data_dir / "tpbridge.db",
                     "SELECT count(*) FROM messages WHERE direction = 'in'",
                     [v.token for v in visitors], sse_token=d.token)


# ---------------------------------------------------------------- report
def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(base: Target, daemon: Target, args: argparse.Namespace) -> tuple[list[str], bool]:
    b, d = base.results, daemon.results
    ratio = d["msgs_per_s"] / b["msgs_per_s"]
    cpu_ratio = d["cpu_us_per_msg"] / b["cpu_us_per_msg"]
    all_seen = d["sse_received"] == d["paced_sent"] - d["paced_failures"]
    checks = [
        ("throughput ratio daemon/baseline", f"{ratio:.2f}", f">= {TARGET_RATIO}", ratio >= TARGET_RATIO),
        ("CPU per message daemon/baseline", f"{cpu_ratio:.2f}x", f"<= {TARGET_CPU_RATIO}x",
         cpu_ratio <= TARGET_CPU_RATIO),
        (f"ack p99 at {args.rate:g} msg/s", f"{d['ack_p99_ms']:.1f} ms", f"<= {TARGET_ACK_P99_MS:g} ms",
         d["ack_p99_ms"] <= TARGET_ACK_P99_MS),
        (f"accept->SSE p99 at {args.rate:g} msg/s", f"{d['sse_p99_ms']:.1f} ms", f"< {TARGET_SSE_P99_MS:g} ms"
         + ("" if all_seen else ", every event"), d["sse_p99_ms"] < TARGET_SSE_P99_MS and all_seen),
    ]

    def pair(key: str, fmt: str) -> str:
        return f"{format(d[key], fmt):>16}{format(b[key], fmt):>16}"

    def two(k1: str, k2: str, r: dict[str, Any]) -> str:
        return f"{r[k1]:>7.1f} /{r[k2]:>7.1f}"

    lines = [
        "=" * 78,
        f"tpbridge ingest benchmark: {os.cpu_count()} cores; wrk -t{args.wrk_threads} -c{args.connections}"
        f" {args.duration:g}s x {args.rounds} rounds; {args.visitors} visitors;",
        f"paced {args.rate:g} msg/s for {args.latency_duration:g}s. Throughput: median round (lower middle if even).",
        "-" * 78,
        f"{'':30}{'daemon':>16}{'baseline':>16}{'ratio':>10}",
        f"{'messages/s (wrk)':30}{pair('msgs_per_s', ',.0f')}{ratio:>10.2f}",
        f"{'server CPU per message (us)':30}{pair('cpu_us_per_msg', '.0f')}{cpu_ratio:>9.2f}x",
        f"{'server CPU (cores busy)':30}{pair('cpu_cores', '.2f')}",
        f"{'wrk CPU (cores busy)':30}{pair('wrk_cores', '.2f')}",
        f"{'stored messages':30}{pair('stored', 'd')}",
        f"{'wrk requests answered':30}{pair('wrk_requests', 'd')}",
        f"{'wrk errors':30}{pair('wrk_errors', 'd')}",
        f"{'wrk latency p50 / p99 (ms)':30}{two('wrk_p50_ms', 'wrk_p99_ms', d)}{two('wrk_p50_ms', 'wrk_p99_ms', b)}",
        f"{'paced: rate reached (msg/s)':30}{pair('paced_rate', '.0f')}",
        f"{'paced: server CPU (cores)':30}{pair('paced_server_cores', '.2f')}",
        f"{'paced: ack p50 / p99 (ms)':30}{two('ack_p50_ms', 'ack_p99_ms', d)}{two('ack_p50_ms', 'ack_p99_ms', b)}",
        f"{'paced: accept->SSE p50 / p99':30}{two('sse_p50_ms', 'sse_p99_ms', d)}{'(no SSE)':>16}",
        f"{'paced: SSE events matched':30}{d['sse_received']:>9}/{d['paced_sent']:<6}",
        f"{'paced: failures':30}{pair('paced_failures', 'd')}",
        "-" * 78,
    ]
    for i, (rd, rb) in enumerate(zip(daemon.rounds, base.rounds, strict=True), 1):
        lines.append(f"round {i}: daemon {rd['msgs_per_s']:>6,.0f} msg/s {rd['cpu_us_per_msg']:>4.0f} us/msg,"
                     f" baseline {rb['msgs_per_s']:>6,.0f} msg/s {rb['cpu_us_per_msg']:>4.0f} us/msg,"
                     f" ratio {rd['msgs_per_s'] / rb['msgs_per_s']:.2f}")
    others = [r["other_cores"] for r in (*daemon.rounds, *base.rounds)] + [d["paced_other_cores"],
                                                                        b["paced_other_cores"]]
    lines.append(f"other processes on the machine meanwhile: up to {max(others):.2f} cores busy"
                 + ("  <- NOT QUIET: figures are pessimistic, rerun on an idle machine" if max(others) > 0.25 else ""))
    lines.append("-" * 78)
    lines += [f"{verdict(ok)}  {name:36} {value:>10}   target {target}" for name, value, target, ok in checks]
    lines.append("=" * 78)
    return lines, all(ok for *_, ok in checks)


async def measure(args: argparse.Namespace, workdir: Path, targets: list[Target]) -> None:
    for t in targets:
        t.tokens_file = workdir / f"{t.name}-tokens.txt"
        t.tokens_file.write_text("\n".join(t.tokens) + "\n")
    for i in range(args.rounds):
        # Interleaved, so a change in the machine's load falls on both sides alike.
        for t in targets:
            t.rounds.append(await asyncio.to_thread(throughput, t, args, args.warmup if i == 0 else 0))
    for t in targets:
        summarize(t)
        await paced(t, args.rate, args.latency_duration)


async def main() -> int:
    ap = argparse.ArgumentParser(description="tpbridge web chat ingest benchmark against a bare baseline")
    ap.add_argument("--duration", type=float, default=8, help="seconds of wrk load per server and round (8)")
    ap.add_argument("--rounds", type=int, default=3, help="wrk rounds per server, interleaved; median reported (3)")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of wrk warm-up per server (2)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    ap.add_argument("--visitors", type=int, default=50, help="visitor tokens the load is spread over (50)")
    ap.add_argument("--rate", type=float, default=500, help="paced client rate, msg/s (500)")
    ap.add_argument("--latency-duration", type=float, default=10, help="seconds of paced load per server (10)")
    ap.add_argument("--log-level", default="info", help="daemon log level (shipped default: info)")
    ap.add_argument("--only", choices=("both", "daemon", "baseline"), default="both")
    ap.add_argument("--encrypt", action="store_true", help="the daemon with [store] encryption_key set")
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (databases, daemon.log)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tpb-bench-"))
    ok = True
    try:
        async with contextlib.AsyncExitStack() as stack:
            targets = []
            if args.only != "daemon":
                targets.append(await stack.enter_async_context(baseline_server(args, workdir)))
            if args.only != "baseline":
                targets.append(await stack.enter_async_context(daemon_server(args, workdir)))
            await measure(args, workdir, targets)
        by_name = {t.name: t for t in targets}
        if len(targets) == 2:
            lines, ok = report(by_name["baseline"], by_name["daemon"], args)
            print("\n".join(lines))
        else:
            print(json.dumps(targets[0].results, indent=1))
        if args.json:
            args.json.write_text(json.dumps({t.name: t.results for t in targets}, indent=1))
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
