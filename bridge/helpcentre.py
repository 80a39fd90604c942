"""The help centre's content: FAQ entries (`config/faq`) and Markdown articles (`config/help/<lang>/`).

Everything is read and rendered once at start, so a page is a dictionary lookup and a
template; search is BM25 over every language's words and CJK bigrams of an entry at
once, so `提现` finds the withdrawal pages whatever language the page is shown in.
"""

from __future__ import annotations

import logging
import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from tpbridge.bridge.automation.faq import FaqError, load_entries
from tpbridge.bridge.automation.faq import terms as search_terms

log = structlog.get_logger(__name__)
# markdown-it logs every block rule it tries at DEBUG: thousands of lines per article at start.
logging.getLogger("markdown_it").setLevel(logging.WARNING)

DEFAULT_LANGUAGE = "en"
# Codes a browser or a link may use for a shipped language; compared lower-cased.
ALIASES = {
    "zh": "zh-Hans", "zh-cn": "zh-Hans", "zh-sg": "zh-Hans", "zh-hans": "zh-Hans", "zh-hans-cn": "zh-Hans",
    "zh-tw": "zh-Hant", "zh-hk": "zh-Hant", "zh-mo": "zh-Hant", "zh-hant": "zh-Hant", "zh-hant-tw": "zh-Hant",
}
# Where content in the asked language is missing, the next best one a reader of it can read.
FALLBACK = {"zh-Hans": ("zh-Hans", "zh"), "zh-Hant": ("zh-Hant", "zh-TW", "zh-Hans", "zh")}
K1, B = 1.2, 0.75
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


class HelpError(ValueError):
    pass


def normalise(code: str | None, shipped: tuple[str, ...]) -> str | None:
    """A shipped language for a code such as `zh-CN`, `zh-Hant-TW`, `en-GB`, `ja`; else None."""
    if not code:
        return None
    low = code.strip().replace("_", "-").lower()
    by_lower = {s.lower(): s for s in shipped}
    for candidate in (low, ALIASES.get(low), low.split("-")[0], ALIASES.get(low.split("-")[0])):
        if candidate and candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    # zh-Hant-TW, zh-Hans-SG: the script decides
    if low.startswith("zh-") and (script := low.split("-")[1]) in ("hant", "hans"):
        return by_lower.get(f"zh-{script}")
    return None


def from_accept_language(header: str, shipped: tuple[str, ...]) -> str | None:
    """The browser's preferred shipped language (q-values honoured)."""
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        code, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code and q > 0:
            choices.append((-q, i, code))
    for _q, _i, code in sorted(choices):
        if (found := normalise(code, shipped)) is not None:
            return found
    return None


def _chain(language: str) -> tuple[str, ...]:
    return (*FALLBACK.get(language, (language,)), DEFAULT_LANGUAGE)


def _pick(values: dict[str, str], language: str) -> tuple[str, str] | None:
    """The text for the language (or its fallback) and the language it is actually in."""
    by_lower = {k.lower(): k for k in values}
    for code in _chain(language):
        if (key := by_lower.get(code.lower())) is not None:
            return values[key], key
    if values:
        key = next(iter(values))
        return values[key], key
    return None


def _plain_html(text: str) -> Markup:
    """An FAQ answer is plain text: paragraphs and line breaks, escaped."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return Markup("".join(f"<p>{Markup('<br>').join(escape(line) for line in p.splitlines())}</p>"
                          for p in paragraphs))


@dataclass(frozen=True, slots=True)
class Version:
    """One entry in one language, rendered."""

    language: str  # the language the text is in (may be a fallback)
    title: str
    html: Markup
    text: str  # for snippets


@dataclass
class Entry:
    id: str
    kind: str  # "article" | "faq"
    topic: str  # the FAQ file or the article's group, for ordering
    versions: dict[str, Version] = field(default_factory=dict)  # by content language
    questions: tuple[str, ...] = ()  # FAQ question variants in every language (searched)

    def version(self, language: str) -> Version:
        for code in _chain(language):
            for key, v in self.versions.items():
                if key.lower() == code.lower():
                    return v
        return next(iter(self.versions.values()))


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    score: float
    matched: tuple[str, ...]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HelpError(f"{path}: {exc}") from None


def _article(path: Path) -> tuple[str, str]:
    """A Markdown article's title (its first `# ` heading) and body (the rest)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# "):
            return line[2:].strip(), "\n".join(lines[i + 1:]).strip()
    raise HelpError(f"{path}: an article starts with a '# Title' line")


def load_strings(help_dir: Path) -> dict[str, dict[str, str]]:
    """The interface words per language from `help.toml` (also used for what the desk tells visitors)."""
    path = help_dir / "help.toml"
    meta = _read_toml(path) if path.is_file() else {}
    return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in meta.get("strings", {}).items()}


