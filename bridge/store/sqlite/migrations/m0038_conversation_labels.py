"""A conversation's labels, one row each, for the list's label filter.

Labels live in `conversations.labels` (a JSON array, what the store reads back). Filtering on one meant
opening that array for every conversation in activity order until 51 matched: fine for a common label,
~40 ms at 100,000 conversations for a rare one, which is most labels ("vip", a ticket's number). This keeps
(label, conversation) pairs in an index of their own, in step with the column through triggers — so every
write of labels (an agent, automation, a copy between stores, an erasure, retention) keeps it whole without
knowing it exists. The list looks a rare label's conversations up here and keeps scanning for a common one
(bridge/store/sqlite/conversations.py, `label_clause`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils  # imported (with numpy) only when a migration runs


VERSION = 38
DESCRIPTION = "conversation_labels: each conversation's labels, kept by triggers (the list's label filter)"

_ADD = ("INSERT OR IGNORE INTO conversation_labels (label, conversation_id)"
        " SELECT value, new.id FROM json_each(new.labels) WHERE type = 'text';")
_DROP = ("DELETE FROM conversation_labels WHERE conversation_id = old.id"
         " AND label IN (SELECT value FROM json_each(old.labels));")

STATEMENTS = [
    "CREATE TABLE IF NOT EXISTS conversation_labels (label TEXT NOT NULL, conversation_id INTEGER NOT NULL,"
    " PRIMARY KEY (label, conversation_id)) WITHOUT ROWID",
    "INSERT OR IGNORE INTO conversation_labels (label, conversation_id) SELECT j.value, c.id"
    " FROM conversations c, json_each(c.labels) j WHERE c.labels NOT IN ('', '[]') AND j.type = 'text'",
    "CREATE TRIGGER IF NOT EXISTS conversation_labels_added AFTER INSERT ON conversations"
    f" WHEN new.labels NOT IN ('', '[]') BEGIN {_ADD} END",
    f"CREATE TRIGGER IF NOT EXISTS conversation_labels_changed AFTER UPDATE OF labels ON conversations BEGIN {_DROP}"
    f" {_ADD} END",
    "CREATE TRIGGER IF NOT EXISTS conversation_labels_gone AFTER DELETE ON conversations"
    f" WHEN old.labels NOT IN ('', '[]') BEGIN {_DROP} END",
]


def up(db: sqlite_utils.Database) -> None:
    for statement in STATEMENTS:
        db.execute(statement)
