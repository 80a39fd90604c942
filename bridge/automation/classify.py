"""Classification: which kind of matter a conversation is, behind an interface another classifier can implement.

Two parts, each explainable. Rules from `config/classify.toml` (keywords and regular
expressions per category) are the override: where a rule of an `override` category fires
(security, by default) it decides, whatever the model thinks — an agent sees which keyword
did it and can fix the rule. Otherwise the model learned from `config/examples/`
(bridge/automation/learned.py) decides, and names the character n-grams that weighed most.
Until the model is loaded (a second after start) the rules decide alone, as they did before.
Everything is matched on the normalised text (Traditional → Simplified, half-width, case).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from tpbridge.bridge.automation.normalize import normalize

if TYPE_CHECKING:
    from tpbridge.bridge.automation.learned import LearnedModel

DecidedBy = Literal["rule", "model", "agent", "none"]


@dataclass(frozen=True, slots=True)
class Classification:
    category: str | None
    score: float = 0.0
    matched: tuple[str, ...] = ()  # the keywords and patterns that fired, or the model's weightiest n-grams
    confidence: float = 0.0  # 0..1: 1.0 for a rule that decides, the model's probability otherwise
    decided_by: DecidedBy = "rule"

    def explain(self) -> str:
        if self.category is None:
            return "no rule matched and no model is loaded" if self.decided_by != "model" else "no text to classify"
        if self.decided_by == "model":
            return (f"{self.category} by the learned model (confidence {self.confidence:.2f}; "
                    f"n-grams: {', '.join(repr(m) for m in self.matched) or '-'})")
        if self.decided_by == "agent":
            return f"{self.category} set by an agent"
        return f"{self.category} by rule (score {self.score:g}: {', '.join(self.matched)})"


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

    def __init__(self, rules: list[Rule], override: frozenset[str] = frozenset({"security"})) -> None:
        self.rules = rules
        self.override = override  # categories whose rules win over the learned model

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
        override = data.get("override", ["security"])
        if not isinstance(override, list) or not all(isinstance(o, str) for o in override):
            raise RulesError(f"{path.name}: override must be a list of category names")
        return cls(rules, frozenset(override))

    def overriding(self, text: str) -> Classification:
        """The best of the override categories' rules alone: a security keyword wins even when
        a message also says "withdrawal" twice."""
        return self._best(text, [r for r in self.rules if r.category in self.override])

    def classify(self, text: str, language: str | None = None) -> Classification:
        return self._best(text, self.rules)

    def _best(self, text: str, rules: list[Rule]) -> Classification:
        low = normalize(text)
        text = f"{text}\n{low}"  # patterns see the original and the normal form (帳號 and 账号 alike)
        best = Classification(None)
        for rule in rules:
            matched = [k for k in rule.keywords if k in low]
            matched += [f"/{p.pattern}/" for p in rule.patterns if p.search(text)]
            score = sum(self.PATTERN if m.startswith("/") else self.KEYWORD for m in matched)
            if score > best.score:  # strictly more: earlier categories win ties
                best = Classification(rule.category, score, tuple(matched), 1.0, "rule")
        return best


class HybridClassifier:
    """Rules of the override categories first, then the learned model, then (no model yet) the rules."""

    def __init__(self, rules: RuleClassifier, model: LearnedModel | None = None, *,
                 security_category: str = "security", security_floor: float = 0.3) -> None:
        self.rules = rules
        self.model = model
        self.security_category = security_category
        # Missing a stolen-funds report is the worst failure: security wins from this probability on.
        self.security_floor = security_floor

    def classify(self, text: str, language: str | None = None) -> Classification:
        ruled = self.rules.overriding(text)
        if ruled.category is not None:
            return ruled
        if self.model is None:
            return self.rules.classify(text, language)
        found = self.model.predict(text)
        if found is None:
            return self.rules.classify(text, language)
        category, confidence = found.category, found.confidence
        sec = found.probabilities.get(self.security_category, 0.0)
        if category != self.security_category and sec >= self.security_floor:
            category, confidence = self.security_category, sec
        return Classification(category, confidence, found.evidence, confidence, "model")
