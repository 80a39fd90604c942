"""`tpbridge train` and `tpbridge eval`: the classifier's own commands (registered by bridge/cli.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tpbridge.bridge import config as config_mod
from tpbridge.bridge.automation.classify import RuleClassifier
from tpbridge.bridge.automation.examples import load_corrections, load_folder
from tpbridge.bridge.automation.faq import KnowledgeBase
from tpbridge.bridge.automation.understand import Understander

DEFAULT_SETS = ("tests/eval/dev.psv", "tests/eval/heldout.psv")


def understander(cfg: config_mod.Config, *, with_corrections: bool) -> Understander:
    s = cfg.automation
    base = cfg.config_dir
    rules = RuleClassifier.from_toml(base / s.classify_rules)
    kb = KnowledgeBase.load(base / s.faq_dir)
    return Understander.load(s, rules, kb, base / s.examples_dir, cfg.data_dir if with_corrections else None)


def cmd_train(args: argparse.Namespace) -> int:
    """Train on the shipped examples plus the agents' corrections; cache the model for the daemon's next start."""
    cfg = config_mod.load(args.config)
    from tpbridge.bridge.automation.learned import save, train

    s = cfg.automation
    examples = load_folder(cfg.config_dir / s.examples_dir)
    corrections = load_corrections(cfg.data_dir / "examples")
    started = time.perf_counter()
    model = train(examples + corrections)
    path = save(model, cfg.data_dir / "model")
    by_cat: dict[str, int] = {}
    for e in examples + corrections:
        by_cat[e.category] = by_cat.get(e.category, 0) + 1
    print(f"trained on {len(examples)} examples and {len(corrections)} corrections "
          f"({', '.join(f'{c} {n}' for c, n in sorted(by_cat.items()))}) in {time.perf_counter() - started:.1f} s; "
          f"saved {path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Exit 0 when every target holds on every set, 1 otherwise (so CI can run it)."""
    cfg = config_mod.load(args.config)
    from tpbridge.bridge.automation.evaluate import evaluate, load_set, meets_targets, merged

    paths = [Path(p) for p in (args.set or DEFAULT_SETS)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"tpbridge: no evaluation set at {', '.join(missing)} (run from the repository, or pass --set)",
              file=sys.stderr)
        return 1
    u = understander(cfg, with_corrections=False)  # never trained on anything but the shipped examples
    u.prepare()
    reports = [evaluate(u, load_set(p), p.name) for p in paths]
    everything = [*reports, merged(reports)] if len(reports) > 1 else reports
    for rep in everything:
        print("\n".join(rep.lines()))
        print()
    if args.verbose:
        for rep in reports:
            for miss in rep.misses:
                print(miss)
    return 0 if all(meets_targets(r) for r in reports) else 1


def cmd_contact_tier(args: argparse.Namespace) -> int:
    """`tpbridge contact tier ID vip` (or `none`): the same as PATCH /api/v1/contacts/{id} {"tier": ...}."""
    import asyncio

    from tpbridge.bridge.store import open_store

    cfg = config_mod.load(args.config)
    tier = None if args.tier.lower() in ("none", "null", "-") else args.tier.strip().lower()

    async def run() -> int:
        store = open_store(cfg.store.url, cfg.base_dir)
        await store.open()
        try:
            contact = await store.update_contact(args.contact_id, tier=tier)
        except LookupError:
            print(f"tpbridge: no contact {args.contact_id}", file=sys.stderr)
            return 1
        finally:
            await store.close()
        print(f"contact {contact.id}: tier {contact.tier or 'none'}", file=sys.stderr)
        return 0

    return asyncio.run(run())


def add_contact_commands(contact: Any) -> None:
    tier = contact.add_parser("tier", help="set a contact's tier (vip raises priority), or none")
    tier.add_argument("contact_id", type=int)
    tier.add_argument("tier", help='"vip" (any name in [automation] vip_tiers), or "none"')
    tier.set_defaults(fn=cmd_contact_tier)


def add_commands(sub: Any) -> None:
    train = sub.add_parser("train", help="train the classifier on config/examples and the agents' corrections")
    train.set_defaults(fn=cmd_train)
    ev = sub.add_parser("eval", help="run the labelled evaluation set and print accuracy per task")
    ev.add_argument("--set", action="append", help="an evaluation file (repeatable; default tests/eval/*.psv)")
    ev.add_argument("-v", "--verbose", action="store_true", help="also print every miss with its explanation")
    ev.set_defaults(fn=cmd_eval)
