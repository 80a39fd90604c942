"""The plumbing every fake API server shares: serving its aiohttp app on a free local port,
stopping it, and letting a test wait until the fake has recorded what it expects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web


async def serve(app: web.Application, **runner_options: Any) -> tuple[web.AppRunner, str]:
    """Serve `app` on 127.0.0.1 at a port the OS picks: the runner (for `stop_serving`) and the base URL."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def stop_serving(runner: web.AppRunner | None) -> None:
    """Stop what `serve` started (nothing if it never started)."""
    if runner is not None:
        await runner.cleanup()


async def wait_until(changed: asyncio.Condition, predicate: Callable[[], bool], timeout: float) -> None:
    """Wait until `predicate()` holds, re-checked whenever the fake notifies `changed`."""
    async with changed:
        await asyncio.wait_for(changed.wait_for(predicate), timeout)
