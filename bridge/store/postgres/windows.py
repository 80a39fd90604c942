"""Send-rate windows in the database: every instance paces its sends and honours a channel's pause through
the same row (bridge/send_windows.py has the rule). Times are the database's clock, so instances on
machines whose clocks differ still agree."""

from __future__ import annotations

from tpbridge.bridge.send_windows import SendSlot
from tpbridge.bridge.store.postgres import rows
from tpbridge.bridge.store.postgres.base import Conn, PostgresBase

_NOW = "extract(epoch FROM now())"  # fixed for the statement (clock_timestamp() is not)
IDLE = 3600.0  # rows untouched this long (and not paused) are removed by the heartbeat
PRUNE_EVERY = 1800  # heartbeats (2 s each): about once an hour


class WindowStore(PostgresBase):
    def _key(self, key: str) -> str:
        """A key may name a chat (`telegram.main:chat:<id>`): with encryption at rest, its keyed hash."""
        return key if self.codec is None else self.codec.blind(f"window:{key}")

    async def send_slot(self, key: str, rate: float | None, burst: float) -> SendSlot:
        """Reserve the next slot under `rate` per second (one statement, whichever instance asks); while the
        key is paused, reserve nothing and say how long the pause lasts."""
        key = self._key(key)

        async def run(c: Conn) -> SendSlot:
            if rate is None:
                left = await rows.value(c, f"SELECT paused_until - {_NOW} FROM send_windows WHERE key = %s",
                                        (key,))
                return SendSlot(float(left), paused=True) if left is not None and left > 0 else SendSlot(0.0)
            interval = 1.0 / rate
            early = (max(burst, 1.0) - 1.0) * interval
            found = await rows.one(
                c, f"INSERT INTO send_windows AS w (key, tat) VALUES (%s, {_NOW} + %s)"
                " ON CONFLICT (key) DO UPDATE SET tat = greatest(w.tat, excluded.tat - %s) + %s"
                f" WHERE w.paused_until <= {_NOW}"
                f" RETURNING greatest(0, tat - %s - %s - {_NOW}) AS wait",
                (key, interval, interval, interval, interval, early))
            if found is not None:
                return SendSlot(float(found["wait"]))
            left = await rows.value(c, f"SELECT paused_until - {_NOW} FROM send_windows WHERE key = %s", (key,))
            return SendSlot(max(0.0, float(left or 0.0)), paused=True)

        return await self._tx(run)

    async def pause_sends(self, key: str, seconds: float) -> None:
        key = self._key(key)
        async def run(c: Conn) -> None:
            await c.execute(
                f"INSERT INTO send_windows AS w (key, tat, paused_until) VALUES (%s, 0, {_NOW} + %s)"
                " ON CONFLICT (key) DO UPDATE SET paused_until = greatest(w.paused_until, excluded.paused_until)",
                (key, seconds))

        await self._tx(run)

    async def sends_paused(self, key: str) -> float:
        key = self._key(key)
        async def run(c: Conn) -> float:
            left = await rows.value(c, f"SELECT paused_until - {_NOW} FROM send_windows WHERE key = %s", (key,))
            return max(0.0, float(left or 0.0))

        return await self._read(run)

    _beats = 0

    async def _beat(self) -> None:
        """With the heartbeat, now and then: a row per chat ever written to would otherwise stay for good."""
        await super()._beat()
        self._beats += 1
        if self._beats % PRUNE_EVERY == 1:

            async def run(c: Conn) -> None:
                await c.execute(f"DELETE FROM send_windows WHERE greatest(tat, paused_until) < {_NOW} - %s", (IDLE,))

            await self._tx(run)
