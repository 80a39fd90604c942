"""`tpbridge store copy FROM_URL TO_URL`: a whole store into another (SQLite to PostgreSQL, or back).

Both stores are opened first, so each has its current schema (its own migrations). Then every table
the two have in common is copied in primary-key order, in batches that each commit: an interrupted
copy started again continues after the last row the destination holds. Rows already copied are not
revisited, so stop the daemon (or accept that later changes to copied rows stay behind) and copy
again until it reports nothing left. What each store derives itself is rebuilt, not copied: the
search index, id sequences, the audit trail's head. Attachment files stay where they are.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg
from tpbridge.bridge.search import terms
from tpbridge.bridge.store import open_store
from tpbridge.bridge.store.postgres import text
from tpbridge.bridge.store.postgres.base import is_postgres_url
from tpbridge.bridge.store.sqlite.base import path_from_url

BATCH = 2000
# Kept by each store for itself: schema versions, search terms (FTS5 or tsvector), the search backlog
# mark, leases of running instances, SQLite's own bookkeeping, the audit head (rebuilt from the log), the
# conversations' labels one by one (their triggers fill them as the conversations arrive).
SKIP = {"schema_migrations", "message_search", "search_state", "leases", "sqlite_sequence", "sqlite_stat1",
        "audit_state", "conversation_labels"}
# Parents before children (foreign keys); tables not named here follow in alphabetical order.
ORDER = ["contacts", "identities", "conversations", "messages", "message_edits", "attachments", "outbox", "agents",
         "teams", "agent_teams", "tokens", "sessions"]

Row = tuple[Any, ...]
Progress = Callable[[str, int, int], None]


class End(Protocol):
    def tables(self) -> list[str]: ...
    def columns(self, table: str) -> list[str]: ...
    def key(self, table: str) -> list[str]: ...
    def count(self, table: str) -> int: ...
    def last_key(self, table: str, key: list[str]) -> Row | None: ...
    def read(self, table: str, cols: list[str], key: list[str], after: Row | None, limit: int) -> list[Row]: ...
    def write(self, table: str, cols: list[str], rows: list[Row]) -> None: ...
    def finish(self) -> None: ...
    def close(self) -> None: ...


def _keyed(key: list[str], after: Row | None, mark: str) -> tuple[str, list[Any]]:
    if after is None:
        return "", []
    return f" WHERE ({', '.join(key)}) > ({', '.join([mark] * len(key))})", list(after)


class SqliteEnd:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA busy_timeout=30000")

    def tables(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'message_search%'"
            " AND sql NOT LIKE 'CREATE VIRTUAL%'")]

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f'PRAGMA table_info("{table}")')]

    def key(self, table: str) -> list[str]:
        found = sorted((r[5], r[1]) for r in self.conn.execute(f'PRAGMA table_info("{table}")') if r[5])
        return [name for _, name in found]

    def count(self, table: str) -> int:
        return int(self.conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])

    def last_key(self, table: str, key: list[str]) -> Row | None:
        row = self.conn.execute(f'SELECT {", ".join(key)} FROM "{table}" ORDER BY {", ".join(f"{k} DESC" for k in key)}'
                                " LIMIT 1").fetchone()
        return None if row is None else tuple(row)

    def read(self, table: str, cols: list[str], key: list[str], after: Row | None, limit: int) -> list[Row]:
        where, args = _keyed(key, after, "?")
        order = f' ORDER BY {", ".join(key)}' if key else ""
        return [tuple(r) for r in self.conn.execute(
            f'SELECT {", ".join(cols)} FROM "{table}"{where}{order} LIMIT ?', (*args, limit))]

    def write(self, table: str, cols: list[str], rows: list[Row]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(f'INSERT OR IGNORE INTO "{table}" ({", ".join(cols)}) VALUES'
                                  f' ({", ".join("?" * len(cols))})', rows)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def finish(self) -> None:
        # The search index follows the messages from the mark (search_index.py): index them all.
        self.conn.execute("UPDATE search_state SET indexed_upto = 0 WHERE id = 1")

    def close(self) -> None:
        self.conn.close()


# JSON text PostgreSQL's queries read as jsonb, which refuses the escape \u0000 that SQLite's JSON may hold.
READ_AS_JSONB = {("conversations", "attrs"), ("conversations", "labels")}


class PostgresEnd:
    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True, context=text.ADAPTERS)  # U+0000 from SQLite: U+FFFD

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in self.conn.execute(sql.encode(), args).fetchall()]

    def tables(self) -> list[str]:
        return [r[0] for r in self._all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE'")]

    def columns(self, table: str) -> list[str]:
        return [r[0] for r in self._all(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s ORDER BY ordinal_position", (table,))]

    def key(self, table: str) -> list[str]:
        return [r[0] for r in self._all(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey, a.attnum)", (table,))]

    def count(self, table: str) -> int:
        return int(self._all(f'SELECT count(*) FROM "{table}"')[0][0])

    def last_key(self, table: str, key: list[str]) -> Row | None:
        found = self._all(f'SELECT {", ".join(key)} FROM "{table}" ORDER BY {", ".join(f"{k} DESC" for k in key)}'
                          " LIMIT 1")
        return found[0] if found else None

    def read(self, table: str, cols: list[str], key: list[str], after: Row | None, limit: int) -> list[Row]:
        where, args = _keyed(key, after, "%s")
        order = f' ORDER BY {", ".join(key)}' if key else ""
        return self._all(f'SELECT {", ".join(cols)} FROM "{table}"{where}{order} LIMIT %s', (*args, limit))

    def write(self, table: str, cols: list[str], rows: list[Row]) -> None:
        sql = (f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ({", ".join(["%s"] * len(cols))})'
               " ON CONFLICT DO NOTHING")
        if jsonb := [i for i, c in enumerate(cols) if (table, c) in READ_AS_JSONB]:
            rows = [tuple(text.json_text(json.loads(v)) if i in jsonb and isinstance(v, str) and "\\u0000" in v
                          else v for i, v in enumerate(r)) for r in rows]
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(sql.encode(), rows)

    def finish(self) -> None:
        with self.conn.transaction():
            for (table,) in self._all(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema()"
                    " AND column_name = 'id' AND is_identity = 'YES'"):
                self.conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'),"
                                  f' coalesce((SELECT max(id) FROM "{table}"), 0) + 1, false)')
            if "audit_state" in self.tables():
                self.conn.execute(
                    "UPDATE audit_state SET (last_id, last_hash) = (SELECT coalesce(max(id), 0), "
                    "(SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) FROM audit_log) WHERE id = 1")
        while True:  # the search terms of every copied message, as the store writes them
            found = self._all("SELECT id, conversation_id, text FROM messages m WHERE NOT EXISTS"
                              " (SELECT 1 FROM message_search s WHERE s.message_id = m.id) ORDER BY id LIMIT %s",
                              (BATCH,))
            if not found:
                break
            with self.conn.transaction(), self.conn.cursor() as cur:
                cur.executemany(
                    b"INSERT INTO message_search (message_id, conversation_id, terms)"
                    b" VALUES (%s, %s, array_to_tsvector(%s)) ON CONFLICT DO NOTHING",
                    [(i, c, sorted(set(terms(t or "")))) for i, c, t in found])

    def close(self) -> None:
        self.conn.close()


def end(url: str, base: Path) -> End:
    if is_postgres_url(url):
        return PostgresEnd(url)
    return SqliteEnd(path_from_url(url, base))


def migrate(url: str, base: Path) -> None:
    """Open the store once: its migrations make the schema current (the destination's may be empty)."""

    async def run() -> None:
        store = open_store(url, base)
        await store.open()
        await store.close()

    asyncio.run(run())


def copy(src_url: str, dst_url: str, base: Path, progress: Progress | None = None, *, batch: int = BATCH
         ) -> dict[str, int]:
    """Copy every common table; returns rows copied per table (0 everywhere: nothing was left)."""
    if src_url == dst_url:
        raise ValueError("FROM_URL and TO_URL are the same store")
    migrate(src_url, base)
    migrate(dst_url, base)
    src, dst = end(src_url, base), end(dst_url, base)
    try:
        common = (set(src.tables()) & set(dst.tables())) - SKIP
        tables = [t for t in ORDER if t in common] + sorted(common - set(ORDER))
        copied: dict[str, int] = {}
        for table in tables:
            cols = [c for c in src.columns(table) if c in set(dst.columns(table))]
            key = [k for k in dst.key(table) if k in cols]
            total, done = src.count(table), dst.count(table)
            copied[table] = 0
            if not key:  # no key to resume by (the anonymous report rows): copied whole, once
                if not done:
                    rows = src.read(table, cols, [], None, total + 1)
                    for i in range(0, len(rows), batch):
                        dst.write(table, cols, rows[i : i + batch])
                    copied[table] = len(rows)
                if progress:
                    progress(table, total, total)
                continue
            after = dst.last_key(table, key)
            while rows := src.read(table, cols, key, after, batch):
                dst.write(table, cols, rows)
                after = tuple(rows[-1][cols.index(k)] for k in key)
                copied[table] += len(rows)
                done += len(rows)
                if progress:
                    progress(table, min(done, total), total)
            if progress and not copied[table]:
                progress(table, total, total)
        dst.finish()
        return copied
    finally:
        src.close()
        dst.close()


def bar(stream: Any = sys.stderr) -> Progress:
    """A progress line per table, redrawn in place on a terminal."""
    tty = stream.isatty()

    def show(table: str, done: int, total: int) -> None:
        width = 30
        filled = width if total == 0 else width * done // total
        line = f"{table:<24} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        if tty:
            stream.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total:
            stream.write(line + "\n")
        stream.flush()

    return show
