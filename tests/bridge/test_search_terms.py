"""The C search terms (bridge/_search_terms.c) are the pure-Python reference's, character for character.

The index stores `index_text` and queries use `terms`: one term more or less and a message stops being
found. Hypothesis draws any code point (astral ones, lone surrogates), weighted towards the edges of the CJK
ranges, characters that str.lower() turns into two or that lower differently in context (final sigma), and
runs that switch script mid-word.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tpbridge.bridge import search

try:
    from tpbridge.bridge import _search_terms
except ImportError as exc:  # the install skips an extension it cannot build, quietly: say why here
    raise ImportError("bridge/_search_terms.c was not built: `pip install -e .` needs gcc and the Python"
                      " headers (Debian: python3-dev), then reinstall") from exc

EDGES = [chr(c) for lo, hi in ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
                               (0xAC00, 0xD7AF)) for c in (lo - 1, lo, hi, hi + 1)]
TRICKY = [*"İΣσςßﬁŉǅⅫ²½٣_ -.'’\u0307\u00a0\u3000", "\U0001d400", "\U00020000", "\U0002a6df", "\ud800", "\udfff"]
SAMPLES = ["我的提现还没到账", "USDT提现", "a提b", "提", "ΑΣ.Β ΑΣ", "İstanbul", "x_y", "ｶﾀｶﾅ", "한국어 텍스트",
           "tx 0x9f2c4b7e", "ﬁne café"]

chars = st.one_of(
    st.characters(exclude_categories=()),  # every code point, surrogates included
    st.sampled_from(EDGES + TRICKY),
    st.sampled_from("abcXYZ019 提现到账ひらがなカタカナ한"),
)
texts = st.one_of(st.text(chars, max_size=60), st.lists(st.sampled_from(SAMPLES + TRICKY)).map("".join))


@given(texts)
@settings(max_examples=1500, deadline=None)
@example("")
@example("我")
@example("[1000012345] My withdrawal of 0.35 BTC; 我的提现已经三天了还没有到账，请帮我查一下。 "
         "The hash is 0x9f2c4b7e1d3a5f60. 谢谢你们的帮助，麻烦尽快处理。 pending pending 提现")
def test_the_c_terms_are_the_reference_terms(text: str) -> None:
    expected = search.py_terms(text)
    assert _search_terms.terms(text) == expected
    joined = _search_terms.index_text(text)
    assert joined == search.py_index_text(text) == " ".join(dict.fromkeys(expected))
    assert set(joined.split(" ")) - {""} == set(expected)


def test_every_cjk_range_edge_beside_every_kind_of_neighbour() -> None:
    neighbours = ["a", "Σ", "1", "提", "ア", "한", " ", "_", "\U00020000", "\U0001d400", *EDGES]
    for edge in EDGES:
        for n in neighbours:
            for text in (edge, edge + n, n + edge, n + edge + n, edge + edge + n, n + edge + edge):
                assert _search_terms.terms(text) == search.py_terms(text), repr(text)
                assert _search_terms.index_text(text) == search.py_index_text(text), repr(text)


def test_the_search_module_uses_them() -> None:
    assert search.index_text is _search_terms.index_text  # built: a fresh `pip install -e .` compiles it
    assert search.terms("USDT提现了") == ["usdt", "提现", "现了"]
    assert search.terms("USDT提现", split_scripts=False) == ["usdt提现"]  # the FAQ matcher's runs stay Python's


def test_a_non_string_is_refused_as_python_would() -> None:
    for fn in (_search_terms.terms, _search_terms.index_text, search.py_terms):
        with pytest.raises(TypeError):
            fn(b"bytes")  # type: ignore[arg-type]
