"""Search terms for message text: words for alphabetic scripts, bigrams for CJK.

The same function builds what is indexed and what is queried, so a two-character
Chinese word (`提现`) finds `我的提现还没到账`.
"""

from __future__ import annotations

import re

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")


def terms(text: str) -> list[str]:
    out: list[str] = []
    for run in _TOKEN.findall(text.lower()):
        if _IS_CJK.match(run):
            if len(run) == 1:
                out.append(run)
            else:  # every overlapping pair, pasted in C (a generator of slices cost 7x more)
                out.extend(map(str.__add__, run[:-1], run[1:]))
        else:
            out.append(run)
    return out


def index_text(text: str) -> str:
    """What the index stores: each term once (a match needs a term's presence, not its count)."""
    return " ".join(dict.fromkeys(terms(text)))


def match_query(query: str) -> str | None:
    """An FTS5 MATCH expression: every term must occur (prefix match on the last word)."""
    found = terms(query)
    if not found:
        return None
    quoted = ['"' + t.replace('"', '""') + '"' for t in found]
    if not _IS_CJK.match(found[-1]):
        quoted[-1] += "*"
    return " AND ".join(quoted)
