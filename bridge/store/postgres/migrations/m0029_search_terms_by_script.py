"""Search terms split where the script changes, as SQLite's migration 29: every message's terms again.

`USDT提现` was one term, so `提现` did not find it (bridge/search.py). PostgreSQL keeps the terms in
clear beside the text, so they are rebuilt here, in batches, from the messages' text.
"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from tpbridge.bridge.search import terms

VERSION = 29
DESCRIPTION = "search terms split where the script changes"
BATCH = 5000


async def up(conn: AsyncConnection[DictRow]) -> None:
    last = 0
    while True:
        cur = await conn.execute("SELECT id, text FROM messages WHERE id > %s ORDER BY id LIMIT %s", (last, BATCH))
        found = await cur.fetchall()
        if not found:
            return
        async with conn.cursor() as c:
            await c.executemany("UPDATE message_search SET terms = array_to_tsvector(%s) WHERE message_id = %s",
                                [(sorted(set(terms(r["text"] or ""))), r["id"]) for r in found])
        last = found[-1]["id"]