def strings_for(strings: dict[str, dict[str, str]], language: str | None) -> dict[str, str]:
    """One language's words (a code such as `zh` or `zh-TW` finds its shipped language), English filling gaps."""
    found = normalise(language, tuple(strings)) or DEFAULT_LANGUAGE
    return {**strings.get(DEFAULT_LANGUAGE, {}), **strings.get(found, {})}


class HelpCentre:
    """The loaded help centre: entries, interface strings per language, suggested questions."""

    def __init__(self, entries: list[Entry], strings: dict[str, dict[str, str]], suggested: tuple[str, ...],
                 names: dict[str, str] | None = None) -> None:
        self.names = {lang: (names or {}).get(lang, lang) for lang in strings}  # each language in its own words
        self.entries = {e.id: e for e in entries}
        self.order = sorted(entries, key=lambda e: (e.kind != "article", e.topic, e.id))
        self.strings = strings
        self.languages: tuple[str, ...] = tuple(strings)
        self.suggested = tuple(s for s in suggested if s in self.entries)
        self._docs: list[tuple[Entry, Counter[str], int]] = []
        for e in entries:
            words = [*e.questions]
            for v in e.versions.values():
                words += [v.title, v.title, v.text]  # a title counts twice
            tf = Counter(search_terms(" ".join(words)))
            self._docs.append((e, tf, sum(tf.values())))
        n = len(self._docs) or 1
        self._avgdl = sum(d[2] for d in self._docs) / n or 1.0
        df: Counter[str] = Counter()
        for _e, tf, _n in self._docs:
            df.update(tf.keys())
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    @classmethod
    def load(cls, faq_dir: Path, help_dir: Path) -> HelpCentre:
        entries: list[Entry] = []
        try:
            faq = load_entries(faq_dir) if faq_dir.is_dir() else []
        except FaqError as exc:
            raise HelpError(str(exc)) from None
        topics: dict[str, str] = {}  # entry id -> its file's name, to keep a topic's entries together
        for path in sorted(faq_dir.glob("*.toml")) if faq_dir.is_dir() else []:
            for raw in _read_toml(path).get("entry", []):
                if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                    topics[raw["id"]] = path.stem
        for f in faq:
            entry = Entry(f.id, "faq", topics.get(f.id, ""),
                          questions=tuple(q for qs in f.questions.values() for q in qs))
            for lang, answer in f.answers.items():
                title = f.title.get(lang) or (f.questions.get(lang) or [f.id])[0]
                entry.versions[lang] = Version(lang, title, _plain_html(answer), answer)
            entries.append(entry)
        meta = _read_toml(help_dir / "help.toml") if (help_dir / "help.toml").is_file() else {}
        strings = load_strings(help_dir)
        if DEFAULT_LANGUAGE not in strings:
            strings = {DEFAULT_LANGUAGE: {}, **strings}
        articles: dict[str, Entry] = {}
        for lang_dir in sorted(p for p in help_dir.iterdir() if p.is_dir()) if help_dir.is_dir() else []:
            for path in sorted(lang_dir.glob("*.md")):
                title, body = _article(path)
                entry = articles.setdefault(path.stem, Entry(path.stem, "article", "guide"))
                entry.versions[lang_dir.name] = Version(lang_dir.name, title, Markup(_md.render(body)), body)
        known = {e.id for e in entries}
        for art in articles.values():
            if art.id in known:
                raise HelpError(f"{help_dir}: article {art.id!r} has the id of an FAQ entry")
            entries.append(art)
        suggested = tuple(str(s) for s in meta.get("suggested", []))
        names = {str(k): str(v) for k, v in meta.get("names", {}).items()}
        centre = cls(entries, strings, suggested, names)
        log.info("help.loaded", entries=len(entries), languages=list(centre.languages))
        return centre

    def t(self, language: str) -> dict[str, str]:
        """Interface strings in the language, each missing one in English."""
        return strings_for(self.strings, language)

    def search(self, query: str, limit: int = 20) -> list[Hit]:
        q = Counter(search_terms(query))
        if not q:
            return []
        hits = []
        for entry, tf, dl in self._docs:
            score = 0.0
            for term in q:
                f = tf.get(term, 0)
                if f:
                    score += self._idf[term] * f * (K1 + 1) / (f + K1 * (1 - B + B * dl / self._avgdl))
            matched = tuple(t for t in q if t in tf)
            # Every word of a short query should be there: a page matching one of three words is noise.
            if score > 0 and len(matched) * 2 >= len(q):
                hits.append(Hit(entry, score, matched))
        hits.sort(key=lambda h: (-len(h.matched), -h.score))
        return hits[:limit]

