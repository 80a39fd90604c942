"""`tpbridge eval`: the labelled evaluation set through the same decisions the bot makes.

The set is pipe-separated lines `language | category | faq entry or - | message`
(tests/eval/dev.psv and tests/eval/heldout.psv). The model is trained on the shipped
examples only — never on corrections, which could hold anything — and the figures are
printed per file, so the held-out half is reported on its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tpbridge.bridge.automation.understand import Understander


class EvalSetError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Labelled:
    language: str
    category: str
    faq: str | None
    text: str
    where: str


def load_set(path: Path) -> list[Labelled]:
    rows: list[Labelled] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("|", 3)
        if len(parts) != 4 or not parts[3].strip():
            raise EvalSetError(f"{path.name}:{n}: expected 'language|category|faq|message'")
        lang, cat, faq, text = (p.strip() for p in parts)
        rows.append(Labelled(lang, cat, None if faq == "-" else faq, text, f"{path.name}:{n}"))
    return rows


@dataclass
class Report:
    name: str
    total: int = 0
    language_ok: int = 0
    category_ok: int = 0
    security_total: int = 0
    security_found: int = 0
    security_flagged: int = 0  # predicted security (for precision)
    security_faq: int = 0  # FAQ answers to security incidents: must stay 0
    faq_total: int = 0
    faq_ok: int = 0
    faq_wrong: int = 0  # an FAQ answer where none (or another one) was expected
    complaint_total: int = 0
    complaint_no_faq: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    language_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    @staticmethod
    def pct(n: int, d: int) -> str:
        return f"{100 * n / d:5.1f} % ({n}/{d})" if d else "    - (0/0)"

    def lines(self) -> list[str]:
        out = [
            f"{self.name}: {self.total} messages",
            f"  language               {self.pct(self.language_ok, self.total)}   target >= 98 %",
            f"  category               {self.pct(self.category_ok, self.total)}   target >= 90 %",
            f"  security recall        {self.pct(self.security_found, self.security_total)}   target 100 %",
            f"  security precision     {self.pct(self.security_found, self.security_flagged)}",
            f"  FAQ to security        {self.security_faq}                 target 0",
            f"  right FAQ answer       {self.pct(self.faq_ok, self.faq_total)}   target >= 85 %",
            f"  FAQ sent unwanted/wrong {self.faq_wrong}",
            f"  no FAQ to complaints   {self.pct(self.complaint_no_faq, self.complaint_total)}   target >= 98 %",
        ]
        if self.confusion:
            out.append("  category confusions (expected -> got: count)")
            out += [f"    {e} -> {g}: {c}" for (e, g), c in self.confusion.most_common()]
        if self.language_confusion:
            out.append("  language confusions (expected -> got: count)")
            out += [f"    {e} -> {g}: {c}" for (e, g), c in self.language_confusion.most_common()]
        return out


def evaluate(u: Understander, rows: list[Labelled], name: str) -> Report:
    r = Report(name)
    for row in rows:
        got = u.understand(row.text)
        r.total += 1
        lang_ok = got.language == row.language
        r.language_ok += lang_ok
        if not lang_ok:
            r.language_confusion[(row.language, str(got.language))] += 1
        cat = got.category or "none"
        r.category_ok += cat == row.category
        if cat != row.category:
            r.confusion[(row.category, cat)] += 1
        sent = got.faq.entry.id if got.faq else None
        if row.category == "security":
            r.security_total += 1
            r.security_found += got.security
            r.security_faq += sent is not None
        r.security_flagged += got.security
        if row.faq is not None:
            r.faq_total += 1
            r.faq_ok += sent == row.faq
        if sent is not None and sent != row.faq:
            r.faq_wrong += 1
        if row.category == "complaint":
            r.complaint_total += 1
            r.complaint_no_faq += sent is None
        if not lang_ok or cat != row.category or sent != row.faq:
            r.misses.append(f"{row.where}: expected {row.language}/{row.category}/{row.faq or '-'}, "
                            f"got {got.language}/{cat}/{sent or '-'} — {row.text[:70]} "
                            f"[{got.classification.explain()}; {got.faq_withheld or ''}]")
    return r


def merged(reports: list[Report]) -> Report:
    total = Report("all")
    for rep in reports:
        for name in ("total", "language_ok", "category_ok", "security_total", "security_found", "security_flagged",
                     "security_faq", "faq_total", "faq_ok", "faq_wrong", "complaint_total", "complaint_no_faq"):
            setattr(total, name, getattr(total, name) + getattr(rep, name))
        total.confusion.update(rep.confusion)
        total.language_confusion.update(rep.language_confusion)
    return total


def meets_targets(r: Report) -> bool:
    return (r.language_ok >= 0.98 * r.total and r.category_ok >= 0.90 * r.total
            and r.security_found == r.security_total and r.security_faq == 0
            and r.faq_ok >= 0.85 * r.faq_total and r.complaint_no_faq >= 0.98 * r.complaint_total)
