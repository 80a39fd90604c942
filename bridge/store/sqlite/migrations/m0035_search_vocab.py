"""The search index's list of terms (FTS5's `fts5vocab`), so a search can spell out a prefix.

FTS5 answers a prefix query (`withdrawal*`, the last word of every search) by merging the doclists of
every term with that prefix into a new one: 26 ms for a term in 62,000 of 1,000,000 messages, where the
term alone takes 4 ms. Looking the prefix up in this table first (3 ms) lets the search ask for the few
terms it stands for instead (bridge/store/sqlite/search_match.py, `SearchMatch.expression`). A virtual table over
the index: it holds no rows of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 35
DESCRIPTION = "message_search_vocab: the search index's terms, to spell out a search's prefix"


def up(db: sqlite_utils.Database) -> None:
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS message_search_vocab USING fts5vocab(message_search, 'row')")
