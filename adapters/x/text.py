"""X's weighted character count, and splitting a long reply into a thread.

X counts text with the twitter-text v3 rules: after NFC normalisation each code
point in the ranges below weighs 1, every other one (CJK, emoji, ...) weighs 2,
an emoji sequence weighs 2 as a whole, and every URL weighs 23 whatever its
length. A post may weigh at most 280.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WEIGHT = 280
URL_WEIGHT = 23

# twitter-text config v3 "ranges" (weight 100 of scale 100 = 1); everything else weighs 2.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

# Only URLs with a scheme are recognised; X also shortens bare domains ("example.com"),
# which are counted here by their characters.
_URL = r"https?://[^\s<>\"]+"
# An emoji with its modifiers, variation selectors and ZWJ-joined followers counts once.
_EMOJI = (
    r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF]"
    r"(?:[\uFE0E\uFE0F\U0001F3FB-\U0001F3FF\u20E3]|\u200D[\U0001F000-\U0001FAFF\u2600-\u27BF\u2640\u2642])*"
)
_UNIT = re.compile(f"({_URL})|({_EMOJI})|(.)", re.DOTALL)

# A reply is best cut after whitespace or after CJK punctuation (CJK text has no spaces).
_BREAK_AFTER = frozenset("。！？，、；：）」』】…")


def char_weight(ch: str) -> int:
    """The weight of one code point."""
    cp = ord(ch)
    return 1 if any(lo <= cp <= hi for lo, hi in _LIGHT_RANGES) else 2


def _units(text: str) -> list[tuple[str, int]]:
    """Text cut into pieces that are never split: URLs, emoji sequences, single code points."""
    out: list[tuple[str, int]] = []
    for match in _UNIT.finditer(text):
        url, emoji, ch = match.groups()
        if url:
            out.append((url, URL_WEIGHT))
        elif emoji:
            out.append((emoji, 2))
        else:
            out.append((ch, char_weight(ch)))
    return out


def weighted_length(text: str) -> int:
    """The length X checks against 280."""
    return sum(w for _, w in _units(unicodedata.normalize("NFC", text)))


def split_thread(text: str, limit: int = MAX_WEIGHT) -> list[str]:
    """Cut `text` into posts of at most `limit` weight, at whitespace or CJK punctuation when possible."""
    units = _units(unicodedata.normalize("NFC", text).strip())
    parts: list[str] = []
    start = 0
    while start < len(units):
        while start < len(units) and units[start][0].isspace():
            start += 1
        total, end, last_break = 0, start, None
        while end < len(units) and total + units[end][1] <= limit:
            total += units[end][1]
            end += 1
            piece = units[end - 1][0]
            if piece.isspace() or piece in _BREAK_AFTER:
                last_break = end
        cut = end if end == len(units) or last_break is None else last_break
        part = "".join(u for u, _ in units[start:cut]).rstrip()
        if part:
            parts.append(part)
        start = cut
    return parts
