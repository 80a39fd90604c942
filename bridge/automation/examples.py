"""Labelled examples: what the classifier learns from.

Shipped in `config/examples/<category>.toml` (one list per language), plus the
corrections agents made in the inbox, appended to `data_dir/examples/corrections.jsonl`
(one JSON object a line, so concurrent appends never corrupt each other and a
partial last line is skipped, not fatal).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

CORRECTIONS = "corrections.jsonl"


class ExamplesError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    category: str
    language: str
    source: str  # "config/examples/security.toml", "correction"


def load_folder(folder: Path) -> list[Example]:
    found: list[Example] = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ExamplesError(f"{path}: {exc}") from None
        category = data.get("category", path.stem)
        if not isinstance(category, str) or not category:
            raise ExamplesError(f"{path.name}: category must be a name")
        table = data.get("examples", {})
        if not isinstance(table, dict):
            raise ExamplesError(f"{path.name}: [examples] is a table of language = [texts]")
        for lang, texts in table.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ExamplesError(f"{path.name}: examples.{lang} must be a list of texts")
            found += [Example(t, category, lang, path.name) for t in texts if t.strip()]
    return found


def load_corrections(folder: Path) -> list[Example]:
    path = folder / CORRECTIONS
    found: list[Example] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return found
    for n, line in enumerate(lines, 1):
        try:
            raw = json.loads(line)
            found.append(Example(str(raw["text"]), str(raw["category"]), str(raw.get("language") or ""),
                                 "correction"))
        except (ValueError, KeyError, TypeError):
            log.warning("examples.bad_line", path=str(path), line=n)
    return found


def add_correction(folder: Path, text: str, category: str, language: str | None, conversation_id: int) -> None:
    """Keep an agent's correction as a labelled example for the next training."""
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"text": text[:2000], "category": category, "language": language,
                       "conversation_id": conversation_id}, ensure_ascii=False) + "\n"
    fd = os.open(folder / CORRECTIONS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))  # one write on O_APPEND: whole lines, whoever else appends
    finally:
        os.close(fd)


def fingerprint(examples: list[Example]) -> str:
    """Names a training set: the cached model is reused only for exactly these examples."""
    h = hashlib.sha256()
    for e in examples:
        h.update(f"{e.category}\x00{e.text}\x01".encode())
    return h.hexdigest()[:16]
