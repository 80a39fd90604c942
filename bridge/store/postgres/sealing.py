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
from psycopg.rows import AsyncRowFactory, DictRow, RowFactory, RowMaker, TupleRow, dict_row, tuple_row
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
        return lambda values: make(_opened(codec, values))

    return factory


def tuple_rows(codec: Codec | None) -> AsyncRowFactory[TupleRow]:
    """Rows as plain tuples, opened the same way (a list page reads its rows by position)."""
    if codec is None:
        return tuple_row

    def factory(_cursor: Any) -> RowMaker[TupleRow]:
        return lambda values: tuple(_opened(codec, values))

    return factory


def _opened(codec: Codec, values: Sequence[Any]) -> list[Any]:
    return [codec.open(v) if isinstance(v, str) and v.startswith(TEXT_PREFIX) else v for v in values]
