"""Which Unicode (and which term rules) the search index was built with.

The index keeps no copy of the terms (migration 30): a row is removed by giving FTS5 back its terms,
recomputed from the text. Terms depend on Python's Unicode data (lower-casing, which characters are letters),
so an index built by another Python could be given back other terms than it holds, and keep an erased
message's terms. `search_index.check_terms_version` rebuilds it when the version differs.
"""

from __future__ import annotations

import sqlite_utils

VERSION = 34
DESCRIPTION = "search_state.terms_version: the Unicode and term rules the index was built with"


def up(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE search_state ADD COLUMN terms_version TEXT")
