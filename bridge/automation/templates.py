"""Automatic reply templates per language (`config/templates/<code>.toml`, BCP 47: `ja`, `zh-Hant`).

A key missing in one language falls back to its base language (`zh-Hant` -> `zh`), the
default language, then English, so adding a language can start with a few keys.
`zh.toml` is Simplified Chinese (`zh-Hans` finds it).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from tpbridge.bridge.automation.language import language_chain


class TemplateError(ValueError):
    pass


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Templates:
    def __init__(self, by_language: dict[str, dict[str, Any]], default: str = "en") -> None:
        self.by_language = by_language
        self.default = default

    @classmethod
    def load(cls, folder: Path, default: str = "en") -> Templates:
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            try:
                found[path.stem] = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise TemplateError(f"{path}: {exc}") from None
        if not found:
            raise TemplateError(f"{folder}: no reply templates (*.toml) found")
        return cls(found, default)

    @property
    def languages(self) -> list[str]:
        return sorted(self.by_language)

    def _chain(self, language: str | None) -> list[dict[str, Any]]:
        lower = {k.lower(): v for k, v in self.by_language.items()}
        return [lower[lang.lower()] for lang in language_chain(language, self.default) if lang.lower() in lower]

    def has(self, key: str, language: str | None) -> bool:
        return any(key in t for t in self._chain(language))

    def render(self, key: str, language: str | None, **values: Any) -> str:
        for table in self._chain(language):
            if key in table and isinstance(table[key], str):
                return str(table[key].format_map(_Blank(values)))
        raise TemplateError(f"no template {key!r} for language {language!r} (nor {self.default!r})")

    def words(self, key: str, language: str | None) -> list[str]:
        """A word list (`[words] yes = [...]`), from every language: people mix languages in chat."""
        seen: list[str] = []
        tables = self._chain(language) + list(self.by_language.values())
        for table in tables:
            for w in table.get("words", {}).get(key, []):
                if w not in seen:
                    seen.append(w)
        return seen

    def weekday(self, index: int, language: str | None) -> str:
        for table in self._chain(language):
            names = table.get("words", {}).get("weekdays")
            if isinstance(names, list) and len(names) == 7:
                return str(names[index])
        return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[index]

    def duration(self, seconds: float, language: str | None) -> str:
        minutes = round(seconds / 60)
        if minutes < 1:
            return self.render("less_than_minute", language)
        if minutes < 90:
            return self.render("minutes", language, n=minutes)
        return self.render("hours", language, n=round(minutes / 60, 1) if minutes < 600 else round(minutes / 60))


_PUNCT = re.compile(r"[\s!?.,。，！？~、…]+")


def says(text: str, phrases: list[str], *, extra_words: int = 6) -> bool:
    """True when a short reply is one of the phrases, or begins with one and adds little.

    "no, that did not help" is a no; "thanks, but my withdrawal is still stuck" is not a yes
    when `extra_words` is small — the caller decides how much may follow.
    """
    clean = _PUNCT.sub(" ", text.lower()).strip()
    if not clean:
        return False
    for phrase in phrases:
        p = phrase.lower()
        if clean == p:
            return True
        if p.isascii():
            if re.match(rf"{re.escape(p)}(?![a-z])", clean) and len(clean.split()) - len(p.split()) <= extra_words:
                return True
        elif clean.startswith(p) and len(clean.replace(" ", "")) - len(p) <= extra_words * 2:
            return True
    return False


def mentions(text: str, phrases: list[str]) -> bool:
    """True when a phrase occurs anywhere (whole words for Latin script): "I want a human please"."""
    low = text.lower()
    for phrase in phrases:
        p = phrase.lower()
        if p.isascii():
            if re.search(rf"(?<![a-z]){re.escape(p)}(?![a-z])", low):
                return True
        elif p in low:
            return True
    return False
