"""Encryption at rest in the PostgreSQL store: the codec rides on the connection, as in the SQLite store.

Reads are opened in one place, the row factory: every text value that is sealed comes back as its
plaintext, whatever the query. Writes seal the personal columns where they are written, with the
SQLite store's helpers (bridge/store/sqlite/sealing.py: `seal`, `lookup_id`, `lookup_msg`, ...), which
find the codec on the connection; without a key all of this is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, RowFactory, RowMaker, dict_row
from tpbridge.bridge.crypto import TEXT_PREFIX, Codec


def connection_class(codec: Codec | None) -> type[AsyncConnection[DictRow]]:
    """The pool's connection class: one that carries the codec (a class attribute: psycopg's connections
    take no new attributes)."""
    if codec is None:
        return AsyncConnection
    return type("SealingConnection", (AsyncConnection,), {"codec": codec})


def row_factory(codec: Codec | None) -> RowFactory[DictRow]:
    if codec is None:
        return dict_row

    def factory(cursor: Any) -> RowMaker[DictRow]:
        make = dict_row(cursor)

        def row(values: Sequence[Any]) -> DictRow:
            return make([codec.open(v) if isinstance(v, str) and v.startswith(TEXT_PREFIX) else v for v in values])

        return row

    return factory
