"""Satisfaction answers: `5`, `⭐⭐⭐⭐`, `4/5`, `很满意`, `not good`, ... -> a score from 1 to 5.

Only short replies count: a longer message after a survey is a new question, not a score.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LEN = 40

# Longest phrases first, so "not good" is never read as "good" and "很不满意" never as "满意".
PHRASES: dict[str, int] = {
    "非常不满意": 1, "很不满意": 1, "极差": 1, "太差了": 1, "太差": 1, "很差": 1, "垃圾": 1,
    "不满意": 2, "不太满意": 2, "差": 2, "不好": 2, "没解决": 2, "没有解决": 2,
    "一般": 3, "还行": 3, "凑合": 3, "马马虎虎": 3,
    "满意": 4, "不错": 4, "挺好": 4, "好": 4,
    "非常满意": 5, "很满意": 5, "超级满意": 5, "非常好": 5, "很好": 5, "太棒了": 5, "完美": 5,
    "very bad": 1, "terrible": 1, "awful": 1, "horrible": 1, "useless": 1, "worst": 1, "very poor": 1,
    "not good": 2, "bad": 2, "poor": 2, "not great": 2, "unhappy": 2, "not satisfied": 2, "dissatisfied": 2,
    "ok": 3, "okay": 3, "average": 3, "fine": 3, "so so": 3, "so-so": 3, "meh": 3,
    "good": 4, "satisfied": 4, "nice": 4, "happy": 4,
    "very good": 5, "great": 5, "excellent": 5, "perfect": 5, "amazing": 5, "awesome": 5, "very satisfied": 5,
    "fantastic": 5, "outstanding": 5,
}
_ORDERED = sorted(PHRASES.items(), key=lambda kv: -len(kv[0]))
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_NUMBER = re.compile(r"^\s*([1-5])\s*(?:/\s*5|分|星|颗星|stars?|points?|out of 5)?\s*[!.。！~]*\s*$", re.IGNORECASE)
_CN_NUMBER = re.compile(r"^\s*([一二两三四五])\s*(?:分|星|颗星)\s*[!.。！~]*\s*$")
_STARS = re.compile(r"^[\s⭐★☆🌟*]+$")


def parse_score(text: str) -> int | None:
    """The score a short reply means, or None if it is not an answer to the survey."""
    raw = unicodedata.normalize("NFKC", text).strip()  # full-width ５ -> 5
    if not raw or len(raw) > MAX_LEN:
        return None
    m = _NUMBER.match(raw)
    if m:
        return int(m.group(1))
    m = _CN_NUMBER.match(raw)
    if m:
        return _CN_DIGITS[m.group(1)]
    if _STARS.match(raw) and any(c in raw for c in "⭐★🌟*"):
        stars = sum(raw.count(c) for c in "⭐★🌟*")
        return stars if 1 <= stars <= 5 else None
    low = re.sub(r"[\s!.,。，！~]+", " ", raw.lower()).strip()
    if len(low.split()) > 6:
        return None
    for phrase, score in _ORDERED:
        if phrase.isascii():
            if re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", low):
                return score
        elif len(phrase) == 1 and low != phrase:
            continue  # "好" alone is an answer; "你好" is a greeting
        elif phrase in low and len(phrase) >= 0.4 * len(low.replace(" ", "")):
            # Chinese has no spaces: the phrase must be most of the reply ("你好，我充值没到账" is no "好").
            return score
    return None
