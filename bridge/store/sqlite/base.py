"""The SQLite store's plumbing: one writer thread, reader threads, the checkpointer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tpbridge.bridge.crypto import Codec
from tpbridge.bridge.store.sqlite import encryption, migrations, search_index
from tpbridge.bridge.store.sqlite.writer import Checkpointer, Readers, Writer, connect

T = TypeVar("T")


def path_from_url(url: str, base: Path) -> Path:
    """`sqlite:///data/x.db` is relative to the config's folder; `sqlite:////abs/x.db` absolute."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url}")
    rest = url[len("sqlite:///"):]
    path = Path(rest)
    return path if path.is_absolute() else base / path


class SqliteBase:
    def __init__(self, path: Path, codec: Codec | None = None) -> None:
        self.path = path
        self.codec = codec
        self._writer = Writer(path, codec)
        self._readers = Readers(path, codec=codec)
        self._checkpointer = Checkpointer(path)
        self._opened = False

    async def open(self) -> None:
        self.open_sync()

    def open_sync(self, *, upto: int | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path, codec=self.codec)
        try:
            migrations.upgrade(conn, upto=upto)
            if upto is None or upto >= encryption.VERSION:
                encryption.check(conn, self.codec)  # the key matches the store, or one clear line
            if upto is None:
                search_index.check_terms_version(conn)
        finally:
            conn.close()
        self._writer.start()
        self._checkpointer.start()
        self._opened = True

    async def close(self) -> None:
        self.close_sync()

    def close_sync(self) -> None:
        if not self._opened:
            return
        self._opened = False
        self._writer.stop()
        self._readers.close()
        self._checkpointer.stop()

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._writer.submit(fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._readers.run(fn)

    @staticmethod
    def now() -> float:
        return time.time()

    async def backup(self, path: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            dest = sqlite3.connect(path)
            try:
                conn.backup(dest)
            finally:
                dest.close()

        await self._read(run)
