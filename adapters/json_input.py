"""JSON from outside, parsed once the same way everywhere.

`json.loads` accepts a lone UTF-16 surrogate escape (`"\\ud800"`) and hands back a str that no
UTF-8 encoder takes: the store, the sanitiser and the logs then fail far from the request (a 500 from
the web chat before this). Such a body is malformed JSON as far as tpbridge is concerned: ValueError,
which every caller already answers with its channel's 4xx. A body without a `\\u` escape of a surrogate
(nearly all) is checked by one regex over the raw bytes, not by walking the result.

The parse itself is bridge/fastjson.py's (orjson where it reads exactly as the stdlib, the stdlib elsewhere).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tpbridge.bridge import fastjson

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def loads(raw: bytes | str) -> Any:
    """Parse; ValueError for what is not JSON, RecursionError for nesting too deep (callers catch both)."""
    data = fastjson.loads(raw)
    found = (_SURROGATE_ESCAPE_BYTES.search(raw) if isinstance(raw, bytes | bytearray)
             else _SURROGATE_ESCAPE.search(raw))
    if found:
        try:  # paired surrogates decode to one character and encode fine; a lone one does not
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone UTF-16 surrogate") from None
    return data
