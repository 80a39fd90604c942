"""An in-process core on a temporary store (SQLite, or PostgreSQL via `store_url`), for tests below the daemon."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tpbridge.adapters.base import Inbound, Sender, ThreadHint
from tpbridge.bridge.config import parse
from tpbridge.bridge.core import Core
from tpbridge.bridge.model import Role, Viewer

ADMIN = Viewer(0, Role.ADMIN, (), ())  # sees every conversation: for store-level tests of the list


def old_sqlite_store(path: Path, upto: int) -> sqlite3.Connection:
    """A SQLite store at schema version `upto` holding one person (contact 1, identity 1 on `w.s`), and a
    connection to write what that version held; close both before opening it with the current code."""
    from tpbridge.bridge.store.sqlite import SqliteStore
    from tpbridge.bridge.store.sqlite.writer import connect

    old = SqliteStore(path)
    old.open_sync(upto=upto)
    old.close_sync()
    conn = connect(path)
    conn.execute("INSERT INTO contacts (id, name, created_at, updated_at) VALUES (1, 'Li', 0, 0)")
    conn.execute("INSERT INTO identities (id, contact_id, inbox, channel, external_id) VALUES (1, 1, 'w.s', 'w', 'u')")
    return conn


def sqlite_url(tmp_path: Path) -> str:
    """The SQLite store a core on `tmp_path` uses by default: for tests of SQLite's own machinery, which run on
    SQLite even when $TPBRIDGE_TEST_STORE asks for PostgreSQL."""
    return f"sqlite:///{tmp_path}/data/tpbridge.db"


@asynccontextmanager
async def running_core(tmp_path: Path, raw: dict[str, Any] | None = None, *, url: str | None = None
                       ) -> AsyncIterator[Core]:
    """`url`: the store (the `store_url` fixture gives SQLite and PostgreSQL in turn); SQLite by default, or
    a fresh PostgreSQL schema for every core when $TPBRIDGE_TEST_STORE=postgresql (a whole-suite check)."""
    raw = raw or {}
    if url is None and os.environ.get("TPBRIDGE_TEST_STORE") == "postgresql":
        from tests.fakes.postgres import Postgres

        url = Postgres.shared().new_database()
    raw.setdefault("bridge", {})["data_dir"] = str(tmp_path / "data")
    raw.setdefault("store", {})["url"] = url or sqlite_url(tmp_path)
    core = Core.build(parse(raw, tmp_path / "tpbridge.toml"))
    await core.store.open()
    try:
        yield core
    finally:
        await core.store.close()


def inbound(external_id: str, sender: str = "u1", text: str = "hello", *, inbox: str = "webchat.site",
            thread: ThreadHint | None = None, **kw: Any) -> Inbound:
    return Inbound(inbox=inbox, external_id=external_id, sender=Sender(sender, name=kw.pop("name", None)),
                   text=text, sent_at=kw.pop("sent_at", None) or datetime.now(UTC), thread=thread, **kw)
