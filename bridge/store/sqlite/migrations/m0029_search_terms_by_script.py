"""Search terms split where the script changes, in an index that keeps no positions.

`USDT提现` was indexed as one term, so `提现` did not find it (bridge/search.py). The terms are built
again, which needs the store's key when it is encrypted (they are keyed hashes then): so the table is
made new and empty, the mark goes back to 0, and the running store's indexer rebuilds it in batches, as
when encryption is switched on. A search meanwhile waits for the indexer to catch up (minutes at a
million messages, once).

detail=none: a match needs only which rows hold a term (every query is terms AND-ed, the last one a
prefix); positions cost a sixth of the insert. The conversation id column went too: rowid >> 32 is it
(migration 27).
"""

from __future__ import annotations

import sqlite_utils

VERSION = 29
DESCRIPTION = "search terms split where the script changes; the index keeps no positions"


def up(db: sqlite_utils.Database) -> None:
    db.execute("DROP TABLE message_search")
    db.execute("CREATE VIRTUAL TABLE message_search USING fts5("
               "terms, tokenize='unicode61 remove_diacritics 2', detail=none, columnsize=0)")
    db.execute("UPDATE search_state SET indexed_upto = 0 WHERE id = 1")
