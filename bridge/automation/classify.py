"""Classification: which kind of matter a conversation is, behind an interface another classifier can implement.

The default is rules from `config/classify.toml`: keywords and regular expressions
per category, scored and explained, so an agent sees why a conversation was marked
`security` and can fix the rule rather than guess.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Classification:
    category: str | None
    score: float = 0.0
    matched: tuple[str, ...] = ()  # the keywords and patterns that fired

    def explain(self) -> str:
        if self.category is None:
            return "no rule matched"
        return f"{self.category} (score {self.score:g}: {', '.join(self.matched)})"


@runtime_checkable
class Classifier(Protocol):
    """What automation needs: a category for the customer's words (language as a hint)."""

    def classify(self, text: str, language: str | None = None) -> Classification: ...


class RulesError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]


class RuleClassifier:
    KEYWORD = 1.0
    PATTERN = 2.0

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules

    @classmethod
    def from_toml(cls, path: Path) -> RuleClassifier:
        if not path.exists():
            return cls([])
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RulesError(f"{path}: {exc}") from None
        cats = data.get("categories", {})
        order = list(data.get("order", [])) + [c for c in cats if c not in data.get("order", [])]
        rules = []
        for name in order:
            raw = cats.get(name)
            if raw is None:
                raise RulesError(f"{path.name}: order names {name!r} but there is no [categories.{name}]")
            patterns = []
            for i, p in enumerate(raw.get("patterns", [])):
                try:
                    patterns.append(re.compile(p, re.IGNORECASE))
                except re.error as exc:
                    raise RulesError(f"{path.name}: categories.{name}.patterns[{i}]: {exc}") from None
            keywords = tuple(str(k).lower() for k in raw.get("keywords", []))
            rules.append(Rule(name, keywords, tuple(patterns)))
        return cls(rules)

    def classify(self, text: str, language: str | None = None) -> Classification:
        low = text.lower()
        best = Classification(None)
        for rule in self.rules:
            matched = [k for k in rule.keywords if k in low]
            matched += [f"/{p.pattern}/" for p in rule.patterns if p.search(text)]
            score = sum(self.PATTERN if m.startswith("/") else self.KEYWORD for m in matched)
            if score > best.score:  # strictly more: earlier categories win ties
                best = Classification(rule.category, score, tuple(matched))
        return best
