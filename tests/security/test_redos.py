"""Regular expressions on text from outside run in linear time: a hostile message cannot hold the loop.

The class, not one pattern: every compiled module-level pattern in tpbridge is run over long hostile runs
(spaces, blank lines, punctuation, dotted words, dashes, digits...) that make a backtracking pattern
quadratic or worse. Found this way: the privacy command trim (64 KB of spaces: seconds), the language
detector's noise filter, the bounce parser's line patterns, the subject token. The bound is generous
(linear patterns take milliseconds here, quadratic ones seconds): it separates the two classes, it does
not measure speed.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time

import pytest
import tpbridge
from tpbridge.bridge.automation.survey import MAX_LEN, parse_score
from tpbridge.bridge.privacy.commands import _first_line

SEEDS = (" ", "\n", " \n", "\t", "a ", "a.", "a-", "a1-", "1 ", "-", "。", "，", "x@", "#a", "re: ", "> ",
         "On wrote:\n", "--\n", "*", "\"", "「", "0x", "a,", "ab", "5 ")
LENGTH = 20_000
BOUND = 1.0  # seconds for one pattern over one 20,000-character text

# Patterns only ever applied to input capped first (each cap is tested below).
CAPPED = {"tpbridge.bridge.automation.survey._NUMBER", "tpbridge.bridge.automation.survey._CN_NUMBER"}


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found: list[tuple[str, re.Pattern[str]]] = []
    for pkg in ("tpbridge.bridge", "tpbridge.adapters"):
        module = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(module.__path__, pkg + "."):
            if ".migrations." in info.name or info.name.endswith("__main__"):
                continue
            mod = importlib.import_module(info.name)
            for name, value in vars(mod).items():
                if isinstance(value, re.Pattern) and f"{info.name}.{name}" not in CAPPED:
                    found.append((f"{info.name}.{name}", value))
    return found


PATTERNS = _patterns()


def test_the_walk_finds_the_patterns_that_read_message_text() -> None:
    names = {name for name, _ in PATTERNS}
    assert len(PATTERNS) > 40 and tpbridge.__name__ == "tpbridge"
    assert {"tpbridge.bridge.automation.language._NOISE", "tpbridge.adapters.email.loops._SMTP_REPLY",
            "tpbridge.bridge.search._TOKEN"} <= names


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n.removeprefix("tpbridge.") for n, _ in PATTERNS])
def test_no_pattern_backtracks_on_long_hostile_runs(name: str, pattern: re.Pattern[str]) -> None:
    for seed in SEEDS:
        text = "5" + seed * (LENGTH // len(seed)) + "!x\x00"
        subject: str | bytes = text.encode() if isinstance(pattern.pattern, bytes) else text
        started = time.perf_counter()
        pattern.search(subject)  # type: ignore[arg-type]
        pattern.match(subject)  # type: ignore[arg-type]
        for _ in pattern.finditer(subject):  # type: ignore[arg-type]
            pass
        took = time.perf_counter() - started
        assert took < BOUND, f"{name} took {took:.2f} s on {len(text)} characters of {seed!r}"


def test_capped_inputs_are_capped_before_any_pattern() -> None:
    for seed in (" ", "\n", " \n", "\t"):
        started = time.perf_counter()
        assert parse_score("5" + seed * LENGTH + "!x") is None
        assert parse_score("5" + seed * (MAX_LEN - 3) + "!") == 5 or seed.strip() == ""
        assert _first_line(seed * LENGTH + "/forget" + " " * LENGTH) == ""  # too long a line for a command
        assert time.perf_counter() - started < BOUND
    assert _first_line("\n\n  “/forget！” \nplease") == "/forget"
