"""Where the Telegram webhook's time goes: the same wrk load against the daemon cut short at each stage.

Not a benchmark of the product: it needs `bench/webhook_ceiling.patch` applied in a throwaway checkout,
which makes the webhook handler (and the baseline) stop where `TPB_CEILING` says:

    git worktree add /tmp/ceiling HEAD && cd /tmp/ceiling && git apply bench/webhook_ceiling.patch
    python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'
    .venv/bin/python bench/webhook_ceiling.py

Variants (each its own server process, all started before the first round, rounds interleaved):
- `base`: the baseline of `telegram_webhook.py`, its whole path; `base-nostore`: the same without its INSERT;
- `daemon`: the daemon as shipped; `daemon-nostore`: secret, JSON and the text path, nothing stored;
- `daemon-bare`: the daemon's HTTP stack, middlewares and routing: the body read, 200;
- `daemon-spin`: `bare` plus 27 µs of nothing (what the text path and JSON cost in isolation), which tells
  how much of a stage's cost under load is the stage itself and how much the loop doing fewer requests a turn.

Printed per variant: requests/s answered (median of the rounds), its ratio to the first variant, CPU per
request of the process, wrk's p99; and for the last round the CPU per request of each of its threads
(`main` is the event loop's). Figures of 4 December 2026 in bench/README.md (telegram_webhook section).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import telegram_webhook as tw  # noqa: E402 - the bench's own servers and wrk load
from bench.ingest import cpu_seconds  # noqa: E402 - CPU from /proc, as the other benchmarks read it

VARIANTS = "base,base-nostore,daemon,daemon-nostore,daemon-bare,daemon-spin"


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of the process (`main`: the thread whose id is the process's)."""
    out: dict[str, float] = {}
    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
        try:
            out["main" if tid == pid else str(tid)] = cpu_seconds(pid, tid)
        except OSError:
            continue  # the thread ended meanwhile
    return out


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seconds", type=float, default=6, help="seconds of wrk load per variant and round (6)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is printed (3)")
    ap.add_argument("--variants", default=VARIANTS, help=f"comma-separated, the first is the reference ({VARIANTS})")
    a = ap.parse_args()
    if "TPB_CEILING" not in (ROOT / "adapters/telegram/webhook.py").read_text():
        print("bench/webhook_ceiling.patch is not applied here: see this script's docstring", file=sys.stderr)
        return 2
    args = argparse.Namespace(wrk_threads=2, connections=64, chats=1000, automation=False, log_level="info")
    work = Path(tempfile.mkdtemp(prefix="tpb-ceiling-"))
    runs = tw.Runs()
    results: dict[str, list[tuple[float, float, float]]] = {}
    names = a.variants.split(",")
    async with contextlib.AsyncExitStack() as stack:
        targets: dict[str, Any] = {}
        for name in names:
            kind, _, cut = name.partition("-")
            os.environ.pop("TPB_CEILING", None)
            if cut:
                os.environ["TPB_CEILING"] = cut  # inherited by the server started next
            (work / name).mkdir()
            server = tw.baseline(work / name) if kind == "base" else tw.daemon(args, work / name)
            targets[name] = await stack.enter_async_context(server)
        os.environ.pop("TPB_CEILING", None)
        for t in targets.values():
            await asyncio.to_thread(tw.run_wrk, t, 2, args, runs.next())  # warm-up
        for r in range(a.rounds):
            for name, t in targets.items():
                before, cpu = thread_cpu(t.pid), cpu_seconds(t.pid)
                w = await asyncio.to_thread(tw.run_wrk, t, a.seconds, args, runs.next())
                after, cpu = thread_cpu(t.pid), cpu_seconds(t.pid) - cpu
                n = max(1, w["requests"])
                results.setdefault(name, []).append((
                    w["requests"] / (w["duration_us"] / 1e6), cpu / n * 1e6, w["lat_p99_us"] / 1000))
                if r == a.rounds - 1:
                    per = {k: round((v - before.get(k, 0.0)) / n * 1e6) for k, v in after.items()
                           if v - before.get(k, 0.0) > 0}
                    print(f"{name}: CPU per request by thread (us) {per}")
    ref = statistics.median(x[0] for x in results[names[0]])
    for name, xs in results.items():
        rate, cpu, p99 = (statistics.median(x[i] for x in xs) for i in range(3))
        print(f"{name:16s} {rate:7,.0f} req/s  {rate / ref:4.2f}x  CPU {cpu:5.0f} us/req  p99 {p99:5.1f} ms"
              f"  rounds {[round(x[0]) for x in xs]}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
