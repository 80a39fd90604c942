"""Search terms for message text: words for alphabetic scripts, bigrams for CJK.

The same terms are indexed and queried, so a two-character Chinese word (`提现`) finds
`我的提现还没到账`, and `USDT提现` finds a message saying `提现` (a word ends where the script
changes: a CJK character is a word character too, and `usdt提现` once was one term).

`_search_terms` (bridge/_search_terms.c) gives the same terms about ten times faster (the indexer ran this
over every stored message: ~40 µs of Python each for the Telegram bench's, under the GIL); `py_terms` is its
reference (tests/bridge/test_search_terms.py compares them) and the fallback where it was not built.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = rf"[^\W_{_CJK}]+"  # letters and digits of the other scripts
_TOKEN = re.compile(rf"[{_CJK}]+|{_WORD}")
_RUN = re.compile(rf"[{_CJK}]+|[^\W_]+")  # a word runs on into CJK: how the FAQ matcher was tuned
_IS_CJK = re.compile(rf"[{_CJK}]")


def py_terms(text: str, *, split_scripts: bool = True) -> list[str]:
    """In text order (a query's last word is matched as a prefix). `split_scripts=False`: a word that
    runs on into CJK stays one term (the FAQ matcher's data was tuned on that)."""
    out: list[str] = []
    for run in (_TOKEN if split_scripts else _RUN).findall(text.lower()):
        if _IS_CJK.match(run):
            if len(run) == 1:
                out.append(run)
            else:  # every overlapping pair, pasted in C (a generator of slices cost 7x more)
                out.extend(map(str.__add__, run[:-1], run[1:]))
        else:
            out.append(run)
    return out


def py_index_text(text: str) -> str:
    """What the index stores: each term once (a match needs a term's presence, not its count)."""
    return " ".join(dict.fromkeys(py_terms(text)))


_fast_terms: Callable[[str], list[str]] | None
try:
    from tpbridge.bridge._search_terms import index_text as index_text  # (re-exported)
    from tpbridge.bridge._search_terms import terms as _fast_terms
except ImportError:  # not built where this was installed (no C compiler): the reference, ~10x slower
    index_text = py_index_text
    _fast_terms = None


def terms(text: str, *, split_scripts: bool = True) -> list[str]:
    """py_terms's, from C where it was built."""
    if split_scripts and _fast_terms is not None:
        return _fast_terms(text)
    return py_terms(text, split_scripts=split_scripts)


def match_parts(query: str) -> list[tuple[str, bool]]:
    """A query's terms, each with whether it matches as a prefix: the last word, and a lone CJK character
    (the pairs that start with it, since one is indexed alone only where it stands alone)."""
    found = terms(query)
    parts = [(t, len(t) == 1 and bool(_IS_CJK.match(t))) for t in found]
    if parts and not _IS_CJK.match(found[-1]):
        parts[-1] = (found[-1], True)
    return parts


def fts_quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'
