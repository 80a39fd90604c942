"""A/B: the Telegram webhook load against two checkouts of tpbridge at once, interleaved (no baseline).

For measuring one change on a busy machine: two daemons, each run by its checkout's own `.venv` (so each
imports its own code), the same `wrk` load as bench/telegram_webhook.py, alternating rounds; stored rows,
CPU per update from /proc, wrk's p99. A checkout may carry one environment variable for its daemon:
`PATH:NAME=VALUE`.

    .venv/bin/python bench/ab_webhook.py ../before . [--rounds 3] [--seconds 5] [--automation]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import telegram_webhook as tw  # noqa: E402
from bench.ingest import cpu_seconds  # noqa: E402
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram  # noqa: E402
from tests.support.daemon import Daemon  # noqa: E402


@contextlib.contextmanager
def as_checkout(checkout: str) -> Iterator[None]:
    """Daemon runs `sys.executable -m tpbridge.bridge` (and its CLI): meanwhile, `checkout`'s own `.venv` python,
    so the daemon imports that checkout's code."""
    own = sys.executable
    sys.executable = os.path.join(os.path.abspath(checkout), ".venv", "bin", "python")
    try:
        yield
    finally:
        sys.executable = own


@contextlib.asynccontextmanager
async def daemon(spec: str, args: argparse.Namespace, fake: FakeTelegram) -> AsyncIterator[tw.CountingTarget]:
    checkout, _, assignment = spec.partition(":")
    env = dict([assignment.split("=", 1)]) if assignment else {}
    channels = (f'[channels.telegram.main]\ntoken = "{DEFAULT_TOKEN}"\nmode = "webhook"\n'
                f'api_base_url = "{fake.url}"\nwebhook_secret = "{tw.SECRET}"\n')
    d = Daemon(Path(tempfile.mkdtemp(prefix="tpb-ab-")), channels, env=env, webchat=False,
               extra_toml=tw.AUTOMATION_TOML if args.automation else "")
    d.config_path.write_text(d.config_path.read_text().replace('log_level = "debug"', 'log_level = "info"'))
    with as_checkout(checkout):
        async with d:
            assert d.proc is not None
            yield tw.CountingTarget(spec, d.url, d.proc.pid, d.data_dir / "tpbridge.db",
                                    "SELECT count(*) FROM messages WHERE direction = 'in'|/hooks/telegram/main", [])


async def measure(t: tw.CountingTarget, args: argparse.Namespace, runs: tw.Runs) -> tuple[float, float, float]:
    before, cpu = t.stored(), cpu_seconds(t.pid)
    result = await asyncio.to_thread(tw.run_wrk, t, args.seconds, args, runs.next())
    for _ in range(100):  # in-flight requests settle
        if t.stored() - before >= result["requests"]:
            break
        await asyncio.sleep(0.1)
    stored = t.stored() - before
    return stored / args.seconds, (cpu_seconds(t.pid) - cpu) / stored * 1e6, result["lat_p99_us"] / 1000


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", help="checkout A (with its .venv), optionally A:NAME=VALUE")
    ap.add_argument("b", help="checkout B")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--automation", action="store_true")
    args = ap.parse_args()
    args.wrk_threads, args.connections, args.chats = 2, 64, 1000
    runs = tw.Runs()
    results: dict[str, list[tuple[float, float, float]]] = {args.a: [], args.b: []}
    async with FakeTelegram() as fake, daemon(args.a, args, fake) as a, daemon(args.b, args, fake) as b:
        for t in (a, b):  # warm-up
            await asyncio.to_thread(tw.run_wrk, t, 2, args, runs.next())
        for _ in range(args.rounds):
            for t in (a, b):
                results[t.name].append(await measure(t, args, runs))
                print(f"{t.name}: {results[t.name][-1][0]:,.0f} updates/s, {results[t.name][-1][1]:.0f} us each,"
                      f" p99 {results[t.name][-1][2]:.1f} ms", flush=True)
    for name, rows in results.items():
        rate, cpu, p99 = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{name}: median {rate:,.0f} updates/s, {cpu:.0f} us CPU each, p99 {p99:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
