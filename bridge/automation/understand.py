"""What one message means to the desk: its language, its category, whether it is a security
incident, and which FAQ answer (if any) may be sent — decided in one place, so the bot and
`tpbridge eval` measure the same thing.

Security incidents and complaints never get an FAQ answer, whatever the FAQ matcher
thinks: "my password was changed by someone else" is not a password-reset question.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import structlog
from tpbridge.bridge.automation.classify import Classification, Classifier, HybridClassifier, RuleClassifier
from tpbridge.bridge.automation.examples import Example, load_corrections, load_folder
from tpbridge.bridge.automation.faq import KnowledgeBase, Match
from tpbridge.bridge.automation.language import LanguageDetector
from tpbridge.bridge.automation.settings import AutomationSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Understanding:
    language: str | None
    classification: Classification
    security: bool
    faq: Match | None  # the answer the bot may send; None when there is none or it must not
    faq_candidate: Match | None  # the best FAQ match, sent or not (for the handoff note)
    faq_withheld: str | None  # why the candidate is not sent

    @property
    def category(self) -> str | None:
        return self.classification.category


class Understander:
    def __init__(self, settings: AutomationSettings, rules: RuleClassifier, kb: KnowledgeBase,
                 examples: list[Example], cache_dir: Path | None) -> None:
        self.settings = settings
        self.kb = kb
        self.examples = examples
        self.cache_dir = cache_dir
        self.classifier: Classifier = HybridClassifier(rules, security_floor=settings.security_floor)
        self.detector = LanguageDetector(settings.languages, short_text_letters=settings.short_text_letters)
        self._ready = threading.Event()

    @classmethod
    def load(cls, settings: AutomationSettings, rules: RuleClassifier, kb: KnowledgeBase, examples_dir: Path,
             data_dir: Path | None) -> Understander:
        examples = load_folder(examples_dir)
        if data_dir is not None:
            examples += load_corrections(data_dir / "examples")
        cache = data_dir / (settings.model_dir or "model") if data_dir is not None else None
        return cls(settings, rules, kb, examples, cache)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def has_model(self) -> bool:
        return isinstance(self.classifier, HybridClassifier) and self.classifier.model is not None

    def prepare(self) -> None:
        """Train (or load) the models and build the language detector: CPU work, run in a thread at start."""
        from tpbridge.bridge.automation.learned import load_or_train, train_language_model

        # lingua's models load in native code while scikit-learn imports and the model loads here.
        lingua = threading.Thread(target=self.detector.preload, name="lingua-preload", daemon=True)
        lingua.start()
        try:
            if self.settings.learned_classifier and len({e.category for e in self.examples}) >= 2:
                if isinstance(self.classifier, HybridClassifier):
                    self.classifier.model = load_or_train(self.examples, self.cache_dir)
                self.detector.domain = train_language_model(self.examples)
                self.kb.fit_similarity()
        finally:
            lingua.join()
            self._ready.set()
        log.info("automation.models_ready", examples=len(self.examples), learned_model=self.has_model)

    def classify(self, text: str, language: str | None = None) -> Classification:
        return self.classifier.classify(text, language)

    def understand(self, text: str, fallback_language: str | None = None, *,
                   context: str | None = None, language: str | None = None, faq: bool = True) -> Understanding:
        """`context`: the earlier questions of the conversation, classified together with this one;
        `language`: one the person chose (it wins over detection); `faq=False`: a person has the conversation,
        so no FAQ answer is looked for (a third of the time a long message costs; its category, and with it a
        security incident, is still found)."""
        language = language or self.detector.detect(text, fallback_language)
        cls = self.classify(f"{context}\n{text}" if context else text, language)
        security = cls.category in self.settings.security_categories
        matches = self.kb.search(text) if text.strip() and faq else []
        best = matches[0] if matches else None
        withheld: str | None = None
        if not faq:
            withheld = "a person has the conversation"
        elif best is None:
            withheld = "no FAQ entry matched"
        elif security:
            withheld = f"{cls.category} matter: never an FAQ answer"
        elif cls.category in self.settings.no_faq_categories:
            withheld = f"{cls.category}: a person answers, not the FAQ"
        elif best.confidence < self.settings.faq_threshold:
            withheld = f"best FAQ match below the threshold {self.settings.faq_threshold:g}: {best.explain()}"
        elif best.entry.category and self._unlike(text, cls, best.entry.category):
            withheld = (f"FAQ {best.entry.id} is about {best.entry.category}, the message is "
                        f"{cls.category} ({cls.confidence:.2f})")
        return Understanding(language, cls, security, best if withheld is None else None, best, withheld)

    def _unlike(self, text: str, cls: Classification, category: str) -> bool:
        """Whether the message is too unlikely to be of the FAQ entry's category for its answer to fit."""
        model = self.classifier.model if isinstance(self.classifier, HybridClassifier) else None
        if model is None or cls.decided_by != "model":
            return cls.category is not None and cls.category != category
        found = model.predict(text)
        return found is None or found.probabilities.get(category, 0.0) < self.settings.faq_category_min
