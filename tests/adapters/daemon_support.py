"""The bridge API calls the adapter daemon tests make, as an agent would: read a conversation, reply."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aiohttp

from tests.support.daemon import Daemon

T = TypeVar("T")


async def messages(daemon: Daemon, conv_id: int) -> list[dict[str, Any]]:
    status, body = await daemon.api("GET", f"/api/v1/conversations/{conv_id}/messages")
    assert status == 200, body
    return body["items"]


async def reply(daemon: Daemon, conv_id: int, text: str, **extra: Any) -> None:
    status, body = await daemon.api("POST", f"/api/v1/conversations/{conv_id}/messages", json={"text": text, **extra})
    assert status == 202, body


async def burst_until_killed(daemon: Daemon, pushes: Sequence[T], send: Callable[[T], Awaitable[int]],
                             kill_after: int) -> list[T]:
    """Send `pushes` eight at a time, as a channel's burst arrives, and SIGKILL the daemon once `kill_after`
    of them are acknowledged (200): the acknowledged ones. With all at once, one group commit could
    acknowledge every push before the kill landed, and nothing would be left "mid-burst"."""
    in_flight = asyncio.Semaphore(8)
    acked: list[T] = []

    async def one(push: T) -> None:
        try:
            async with in_flight:
                if daemon.proc is None or daemon.proc.returncode is not None:
                    return  # killed: the rest is the channel's to send again
                status = await send(push)
        except aiohttp.ClientError:
            return
        if status == 200:
            acked.append(push)
            if len(acked) == kill_after:
                daemon.kill()

    await asyncio.gather(*(one(p) for p in pushes))
    return acked


async def until_acked(push: T, send: Callable[[T], Awaitable[int]], tries: int = 5) -> int:
    """Send `push` again until the daemon answers, as a channel retries: the status, 0 if it never did."""
    for _ in range(tries):
        try:
            return await send(push)
        except aiohttp.ClientError:
            continue
    return 0
