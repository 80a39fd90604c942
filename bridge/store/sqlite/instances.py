"""One process owns a SQLite store: every lease is its own, and no other instance commits anything."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence

from tpbridge.bridge.model import Conversation, Message
from tpbridge.bridge.send_windows import MemoryWindows, SendSlot
from tpbridge.bridge.store.protocol import Change
from tpbridge.bridge.store.sqlite import rows
from tpbridge.bridge.store.sqlite.base import SqliteBase


class SingleInstance(SqliteBase):
    _windows: MemoryWindows | None = None

    @property
    def windows(self) -> MemoryWindows:
        """Send pacing and channel pauses: nobody else sends, so memory is enough (and costs nothing)."""
        if self._windows is None:
            self._windows = MemoryWindows()
        return self._windows

    async def send_slot(self, key: str, rate: float | None, burst: float) -> SendSlot:
        return self.windows.slot(key, rate, burst)

    async def pause_sends(self, key: str, seconds: float) -> None:
        self.windows.pause(key, seconds)

    async def sends_paused(self, key: str) -> float:
        return self.windows.paused_for(key)

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        return True

    async def release(self, name: str, holder: str) -> None:
        return None

    async def changes(self) -> AsyncIterator[list[Change]]:
        await asyncio.Event().wait()  # nobody else writes: nothing ever comes
        yield []

    async def changed_rows(self, changes: Sequence[Change]) -> tuple[dict[int, Conversation], dict[int, Message]]:
        """The rows as they are now (the automation reads back what did not fit in its queue; bridge/events.py)."""
        conv_ids = {ch.conversation_id for ch in changes}
        msg_ids = {ch.message_id for ch in changes if ch.message_id is not None}

        def run(c: sqlite3.Connection) -> tuple[dict[int, Conversation], dict[int, Message]]:
            convs = {i: conv for i in conv_ids if (conv := rows.load_conversation(c, i)) is not None}
            found = [r[0] for i in msg_ids for r in c.execute("SELECT id FROM messages WHERE id = ?", (i,))]
            return convs, {i: rows.load_message(c, i) for i in found}

        return await self._read(run)

    async def ping(self) -> None:
        await self._read(lambda c: c.execute("SELECT 1").fetchone())
