"""JSON read and written by orjson where the outcome is exactly the stdlib's, by the stdlib elsewhere.

orjson is three to ten times faster on the per-message path (an update's body, a message's `extra`, the
conversations a burst of ingests read back; bench/telegram_webhook.py), but it reads an integer past 64 bits
as a float and refuses NaN, Infinity, other encodings than UTF-8 and lone surrogates. So text with a run of
19 digits anywhere goes to the stdlib, as does anything orjson refuses: the result (or the error) is what
`json.loads` gives (tests/security/test_json_input.py).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# An integer that may not fit in 64 bits: a run of 19 digits, found as 19 zeros once every digit is one
# (a regex took 17 us over a 1 KB update, the translation and the find 3 us together).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def long_digits(raw: bytes | bytearray | str) -> bool:
    """A run of 19 digits: orjson might read it otherwise than the stdlib."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return _LONG_RUN in data.translate(_DIGITS_TO_ZERO)


def loads(raw: bytes | bytearray | str) -> Any:
    """json.loads, faster."""
    if not long_digits(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def dumps_compact(value: list[str] | list[int]) -> str:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))` of a list of ids."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate or an int past 64 bits, which the stdlib writes
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
