"""Which key the SQLite store is under, and the pass that re-seals every value under the current key.

At open: a store never encrypted and no key -> nothing to do; a key and no state -> the store is
taken under encryption (a random index key is made and sealed; the pass is pending, so existing
plaintext is migrated); state and no key, or a key that is not the store's nor one of the old
keys -> KeyProblem (one line, exit 2); a new key with the old one among `old_encryption_keys`
-> the index key is re-sealed under the new key and the pass is pending (rotation).

The pass goes table by table in batches (one writer transaction each), remembering where it
stands in crypto_state, so it resumes after a crash; values it meets are opened (whatever key)
and sealed under the current key. Files follow (bridge/privacy/rekey.py). The search index is
rebuilt with keyed hashes when plaintext terms were there. It ends with VACUUM, so freed pages
keep no plaintext.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import time
from dataclasses import dataclass

from tpbridge.bridge.crypto import Codec, KeyProblem
from tpbridge.bridge.store.sqlite.sealing import is_kv_hash

VERSION = 16  # the migration that made crypto_state

# (table, primary key, sealed columns)
SEALED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("messages", "id", ("text", "html", "extra", "author_name", "reply_to", "external_id_sealed")),
    ("message_edits", "id", ("previous_text",)),
    ("conversations", "id", ("subject", "last_message_text", "thread_key_sealed")),
    ("contacts", "id", ("name", "email")),
    ("identities", "id", ("handle", "external_id_sealed")),
    ("automation_surveys", "id", ("text",)),
)


@dataclass(frozen=True, slots=True)
class Progress:
    table: str | None  # None: the tables are done
    done: int  # rows of that table behind the cursor
    total: int


def unwrap_index_key(codec: Codec | None, key_id: str, sealed_index: str) -> tuple[Codec, bytes]:
    """The store's index key, opened with the configured key (and set on the codec): KeyProblem when the
    store is encrypted and no key or a key it was never under is configured. Both stores start so."""
    if codec is None:
        raise KeyProblem(f"store.encryption_key: this store is encrypted (key id {key_id}); "
                         "set [store] encryption_key to its key")
    if not codec.knows(key_id):
        raise KeyProblem(f"store.encryption_key: wrong key: the store is under key id {key_id}, the configured "
                         f"key is {codec.key_id} (an old key goes in [store] old_encryption_keys)")
    index_key = base64.b64decode(codec.open(sealed_index))
    codec.set_index_key(index_key)
    return codec, index_key


def check(conn: sqlite3.Connection, codec: Codec | None) -> None:
    """Match the configured key to the store (see the module docstring); unwrap the index key."""
    raw = conn.cursor()
    raw.row_factory = None  # the sealed index key as stored: the key check comes before any opening
    row = raw.execute("SELECT key_id, index_key, pending FROM crypto_state WHERE id = 1").fetchone()
    if row is None:
        if codec is None:
            return
        index_key = os.urandom(32)
        had_data = conn.execute("SELECT 1 FROM messages UNION ALL SELECT 1 FROM kv LIMIT 1").fetchone() is not None
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO crypto_state (id, key_id, index_key, pending, started_at) VALUES (1, ?, ?, ?, ?)",
                     (codec.key_id, codec.seal(base64.b64encode(index_key).decode()), int(had_data), time.time()))
        if had_data:  # plaintext search terms: rebuilt as keyed hashes by the indexer
            conn.execute("INSERT INTO message_search (message_search) VALUES ('delete-all')")  # contentless
            conn.execute("UPDATE search_state SET indexed_upto = 0 WHERE id = 1")
        conn.execute("COMMIT")
        codec.set_index_key(index_key)
        return
    key_id, sealed_index, _pending = row[0], row[1], row[2]
    codec, index_key = unwrap_index_key(codec, key_id, sealed_index)
    if key_id != codec.key_id:  # a new key: re-seal the index key now, the values in the pass
        conn.execute("UPDATE crypto_state SET key_id = ?, index_key = ?, pending = 1, pass_table = 0,"
                     " pass_after = 0, started_at = ?, finished_at = NULL WHERE id = 1",
                     (codec.key_id, codec.seal(base64.b64encode(index_key).decode()), time.time()))


def pending(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT pending FROM crypto_state WHERE id = 1").fetchone()
    return bool(row and row[0])


def step(conn: sqlite3.Connection, codec: Codec, limit: int = 500) -> Progress:
    """Re-seal up to `limit` rows of the table the pass stands at; returns where it stands after."""
    state = conn.execute("SELECT pass_table, pass_after FROM crypto_state WHERE id = 1").fetchone()
    index, after = state[0], state[1]
    if index > len(SEALED):
        return Progress(None, 0, 0)
    if index == len(SEALED):  # the key-value table last, whole (it is small)
        done = reseal_kv(conn, codec)
        conn.execute("UPDATE crypto_state SET pass_table = ?, pass_after = 0 WHERE id = 1", (index + 1,))
        return Progress("kv", done, done)
    table, pk, cols = SEALED[index]
    if table == "messages":  # channel ids from before encryption: the keyed hash becomes the dedupe key
        plain = conn.execute("SELECT id, inbox, external_id FROM messages WHERE external_id_sealed IS NULL"
                             " AND external_id IS NOT NULL AND id > ? ORDER BY id LIMIT ?", (after, limit)).fetchall()
        conn.executemany("UPDATE messages SET external_id = ?, external_id_sealed = ? WHERE id = ?",
                         [(codec.blind(f"msg:{r[1]}:{r[2]}"), codec.seal(r[2]), r[0]) for r in plain])
    if table == "conversations":  # thread keys (X's dm:<user id>) from before encryption, likewise
        plain = conn.execute("SELECT id, inbox, thread_key FROM conversations WHERE thread_key_sealed IS NULL"
                             " AND thread_key IS NOT NULL AND id > ? ORDER BY id LIMIT ?", (after, limit)).fetchall()
        conn.executemany("UPDATE conversations SET thread_key = ?, thread_key_sealed = ? WHERE id = ?",
                         [(codec.blind(f"thread:{r[1]}:{r[2]}"), codec.seal(r[2]), r[0]) for r in plain])
    if table == "identities":  # ids from before encryption: the keyed hash becomes the lookup key
        plain = conn.execute("SELECT id, inbox, external_id FROM identities WHERE external_id_sealed IS NULL"
                             " AND id > ? ORDER BY id LIMIT ?", (after, limit)).fetchall()
        conn.executemany("UPDATE identities SET external_id = ?, external_id_sealed = ? WHERE id = ?",
                         [(codec.blind(f"id:{r[1]}:{r[2]}"), codec.seal(r[2]), r[0]) for r in plain])
    found = conn.execute(f"SELECT {pk}, {', '.join(cols)} FROM {table} WHERE {pk} > ? ORDER BY {pk} LIMIT ?",
                         (after, limit)).fetchall()  # the row factory opened them, whatever their key
    sets = ", ".join(f"{c} = ?" for c in cols)
    conn.executemany(f"UPDATE {table} SET {sets} WHERE {pk} = ?",
                     [(*(codec.seal(v) if isinstance(v, str) else v for v in r[1:]), r[0]) for r in found])
    if len(found) < limit:
        conn.execute("UPDATE crypto_state SET pass_table = ?, pass_after = 0 WHERE id = 1", (index + 1,))
    else:
        conn.execute("UPDATE crypto_state SET pass_after = ? WHERE id = 1", (found[-1][0],))
    done = conn.execute(f"SELECT count(*) FROM {table} WHERE {pk} <= ?",
                        (found[-1][0] if found else after,)).fetchone()[0]
    total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return Progress(table, done, total)


def reseal_kv(conn: sqlite3.Connection, codec: Codec) -> int:
    """kv under the current key: keys in clear become keyed hashes (they may name a person), values are sealed.
    A key already written hashed (since encryption was on) wins over its old copy in clear."""
    found = conn.execute("SELECT key, value, expires_at FROM kv").fetchall()  # values opened, whatever their key
    for key, value, expires in found:
        sealed = codec.seal(value) if isinstance(value, str) else value
        if is_kv_hash(key):
            conn.execute("UPDATE kv SET value = ? WHERE key = ?", (sealed, key))
            continue
        conn.execute("DELETE FROM kv WHERE key = ?", (key,))
        conn.execute("INSERT INTO kv (key, value, expires_at) VALUES (?,?,?) ON CONFLICT(key) DO NOTHING",
                     (codec.blind(f"kv:{key}"), sealed, expires))
    return len(found)


def finish(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE crypto_state SET pending = 0, finished_at = ? WHERE id = 1", (time.time(),))
