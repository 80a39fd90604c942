"""A search's MATCH expression, with its prefix spelled out as the terms the index holds.

FTS5 answers a prefix (`withdrawal*`, the last word of every search) by merging the doclists of every
term that starts with it into a new one: 26 ms for a term in 62,000 of 1,000,000 messages, against 4 ms
for the term alone (bench/desk.py). So where the prefix stands for a few terms, the index's own term list
(`message_search_vocab`, migration 35) is asked which (~3 ms), and the search asks for them by name:
`("withdrawal" OR "withdrawals")` finds exactly what `withdrawal*` finds. The look-up runs on the
connection that then searches, after the search has indexed everything stored before it, so a message
stored before the search is never missed for a term the look-up did not see.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from tpbridge.bridge.search import fts_quote, match_parts

SPELL_MIN = 3  # a shorter prefix stands for too many terms to be worth looking up
SPELL_MAX = 8  # at most this many terms; fts5vocab counts each one's documents as it lists it
# The index's tokenizer (unicode61, diacritics removed) keeps these as they are, so the index holds a
# prefix like this verbatim; any other is left to FTS5 as a prefix.
_VERBATIM = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class SearchMatch:
    """A search's terms (term, matched as a prefix), made a MATCH expression where the search runs."""

    parts: tuple[tuple[str, bool], ...]

    @classmethod
    def of(cls, query: str) -> SearchMatch | None:
        parts = match_parts(query)
        return cls(tuple(parts)) if parts else None

    def plain(self) -> str:
        """The expression with every prefix left to FTS5 (`withdrawal*`): what `expression` must find the same of."""
        return " AND ".join(fts_quote(t) + ("*" if prefix else "") for t, prefix in self.parts)

    def expression(self, conn: sqlite3.Connection) -> str | None:
        """The MATCH expression; None when a prefix stands for no term at all (nothing can match)."""
        out = []
        for term, prefix in self.parts:
            spelled = _spelled(conn, term) if prefix else None
            if spelled is None:
                out.append(fts_quote(term) + ("*" if prefix else ""))
            elif not spelled:
                return None
            else:
                out.append("(" + " OR ".join(map(fts_quote, spelled)) + ")" if len(spelled) > 1
                           else fts_quote(spelled[0]))
        return " AND ".join(out)


def _spelled(conn: sqlite3.Connection, prefix: str) -> list[str] | None:
    """The index's terms that start with `prefix`; None to leave it a prefix (too short, not verbatim,
    standing for too many terms, or no term list in this store)."""
    if len(prefix) < SPELL_MIN or not _VERBATIM.fullmatch(prefix):
        return None
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # the first text past every one that starts with it
    try:
        found = [r[0] for r in conn.execute(
            "SELECT term FROM message_search_vocab WHERE term >= ? AND term < ? LIMIT ?",
            (prefix, upper, SPELL_MAX + 1))]
    except sqlite3.OperationalError:
        return None
    if len(found) > SPELL_MAX or not all(t.startswith(prefix) for t in found):
        return None
    return found
