"""Cutting a long reply into the parts a channel's message limit allows (QQ, Weibo, WeChat).

One algorithm for every channel that counts its limit in characters or in UTF-8 bytes:
cut at a line break when one falls in the second half of a part, else at the limit.
Telegram counts UTF-16 units and prefers spaces too, so it keeps its own.
"""

from __future__ import annotations

from collections.abc import Callable


def chars(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` characters."""
    return min(len(text), limit)


def utf8_bytes(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` bytes of UTF-8 (never half a character)."""
    return len(text.encode()[:limit].decode(errors="ignore"))


def split_text(text: str, limit: int, *, fits: Callable[[str, int], int] = chars) -> list[str]:
    """The parts of `text`, none longer than `limit` as `fits` counts; no empty parts (so `[]`
    for an empty text: a caller that must send something adds its own `or [""]`)."""
    parts: list[str] = []
    rest = text
    while (cut := fits(rest, limit)) < len(rest):
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline + 1
        parts.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    if rest.strip() or not parts:
        parts.append(rest)
    return [part for part in parts if part]
