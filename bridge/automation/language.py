"""Offline language detection among every language lingua knows, biased towards the desk's own.

Scripts decide first where they can: Hangul is Korean, kana is Japanese, Han alone is
Chinese — `zh-Hant` when OpenCC's Traditional→Simplified conversion changes it, else
`zh-Hans`. Mixed text goes by the script most of it is in ("我的USDT还没到" is Chinese).
Everything else goes to lingua, built with all its languages (low-accuracy mode: ~90 MB,
under a second to load, in a worker thread at start). Short support messages are hard for
any general detector ("kyc pending" looks Icelandic to it), so its confidences are added to
those of a small model trained on the shipped examples, which knows how support requests
read in the languages the desk answers in. A text too short to tell keeps the contact's
last language.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from tpbridge.bridge.automation.normalize import is_traditional

log = structlog.get_logger(__name__)

_lingua: Any = None  # one detector per process: ~90 MB of models, shared by every Automation
_lingua_lock = threading.Lock()


def lingua_detector() -> Any:
    global _lingua
    with _lingua_lock:
        if _lingua is None:
            from lingua import LanguageDetectorBuilder

            _lingua = (LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode()
                       .with_preloaded_language_models().build())
    return _lingua

_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff]+")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]+")
_THAI = re.compile(r"[\u0e00-\u0e7f]")
# Hashes, addresses, order numbers, URLs and e-mail addresses say nothing about the language.
# Each alternative that can fail after a scan starts only where its run of characters starts (the
# lookbehinds): tried from every position of a long run, the scans were quadratic (seconds for 64 KB).
_NOISE = re.compile(r"https?://\S+|(?<![\w.+-])[\w.+-]+@[\w.-]+"
                    r"|(?<![A-Za-z0-9-])(?=[A-Za-z-]*\d)[A-Za-z0-9-]{5,}(?![A-Za-z0-9])|#\S+")

DOMAIN_WEIGHT = 1.5
TRUST_LINGUA = 0.98

# A language model for the shipped languages: text -> {code: probability}; see learned.language_model.
DomainModel = Callable[[str], dict[str, float]]


def primary(code: str | None) -> str | None:
    """`zh-Hant` -> `zh`: teams and agents may name a language without its script."""
    return code.split("-", 1)[0].lower() if code else None


def same_language(wanted: str, code: str | None) -> bool:
    """Whether a configured language (`zh`, `zh-Hant`, `en`) covers a detected one."""
    if code is None:
        return False
    return wanted.lower() == code.lower() or ("-" not in wanted and wanted.lower() == primary(code))


def language_chain(language: str | None, default: str | None) -> list[str]:
    """Where to look for a text in `language`: itself, its base (`zh-Hans` -> `zh`), the default, English.

    `zh` in the shipped files is Simplified Chinese (the older name), so `zh-Hans` finds it;
    `zh-Hant` falls back to it when no Traditional text exists.
    """
    order: list[str] = []
    for lang in (language, default, "en"):
        if not lang:
            continue
        order.append(lang)
        base = lang.split("-", 1)[0]
        if base != lang:
            order.append(base)
        if lang == "zh":
            order.append("zh-Hans")
    return list(dict.fromkeys(order))


class LanguageDetector:
    def __init__(self, preferred: Sequence[str], *, short_text_letters: int = 6,
                 domain: DomainModel | None = None) -> None:
        self.preferred = [c for c in preferred]
        self.short = short_text_letters
        self.domain = domain

    def preload(self) -> None:
        """Build lingua now (in a worker thread at start), not on the first message."""
        lingua_detector()

    def _by_script(self, text: str) -> str | None:
        han, kana, hangul = len(_HAN.findall(text)), len(_KANA.findall(text)), len(_HANGUL.findall(text))
        thai = len(_THAI.findall(text))
        words = len(_LATIN_WORD.findall(text)) + len(_CYRILLIC_WORD.findall(text))
        # A CJK character carries about as much as a word of an alphabetic script.
        cjk = han + kana + hangul
        if cjk == 0 and thai == 0:
            return None
        if thai > cjk and thai >= words:
            return "th"
        if cjk < words:
            return None
        if hangul >= max(han, kana) and hangul:
            return "ko"
        if kana:
            return "ja"
        return "zh-Hant" if is_traditional(text) else "zh-Hans"

    def detect(self, text: str, fallback: str | None = None) -> str | None:
        """The language (BCP 47: `en`, `zh-Hans`, `zh-Hant`, `ja`, ...) of `text`, or `fallback`."""
        clean = _NOISE.sub(" ", text)
        by_script = self._by_script(clean)
        if by_script is not None:
            return by_script
        if len(_LETTERS.findall(clean)) < self.short:
            return fallback
        scores: dict[str, float] = {}
        for value in lingua_detector().compute_language_confidence_values(clean):
            if value.value > 0:
                scores[value.language.iso_code_639_1.name.lower()] = float(value.value)
        domain = self.domain(clean) if self.domain is not None else {}
        if scores:
            top, conf = max(scores.items(), key=lambda kv: kv[1])
            words = len(_LATIN_WORD.findall(clean)) + len(_CYRILLIC_WORD.findall(clean))
            if top not in domain and conf >= TRUST_LINGUA and words >= 4:
                return top  # a full sentence lingua is sure of, in a language the examples do not cover
        for code, p in domain.items():
            scores[code] = scores.get(code, 0.0) + DOMAIN_WEIGHT * p
        if not scores:
            return fallback
        return max(scores.items(), key=lambda kv: kv[1])[0]

    async def detect_async(self, text: str, fallback: str | None = None) -> str | None:
        # The model lookups are CPU work: keep them off the event loop.
        return await asyncio.to_thread(self.detect, text, fallback)
