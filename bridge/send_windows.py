"""How fast an inbox may send, and the pauses a channel asked for (a 429, a Retry-After), kept by the store.

Several instances sending through one bot must share its limits, or N instances try N times the
rate. So pacing lives in the store: on PostgreSQL one row per key (bridge/store/postgres/windows.py),
which every instance updates atomically; the SQLite store has one process, so `MemoryWindows` here.

Pacing is the generic cell rate algorithm: a key keeps the time its next send is due (`tat`); a send
reserves the slot at `max(tat, now)` and moves `tat` on by `1 / rate`, and may go `burst - 1` slots
early. So a burst of sends from any number of instances comes out at `rate` per second, each told
how long to wait for its slot. A pause (`paused_until`) holds every send under the key back until
then, without reserving anything.

Keys are `<inbox>:<key>`; the key `""` is the whole inbox (the outbox checks it before each claim).
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SendSlot:
    wait: float  # seconds until the slot (0: now), or until the pause ends
    paused: bool = False  # the channel asked for a pause: nothing was reserved


def window_key(inbox: str, key: str = "") -> str:
    return f"{inbox}:{key}"


def reserve(tat: float, paused_until: float, now: float, rate: float | None, burst: float) -> tuple[float, SendSlot]:
    """The new `tat` and the slot, from a key's state (the one rule both stores apply)."""
    if paused_until > now:
        return tat, SendSlot(paused_until - now, paused=True)
    if rate is None:
        return tat, SendSlot(0.0)
    interval = 1.0 / rate
    start = max(tat, now)
    return start + interval, SendSlot(max(0.0, start - (max(burst, 1.0) - 1.0) * interval - now))


class MemoryWindows:
    """One process's windows (the SQLite store; adapters' test sinks)."""

    LIMIT = 10_000  # keys kept before those long idle are forgotten

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tat, paused_until)

    def slot(self, key: str, rate: float | None, burst: float) -> SendSlot:
        now = time.time()
        tat, paused = self._state.get(key, (0.0, 0.0))
        new_tat, slot = reserve(tat, paused, now, rate, burst)
        if new_tat != tat:
            if len(self._state) >= self.LIMIT:
                self._state = {k: v for k, v in self._state.items() if max(v) > now}
            self._state[key] = (new_tat, paused)
        return slot

    def pause(self, key: str, seconds: float) -> None:
        tat, paused = self._state.get(key, (0.0, 0.0))
        self._state[key] = (tat, max(paused, time.time() + seconds))

    def paused_for(self, key: str) -> float:
        return max(0.0, self._state.get(key, (0.0, 0.0))[1] - time.time())
