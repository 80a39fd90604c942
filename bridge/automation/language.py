"""Offline language detection: lingua limited to the configured languages.

A short text ("ok", "1", "?") says little about its language, so it keeps the
contact's last known language; the detector is built once, lazily, because only
the configured languages' models are loaded.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


class LanguageDetector:
    def __init__(self, languages: Sequence[str], *, short_text_letters: int = 6) -> None:
        self.codes = [c.lower() for c in languages]
        self.short = short_text_letters
        self._detector: Any = None
        self._lock = threading.Lock()
        self._by_code: dict[str, Any] = {}

    def _build(self) -> Any:
        with self._lock:
            if self._detector is None:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                langs = []
                for code in self.codes:
                    try:
                        lang = Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                    except (AttributeError, ValueError):
                        log.warning("language.unknown", code=code)
                        continue
                    langs.append(lang)
                    self._by_code[code] = lang
                if len(langs) >= 2:
                    # Low-accuracy mode: trigram models only, loads in milliseconds; fine for chat turns.
                    self._detector = LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()
                else:
                    self._detector = False
        return self._detector

    def _script_hint(self, text: str) -> str | None:
        """Scripts that decide on their own (among the configured languages): no model needed."""
        if _KANA.search(text) and "ja" in self.codes:
            return "ja"
        if _HANGUL.search(text) and "ko" in self.codes:
            return "ko"
        if _CJK.search(text) and "zh" in self.codes and "ja" not in self.codes:
            return "zh"
        return None

    def detect(self, text: str, fallback: str | None = None) -> str | None:
        """The language code of `text`, or `fallback` when the text is too short to tell."""
        if not self.codes:
            return fallback
        hint = self._script_hint(text)
        if hint is not None:
            return hint
        letters = len(_LETTERS.findall(text))
        if letters < self.short:
            return fallback
        if len(self.codes) == 1:
            return self.codes[0]
        detector = self._build()
        if not detector:
            return fallback
        found = detector.detect_language_of(text)
        if found is None:
            return fallback
        return found.iso_code_639_1.name.lower()

    async def detect_async(self, text: str, fallback: str | None = None) -> str | None:
        # Building the detector and the model lookups are CPU work: keep them off the event loop.
        return await asyncio.to_thread(self.detect, text, fallback)
