"""Full-text search that works for Chinese as well as English.

FTS5's default tokenizer finds nothing in Chinese and the trigram tokenizer cannot
match two-character words (`提现`), so the application indexes CJK text as
character bigrams (bridge/search.py) and queries the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 2
DESCRIPTION = "message search index (words + CJK bigrams)"


def up(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE VIRTUAL TABLE message_search USING fts5("
        "terms, conversation_id UNINDEXED, tokenize='unicode61 remove_diacritics 2')"
    )
    from tpbridge.bridge.search import index_text

    rows = db.execute("SELECT id, conversation_id, text FROM messages").fetchall()
    db.conn.executemany(
        "INSERT INTO message_search (rowid, terms, conversation_id) VALUES (?, ?, ?)",
        [(r[0], index_text(r[2] or ""), r[1]) for r in rows],
    )
