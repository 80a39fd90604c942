"""A classifier learned from labelled examples, offline: character n-gram TF-IDF and logistic regression.

Character n-grams work for every script without a word segmenter (Chinese, Japanese,
Korean, Cyrillic, Latin with typos alike) and generalise to paraphrases the rules never
listed. Everything is local: scikit-learn trains on the shipped examples in about a
second; the fitted model is cached under `data_dir/model/` keyed by the examples'
fingerprint, so a restart with the same examples loads it instead of training.
scikit-learn is imported only here, and only when a model is trained or loaded (in a
worker thread at start), so the daemon itself starts as fast as before.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from tpbridge.bridge.automation.examples import Example, fingerprint
from tpbridge.bridge.automation.normalize import normalize

log = structlog.get_logger(__name__)

_MODEL_VERSION = 2
TEMPERATURE = 0.25  # margins of about one become confident probabilities
_cache: dict[str, LearnedModel] = {}  # per process: the test suite trains once per set of examples
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Prediction:
    category: str
    confidence: float  # the model's probability of that category
    evidence: tuple[str, ...]  # the n-grams that weighed most for it
    probabilities: dict[str, float]


def softmax(scores: Any, temperature: float = TEMPERATURE) -> Any:
    """A linear SVM's margins as probabilities: monotone in the margin, summing to one."""
    import numpy as np

    z = np.asarray(scores, dtype=float) / temperature
    z = np.exp(z - z.max())
    return z / z.sum()


class LearnedModel:
    def __init__(self, pipeline: Any, fp: str, size: int, seconds: float) -> None:
        self.pipeline = pipeline
        self.fingerprint = fp
        self.size = size
        self.seconds = seconds
        vec = pipeline.named_steps["tfidf"]
        self._features = vec.get_feature_names_out()
        self._clf = pipeline.named_steps["clf"]
        # The last text and its prediction: a first message with an FAQ match is predicted twice, to
        # classify it and to check the FAQ entry's category (Understander._unlike) — 3 ms each for a long one.
        self._last: tuple[str, Prediction | None] | None = None

    @property
    def categories(self) -> list[str]:
        return [str(c) for c in self._clf.classes_]

    def predict(self, text: str) -> Prediction | None:
        last = self._last  # one read: another thread may replace it meanwhile
        if last is not None and last[0] == text:
            return last[1]
        found = self._predict(text)
        self._last = (text, found)
        return found

    def _predict(self, text: str) -> Prediction | None:
        norm = normalize(text)
        if not norm.strip():
            return None
        vec = self.pipeline.named_steps["tfidf"].transform([norm])
        proba = softmax(self._clf.decision_function(vec)[0])
        best = int(proba.argmax())
        # What decided: the n-grams of this text with the largest weight for the chosen class.
        row = vec.tocoo()
        coef = self._clf.coef_[best]
        weights = sorted(((float(v * coef[j]), str(self._features[j])) for j, v in zip(row.col, row.data,
                                                                                      strict=True)), reverse=True)
        # Longer n-grams first among the weightiest: '被盗' says more to an agent than '被'.
        top = [f.strip() for w, f in weights[:12] if w > 0 and len(f.strip()) > 1]
        evidence = tuple(dict.fromkeys(sorted(top, key=len, reverse=True)))[:4]
        return Prediction(self.categories[best], float(proba[best]), evidence,
                          {c: float(p) for c, p in zip(self.categories, proba, strict=True)})


def build_pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    return Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=1,
                                  lowercase=False)),
        ("clf", LinearSVC(C=0.5, class_weight="balanced")),
    ])


def train(examples: list[Example]) -> LearnedModel:
    if len({e.category for e in examples}) < 2:
        raise ValueError("the classifier needs examples of at least two categories")
    fp = fingerprint(examples)
    with _cache_lock:
        if fp in _cache:
            return _cache[fp]
    started = time.perf_counter()
    pipeline = build_pipeline()
    pipeline.fit([normalize(e.text) for e in examples], [e.category for e in examples])
    model = LearnedModel(pipeline, fp, len(examples), time.perf_counter() - started)
    with _cache_lock:
        _cache[fp] = model
    log.info("classifier.trained", examples=len(examples), seconds=round(model.seconds, 2), fingerprint=fp)
    return model


def model_path(folder: Path) -> Path:
    return folder / "classifier.pickle"


def save(model: LearnedModel, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = model_path(folder)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # several daemons may share the folder
    tmp.write_bytes(pickle.dumps({"version": _MODEL_VERSION, "fingerprint": model.fingerprint,
                                  "size": model.size, "seconds": model.seconds, "pipeline": model.pipeline}))
    tmp.replace(path)
    return path


def load_or_train(examples: list[Example], folder: Path | None) -> LearnedModel:
    """The cached model when it was fitted on exactly these examples, else a freshly trained one (then cached)."""
    fp = fingerprint(examples)
    with _cache_lock:
        if fp in _cache:
            return _cache[fp]
    if folder is not None:
        path = model_path(folder)
        try:
            # The file is ours (data_dir, written by save() below or `tpbridge train`), never user input.
            raw = pickle.loads(path.read_bytes())
            if raw.get("version") == _MODEL_VERSION and raw.get("fingerprint") == fp:
                model = LearnedModel(raw["pipeline"], fp, int(raw["size"]), float(raw["seconds"]))
                with _cache_lock:
                    _cache[fp] = model
                return model
        except FileNotFoundError:
            pass
        except Exception as exc:  # a stale or broken cache is only a cache: train again
            log.warning("classifier.cache_unusable", path=str(path), error=str(exc)[:200])
    model = train(examples)
    if folder is not None:
        try:
            save(model, folder)
        except OSError as exc:
            log.warning("classifier.cache_not_written", error=str(exc)[:200])
    return model


# Languages the scripts already decide (bridge/automation/language.py): the language model leaves them out.
_SCRIPT_DECIDED = ("zh", "ja", "ko", "th")


class LanguageModel:
    """Which of the shipped alphabetic languages a support message is in (for short texts lingua misreads)."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.codes = [str(c) for c in pipeline.classes_]

    def __call__(self, text: str) -> dict[str, float]:
        norm = normalize(text)
        if not norm.strip():
            return {}
        proba = softmax(self.pipeline.decision_function([norm])[0])
        return {code: float(p) for code, p in zip(self.codes, proba, strict=True)}


_language_models: dict[str, LanguageModel | None] = {}


def train_language_model(examples: list[Example]) -> LanguageModel | None:
    fp = fingerprint(examples)
    with _cache_lock:
        if fp in _language_models:
            return _language_models[fp]
    model = _train_language_model(examples)
    with _cache_lock:
        _language_models[fp] = model
    return model


def _train_language_model(examples: list[Example]) -> LanguageModel | None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    rows = [(normalize(e.text), e.language) for e in examples
            if e.language and not e.language.lower().startswith(_SCRIPT_DECIDED)]
    if len({lang for _t, lang in rows}) < 2:
        return None
    pipeline = Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, lowercase=False)),
        ("clf", LinearSVC(C=0.5, class_weight="balanced")),
    ])
    pipeline.fit([t for t, _l in rows], [lang for _t, lang in rows])
    return LanguageModel(pipeline)
