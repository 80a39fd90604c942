"""Numbered schema migrations for the PostgreSQL store, applied in order at start.

Each module `mNNNN_<what>.py` holds VERSION, DESCRIPTION and `SQL` (or `up(conn)`). Several
instances may start at once on one database: the upgrade holds an advisory lock, so exactly one
applies the missing versions and the others find them recorded in `schema_migrations`.
"""

from __future__ import annotations

import time

import structlog
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from tpbridge.bridge.store.sqlite.migrations import Migration, discover

log = structlog.get_logger(__name__)

MIGRATION_LOCK = 0x7470_6272_6964_6765  # "tpbridge": one upgrade at a time per database


def available() -> list[Migration]:
    return discover(__name__, __path__)


async def upgrade(conn: AsyncConnection[DictRow], *, upto: int | None = None) -> list[int]:
    """Apply every missing migration (up to `upto`, for tests of old stores), each in its own transaction."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version integer PRIMARY KEY, description text NOT NULL, applied_at double precision NOT NULL)"
        )
    ran = []
    for mig in available():
        if upto is not None and mig.version > upto:
            break
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur = await conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (mig.version,))
            if await cur.fetchone() is not None:
                continue
            if hasattr(mig.module, "up"):
                await mig.module.up(conn)
            else:
                await conn.execute(mig.module.SQL)
            await conn.execute(
                "INSERT INTO schema_migrations (version, description, applied_at) VALUES (%s, %s, %s)",
                (mig.version, mig.description, time.time()),
            )
        log.info("store.migrated", version=mig.version, description=mig.description)
        ran.append(mig.version)
    return ran
