"""The store's side of `tpbridge key rotate` and of turning encryption on: the re-seal pass in steps."""

from __future__ import annotations

import asyncio
import sqlite3

from tpbridge.bridge.store.sqlite import encryption
from tpbridge.bridge.store.sqlite.base import SqliteBase
from tpbridge.bridge.store.sqlite.writer import connect


class EncryptionStore(SqliteBase):
    async def reseal_pending(self) -> bool:
        if self.codec is None:
            return False
        return await self._read(encryption.pending)

    async def reseal_step(self, limit: int = 500) -> encryption.Progress:
        codec = self.codec
        assert codec is not None
        return await self._write(lambda c: encryption.step(c, codec, limit))

    async def reseal_finish(self) -> None:
        """Mark the pass done, then VACUUM: freed pages must not keep the plaintext or the old ciphertext."""
        await self._write(encryption.finish)

        def vacuum() -> None:
            conn = connect(self.path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()

        await asyncio.to_thread(vacuum)

    async def search_backlog(self) -> int:
        def run(c: sqlite3.Connection) -> int:
            mark = c.execute("SELECT indexed_upto FROM search_state WHERE id = 1").fetchone()[0]
            return int(c.execute("SELECT count(*) FROM messages WHERE id > ?", (mark,)).fetchone()[0])

        return await self._read(run)
