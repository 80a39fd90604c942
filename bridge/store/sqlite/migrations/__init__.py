"""Numbered schema migrations, applied in order at start (mautrix's upgrade table idea).

Each module `mNNNN_<what>.py` holds VERSION, DESCRIPTION and `up(db)`, or `SQL`: one statement
run as it is (an index, as the PostgreSQL store's migrations give theirs). A store made
by an older version upgrades in place: only the missing versions run, each in its
own transaction, recorded in `schema_migrations`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    module: ModuleType


def available() -> list[Migration]:
    return discover(__name__, __path__)


def discover(package: str, path: Sequence[str]) -> list[Migration]:
    """The `mNNNN_*` modules of a migrations package, in version order (the PostgreSQL store's too)."""
    found = []
    for info in pkgutil.iter_modules(path):
        if not info.name.startswith("m") or not info.name[1:5].isdigit():
            continue
        mod = importlib.import_module(f"{package}.{info.name}")
        found.append(Migration(mod.VERSION, mod.DESCRIPTION, mod))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number: {versions}")
    return found


def applied(conn: sqlite3.Connection) -> set[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def upgrade(conn: sqlite3.Connection, *, upto: int | None = None) -> list[int]:
    """Apply every missing migration (up to `upto`, for tests of old stores)."""
    done = applied(conn)
    ran = []
    for mig in available():
        if mig.version in done or (upto is not None and mig.version > upto):
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if hasattr(mig.module, "SQL"):
                conn.execute(mig.module.SQL)
            else:
                import sqlite_utils  # here, not at the top: it brings numpy, ~0.2 s of every start that has none

                mig.module.up(sqlite_utils.Database(conn))
            conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                (mig.version, mig.description, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("store.migrated", version=mig.version, description=mig.description)
        ran.append(mig.version)
    return ran
