"""The search index keeps no copy of the terms (a contentless FTS5 table).

FTS5 kept every message's term list a second time, as the row's content (~900 bytes per message of a
mixed English/Chinese chat, 1,234 against 346 bytes with the index alone), and writing it was half of
indexing's cost (bench/README.md). Nothing reads it: a search needs only which rows hold a term. A
contentless table cannot delete a row by its rowid alone; the terms it was indexed with are given back
instead (search_index.forget_conversation recomputes them from the message's text). The table is made
new and empty and the running store's indexer rebuilds it, as migration 29 did.
"""

from __future__ import annotations

import sqlite_utils

VERSION = 30
DESCRIPTION = "the search index keeps no copy of the terms (contentless)"


def up(db: sqlite_utils.Database) -> None:
    db.execute("DROP TABLE message_search")
    db.execute("CREATE VIRTUAL TABLE message_search USING fts5("
               "terms, content='', tokenize='unicode61 remove_diacritics 2', detail=none, columnsize=0)")
    db.execute("UPDATE search_state SET indexed_upto = 0 WHERE id = 1")
