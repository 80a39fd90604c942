"""What understanding costs: model start-up time and memory, and per-message latency over the evaluation set.

    .venv/bin/python bench/intelligence.py            # from the repository root

Loads the shipped rules, FAQ and examples exactly as the daemon does (cold: the cached model is not used),
then runs every message of tests/eval/*.psv through the same decisions the bot makes and prints the
accuracy report of `tpbridge eval` with the timings.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    started = time.perf_counter()
    from tpbridge.bridge.automation.classify import RuleClassifier
    from tpbridge.bridge.automation.evaluate import evaluate, load_set, merged
    from tpbridge.bridge.automation.faq import KnowledgeBase
    from tpbridge.bridge.automation.settings import AutomationSettings
    from tpbridge.bridge.automation.understand import Understander

    base_rss = rss_mb()
    config = REPO / "config"
    u = Understander.load(AutomationSettings(), RuleClassifier.from_toml(config / "classify.toml"),
                          KnowledgeBase.load(config / "faq"), config / "examples", None)
    t0 = time.perf_counter()
    u.prepare()  # scikit-learn import + training, lingua's 75 language models, FAQ n-grams
    prepare_s = time.perf_counter() - t0
    sets = [load_set(REPO / "tests" / "eval" / name) for name in ("dev.psv", "heldout.psv")]
    rows = [r for s in sets for r in s]
    latencies = []
    for r in rows:
        t = time.perf_counter()
        u.understand(r.text)
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    reports = [evaluate(u, s, name) for s, name in zip(sets, ("dev", "heldout"), strict=True)]
    print("\n".join(merged(reports).lines()))
    print()
    print(f"models ready in {prepare_s:.1f} s (process up {time.perf_counter() - started:.1f} s); "
          f"resident memory {base_rss:.0f} MB before, {rss_mb():.0f} MB after")
    print(f"per message: median {statistics.median(latencies):.1f} ms, "
          f"p90 {latencies[int(len(latencies) * 0.9)]:.1f} ms, max {latencies[-1]:.1f} ms over {len(rows)} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
