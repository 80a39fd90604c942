"""The FAQ search scores each variant on the terms it shares with the question (a set intersection): the
same matches, in the same order, with the same confidences (but for float rounding) as the walk over every
term of the question it replaced, on both evaluation sets and on long messages."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from tpbridge.bridge.automation.faq import SIMILARITY_SCALE, KnowledgeBase, Match, normalize, terms

from tests.automation.test_eval import SETS

CONFIG = Path(__file__).resolve().parents[2] / "config"


def walk_every_term(kb: KnowledgeBase, text: str, limit: int = 3) -> list[Match]:
    """The search as it was: every term of the question looked up in every variant."""
    query = Counter(terms(text))
    if not query:
        return []
    similar: list[float] = [0.0] * len(kb._docs)
    if kb._vectorizer is not None:
        row = kb._vectorizer.transform([normalize(text)])
        similar = [float(x) for x in (kb._matrix @ row.T).toarray().ravel()]
    best: dict[str, Match] = {}
    for (entry, variant, tf, dl), own, sim in zip(kb._docs, kb._self, similar, strict=True):
        score = kb._bm25(query, tf, dl)
        if (score <= 0 or own <= 0) and sim <= 0:
            continue
        extra = sum(kb._idf.get(t, 1.0) for t in query if t not in tf)
        lexical = min(1.0, score / own) * (own / (own + extra * 0.5)) if own > 0 else 0.0
        confidence = max(lexical, sim * SIMILARITY_SCALE)
        match = Match(entry, score, min(1.0, confidence), variant, tuple(t for t in query if t in tf), round(sim, 3))
        if entry.id not in best or match.confidence > best[entry.id].confidence:
            best[entry.id] = match
    return sorted(best.values(), key=lambda m: (-m.confidence, -m.score))[:limit]


def test_the_search_finds_what_the_walk_over_every_term_found() -> None:
    kb = KnowledgeBase.load(CONFIG / "faq")
    kb.fit_similarity()
    texts = [case.text for cases in SETS.values() for case in cases]
    texts += [" ".join(texts[i:i + 6]) for i in range(0, len(texts), 6)]  # long, many-topic messages
    assert len(texts) > 100
    for text in texts:
        got, want = kb.search(text, limit=10), walk_every_term(kb, text, limit=10)
        assert [m.entry.id for m in got] == [m.entry.id for m in want], text
        for g, w in zip(got, want, strict=True):
            assert g.score == w.score and g.matched == w.matched and g.variant == w.variant, text
            assert math.isclose(g.confidence, w.confidence, rel_tol=1e-12, abs_tol=1e-12), text
