"""adapters/json_input.py parses with orjson first: the outcome must always be the stdlib's (what it
parses, as the same types — an integer past 64 bits must not come back a float — and what it refuses)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tpbridge.adapters import json_input
from tpbridge.bridge import fastjson


def stdlib(raw: bytes | str) -> Any:
    """The parser before orjson: json.loads, then lone surrogates refused."""
    data = json.loads(raw)
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone one
    return data


def outcome(parse: Any, raw: bytes | str) -> tuple[str, Any]:
    try:
        return "ok", parse(raw)
    except RecursionError:
        return "too deep", None
    except ValueError:
        return "refused", None


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 is not good enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def agree(raw: bytes | str) -> None:
    """Both orjson-first parsers against theirs: the body parser (which also refuses lone surrogates) and
    the core's plain one (bridge/fastjson.py: what json.loads gives)."""
    for parse, reference in ((json_input.loads, stdlib), (fastjson.loads, json.loads)):
        (kind, got), (want_kind, want) = outcome(parse, raw), outcome(reference, raw)
        assert kind == want_kind, raw
        assert same(got, want), raw


@given(st.lists(st.text(), max_size=5) | st.lists(st.integers(), max_size=5))
def test_ids_are_written_as_the_stdlib_would(ids: list[str] | list[int]) -> None:
    assert fastjson.dumps_compact(ids) == json.dumps(ids, ensure_ascii=False, separators=(",", ":"))


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(values, st.booleans(), st.booleans())
def test_any_json_value_comes_back_as_the_stdlib_reads_it(value: Any, ascii_only: bool, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    agree(text.encode("utf-8") if as_bytes else text)


@settings(max_examples=600, deadline=None)
@given(st.text() | st.binary())
def test_any_text_or_bytes_is_refused_or_read_as_the_stdlib_would(raw: bytes | str) -> None:
    agree(raw)


def test_the_edges() -> None:
    for raw in (b"123456789012345678901234567890", b"-9223372036854775809", b"18446744073709551615",
                b'{"id": 99999999999999999999}', b"[1e400]", b"NaN", b"[-Infinity]", b'"\\ud800"',
                b'"\\ud83d\\ude00"', b"\xef\xbb\xbf[1]", "[1]".encode("utf-16"), b'{"a":1,"a":2}', b"-0", b"[1.5e-400]",
                b"[" * 5000 + b"]" * 5000, b"[1] x", b""):
        agree(raw)
        agree(raw.decode("utf-8", "surrogatepass") if raw.isascii() else raw)
