"""One normal form for what people type, before any rule, model or FAQ looks at it.

Traditional Chinese becomes Simplified (OpenCC's t2s, offline), full-width letters and
digits become half-width (NFKC), and case is folded, so `帳號被盜`, `账号被盗` and
`ＵＳＤＴ` vs `usdt` are the same words to every matcher.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from typing import Any

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_lock = threading.Lock()
_converter: Any = None


def _t2s() -> Any:
    global _converter
    with _lock:
        if _converter is None:
            import opencc

            _converter = opencc.OpenCC("t2s")
    return _converter


def to_simplified(text: str) -> str:
    if not _HAN.search(text):
        return text
    return str(_t2s().convert(text))


def is_traditional(text: str) -> bool:
    """True when converting to Simplified changes enough of the Han characters to be meant as Traditional."""
    han = _HAN.findall(text)
    if not han:
        return False
    simple = to_simplified(text)
    changed = sum(1 for a, b in zip(text, simple, strict=False) if a != b)
    return changed >= max(1, len(han) // 12)


@functools.lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Traditional -> Simplified, full-width -> half-width, case folded, runs of spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text)
    return " ".join(text.casefold().split())
