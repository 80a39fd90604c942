"""The knowledge base and its offline, explainable matcher (BM25 over words and CJK bigrams).

Each entry has question variants and an answer per language (`config/faq/*.toml`).
Every variant is a BM25 document; an entry scores as its best variant. The
confidence is that score divided by the variant's score against itself, so 1.0
means "the question covers everything this variant says" whatever the corpus size,
and the matched terms say why.
"""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpbridge.bridge.automation.language import language_chain
from tpbridge.bridge.automation.normalize import normalize
from tpbridge.bridge.search import terms as search_terms

K1 = 1.2
SIMILARITY_SCALE = 1.0  # a cosine of character n-grams counts as this much confidence
B = 0.75
# Words that carry no topic; BM25's idf mostly discounts them, this keeps short questions honest.
STOPWORDS = frozenset(
    "a an the i my me we our you your is are was were be been it its to of in on at for and or do does did "
    "how what why when can could would should will please hi hello there have has had not yet this that with "
    "from about any".split()
)


class FaqError(ValueError):
    pass


def stem(word: str) -> str:
    """A crude English stemmer (arrived/arrive/arriving -> arriv): enough for short support questions."""
    for suffix, keep in (("ing", 4), ("ed", 3), ("es", 3), ("s", 3), ("e", 4)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Words and CJK bigrams of the normal form: a Traditional question matches Simplified variants."""
    out = []
    for t in search_terms(normalize(text), split_scripts=False):
        if t in STOPWORDS:
            continue
        out.append(stem(t) if t.isascii() else t)
    return out


@dataclass(frozen=True)
class Entry:
    id: str
    questions: dict[str, list[str]]
    answers: dict[str, str]
    title: dict[str, str] = field(default_factory=dict)
    category: str | None = None  # what the entry is about: an FAQ is not sent to a message of another category

    def answer(self, language: str | None, default: str) -> str:
        for lang in language_chain(language, default):
            if lang in self.answers:
                return self.answers[lang]
        return next(iter(self.answers.values()))

    def title_in(self, language: str | None, default: str = "en") -> str:
        for lang in language_chain(language, default):
            if lang in self.title:
                return self.title[lang]
        return self.id

    def has_answer(self, language: str | None) -> bool:
        return any(lang in self.answers for lang in language_chain(language, None))



@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float  # BM25
    confidence: float  # 0..1: score / the variant's self-score
    variant: str
    matched: tuple[str, ...]  # the shared terms: why it matched
    similarity: float = 0.0  # cosine of character n-grams with the variant

    def explain(self) -> str:
        return (f"{self.entry.id} (confidence {self.confidence:.2f}, bm25 {self.score:.2f}, "
                f"n-gram similarity {self.similarity:.2f}, matched {' '.join(self.matched) or '-'}, "
                f"variant {self.variant!r})")


def load_entries(folder: Path) -> list[Entry]:
    """Every `*.toml` in the folder; each holds `[[entry]]` tables."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise FaqError(f"{path}: {exc}") from None
        for i, raw in enumerate(data.get("entry", [])):
            where = f"{path.name}: entry[{i}]"
            entry_id = raw.get("id")
            questions, answers = raw.get("questions", {}), raw.get("answers", {})
            if not isinstance(entry_id, str) or not entry_id:
                raise FaqError(f"{where}.id: is required")
            if entry_id in seen:
                raise FaqError(f"{where}.id: {entry_id!r} is used twice")
            if not isinstance(questions, dict) or not questions or not all(
                    isinstance(v, list) and all(isinstance(q, str) for q in v) for v in questions.values()):
                raise FaqError(f"{where}.questions: a table of language = [question variants]")
            if not isinstance(answers, dict) or not answers or not all(isinstance(v, str) for v in answers.values()):
                raise FaqError(f"{where}.answers: a table of language = answer")
            seen.add(entry_id)
            category = raw.get("category")
            if category is not None and not isinstance(category, str):
                raise FaqError(f"{where}.category: a category name")
            entries.append(Entry(entry_id, questions, answers, raw.get("title", {}), category))
    return entries


class KnowledgeBase:
    def __init__(self, entries: list[Entry]) -> None:
        self.entries = entries
        self._docs: list[tuple[Entry, str, Counter[str], int]] = []
        for entry in entries:
            for variants in entry.questions.values():
                for variant in variants:
                    toks = terms(variant)
                    if toks:
                        self._docs.append((entry, variant, Counter(toks), len(toks)))
        n = len(self._docs)
        self._avgdl = sum(d[3] for d in self._docs) / n if n else 1.0
        df: Counter[str] = Counter()
        for _e, _v, tf, _n in self._docs:
            df.update(tf.keys())
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._self = [self._bm25(tf, tf, dl) for _e, _v, tf, dl in self._docs]
        self._vectorizer: Any = None  # character n-grams over the variants, once fit_similarity() ran
        self._matrix: Any = None

    def fit_similarity(self) -> None:
        """Character n-gram TF-IDF over every variant (scikit-learn; run in a worker thread at start).

        Words miss paraphrases and languages without spaces; shared character n-grams of the normal
        form catch "充值显示成功了但是余额还是0" against "充值没到账" and typos like "deposite".
        """
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not self._docs:
            return
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=False)
        self._matrix = vec.fit_transform([normalize(v) for _e, v, _tf, _n in self._docs])
        self._vectorizer = vec

    @classmethod
    def load(cls, folder: Path) -> KnowledgeBase:
        return cls(load_entries(folder) if folder.is_dir() else [])

    def _bm25(self, query: Iterable[str], tf: Counter[str], dl: int) -> float:
        score = 0.0
        for t in query:
            f = tf.get(t, 0)
            if f:
                score += self._idf.get(t, 0.0) * f * (K1 + 1) / (f + K1 * (1 - B + B * dl / self._avgdl))
        return score

    def search(self, text: str, limit: int = 3) -> list[Match]:
        """The best entries for a question, best first, each with its explanation.

        Each variant is scored on the terms it shares with the question (a set intersection), not by walking
        every term of the question for every variant: a 600-character message has ~100 terms, the knowledge
        base ~300 variants, and that walk was 20 ms a message, the automation's whole budget
        (bench/telegram_webhook.py --automation). The sums are the same but for float rounding."""
        query = Counter(terms(text))
        if not query:
            return []
        similar: list[float] = [0.0] * len(self._docs)
        if self._vectorizer is not None:
            row = self._vectorizer.transform([normalize(text)])
            similar = [float(x) for x in (self._matrix @ row.T).toarray().ravel()]
        position = {t: i for i, t in enumerate(query)}
        words = query.keys()
        unknown = sum(self._idf.get(t, 1.0) for t in query)  # what a variant sharing no term leaves off-topic
        best: dict[str, Match] = {}
        for (entry, variant, tf, dl), own, sim in zip(self._docs, self._self, similar, strict=True):
            shared = sorted(words & tf.keys(), key=position.__getitem__)  # in the question's order
            score = self._bm25(shared, tf, dl)
            if (score <= 0 or own <= 0) and sim <= 0:
                continue
            # A question with many off-topic words matches less well than the same words alone.
            extra = unknown - sum(self._idf.get(t, 1.0) for t in shared)
            lexical = min(1.0, score / own) * (own / (own + extra * 0.5)) if own > 0 else 0.0
            confidence = max(lexical, sim * SIMILARITY_SCALE)
            match = Match(entry, score, min(1.0, confidence), variant, tuple(shared), round(sim, 3))
            if entry.id not in best or match.confidence > best[entry.id].confidence:
                best[entry.id] = match
        return sorted(best.values(), key=lambda m: (-m.confidence, -m.score))[:limit]
