"""Which key the PostgreSQL store is under, and the pass that re-seals every value under the current key
(the SQLite store's encryption.py, for a database several instances share).

The rules are the SQLite store's: no key and no state -> nothing; a key and no state -> taken under
encryption (a random index key, sealed; the pass is pending when rows exist, and their plaintext
search terms are dropped to be written again as keyed hashes by the pass); state and no key, or an
unknown key -> KeyProblem; a new key with the old one among `old_encryption_keys` -> the index key is
re-sealed and the pass is pending. Instances starting together decide under the migrations' advisory
lock; each step of the pass locks the crypto_state row, so two instances running the pass take turns.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from psycopg.rows import tuple_row
from tpbridge.bridge.crypto import Codec
from tpbridge.bridge.search import terms
from tpbridge.bridge.store.postgres import rows
from tpbridge.bridge.store.postgres.base import Conn
from tpbridge.bridge.store.postgres.migrations import MIGRATION_LOCK
from tpbridge.bridge.store.sqlite.encryption import SEALED, Progress, unwrap_index_key
from tpbridge.bridge.store.sqlite.sealing import is_kv_hash


async def check(conn: Conn, codec: Codec | None) -> None:
    """Match the configured key to the store; unwrap the index key."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        raw = conn.cursor(row_factory=tuple_row)  # the sealed index key as stored: checked before any opening
        await raw.execute("SELECT key_id, index_key FROM crypto_state WHERE id = 1")
        row: Any = await raw.fetchone()
        if row is None:
            if codec is None:
                return
            index_key = os.urandom(32)
            had_data = await rows.value(conn, "SELECT 1 FROM messages UNION ALL SELECT 1 FROM contacts"
                                              " UNION ALL SELECT 1 FROM kv LIMIT 1")
            await conn.execute(
                "INSERT INTO crypto_state (id, key_id, index_key, pending, started_at) VALUES (1, %s, %s, %s, %s)",
                (codec.key_id, codec.seal(base64.b64encode(index_key).decode()), int(had_data is not None),
                 time.time()))
            if had_data is not None:  # plaintext search terms: the pass writes them again as keyed hashes
                await conn.execute("DELETE FROM message_search")
            codec.set_index_key(index_key)
            return
        key_id, sealed_index = row[0], row[1]
        codec, index_key = unwrap_index_key(codec, key_id, sealed_index)
        if key_id != codec.key_id:  # a new key: re-seal the index key now, the values in the pass
            await conn.execute(
                "UPDATE crypto_state SET key_id = %s, index_key = %s, pending = 1, pass_table = 0, pass_after = 0,"
                " started_at = %s, finished_at = NULL WHERE id = 1",
                (codec.key_id, codec.seal(base64.b64encode(index_key).decode()), time.time()))


# table: (column looked up by its keyed hash, the hash's prefix) — messages dedupe, threads, identities
_KEYED = {"messages": ("external_id", "msg"), "conversations": ("thread_key", "thread"),
          "identities": ("external_id", "id")}


async def pending(conn: Conn) -> bool:
    return bool(await rows.value(conn, "SELECT pending FROM crypto_state WHERE id = 1"))


async def step(conn: Conn, codec: Codec, limit: int = 500) -> Progress:
    """Re-seal up to `limit` rows of the table the pass stands at (one transaction, the caller's)."""
    state = await rows.one(conn, "SELECT pass_table, pass_after FROM crypto_state WHERE id = 1 FOR UPDATE")
    assert state is not None
    index, after = int(state["pass_table"]), int(state["pass_after"])
    if index > len(SEALED):
        return Progress(None, 0, 0)
    if index == len(SEALED):  # the key-value table last, whole (it is small)
        done = await reseal_kv(conn, codec)
        await conn.execute("UPDATE crypto_state SET pass_table = %s, pass_after = 0 WHERE id = 1", (index + 1,))
        return Progress("kv", done, done)
    table, pk, cols = SEALED[index]
    if table in _KEYED:  # ids in clear from before encryption: the keyed hash becomes the look-up key
        column, prefix = _KEYED[table]
        plain = await rows.all_rows(
            conn, f"SELECT id, inbox, {column} FROM {table} WHERE {column}_sealed IS NULL"
            f" AND {column} IS NOT NULL AND id > %s ORDER BY id LIMIT %s", (after, limit))
        for r in plain:
            await conn.execute(f"UPDATE {table} SET {column} = %s, {column}_sealed = %s WHERE id = %s",
                               (codec.blind(f"{prefix}:{r['inbox']}:{r[column]}"), codec.seal(r[column]), r["id"]))
    found = await rows.all_rows(conn, f"SELECT {pk}, {', '.join(cols)} FROM {table} WHERE {pk} > %s"
                                      f" ORDER BY {pk} LIMIT %s", (after, limit))  # opened by the row factory
    sets = ", ".join(f"{c} = %s" for c in cols)
    async with conn.cursor() as cur:
        await cur.executemany(f"UPDATE {table} SET {sets} WHERE {pk} = %s",
                              [(*(codec.seal(r[c]) if isinstance(r[c], str) else r[c] for c in cols), r[pk])
                               for r in found])
        if table == "messages" and found:  # search terms as keyed hashes (rewritten alike on a rotation)
            await cur.executemany(
                "INSERT INTO message_search (message_id, conversation_id, terms)"
                " SELECT id, conversation_id, array_to_tsvector(%s) FROM messages WHERE id = %s"
                " ON CONFLICT (message_id) DO UPDATE SET terms = excluded.terms",
                [(sorted({codec.blind(t) for t in terms(r["text"] or "")}), r[pk]) for r in found])
    last = found[-1][pk] if found else after
    if len(found) < limit:
        await conn.execute("UPDATE crypto_state SET pass_table = %s, pass_after = 0 WHERE id = 1", (index + 1,))
    else:
        await conn.execute("UPDATE crypto_state SET pass_after = %s WHERE id = 1", (last,))
    done = await rows.value(conn, f"SELECT count(*) FROM {table} WHERE {pk} <= %s", (last,))
    total = await rows.value(conn, f"SELECT count(*) FROM {table}")
    return Progress(table, int(done), int(total))


async def reseal_kv(conn: Conn, codec: Codec) -> int:
    """kv under the current key, as the SQLite store's reseal_kv: keys in clear become keyed hashes, values sealed."""
    found = await rows.all_rows(conn, "SELECT key, value, expires_at FROM kv")  # values opened, whatever their key
    for r in found:
        sealed = codec.seal(r["value"]) if isinstance(r["value"], str) else r["value"]
        if is_kv_hash(r["key"]):
            await conn.execute("UPDATE kv SET value = %s WHERE key = %s", (sealed, r["key"]))
            continue
        await conn.execute("DELETE FROM kv WHERE key = %s", (r["key"],))
        await conn.execute("INSERT INTO kv (key, value, expires_at) VALUES (%s,%s,%s) ON CONFLICT (key) DO NOTHING",
                           (codec.blind(f"kv:{r['key']}"), sealed, r["expires_at"]))
    return len(found)


async def finish(conn: Conn) -> None:
    await conn.execute("UPDATE crypto_state SET pending = 0, finished_at = %s WHERE id = 1", (time.time(),))
