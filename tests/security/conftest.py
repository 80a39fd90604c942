"""One daemon for the attack tests of a module (starting one costs seconds on a busy machine), once per
store: every attack is tried against SQLite and PostgreSQL alike.

Each test makes its own agents through the API, so what one test breaks (a disabled agent, a
locked account) does not touch another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.security.support import STORES, TEAMS_TOML, module_store
from tests.support.daemon import Daemon, free_port

METRICS_TOKEN = "s3cret-metrics-token"


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=STORES)
async def d(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    """The shared daemon: web chat on, teams red (the web chat) and blue, /metrics on its own address
    behind a token, a short header timeout, 127.0.0.1 trusted as a proxy (X-Forwarded-For; the tests
    connect from there, without the header unless they say so)."""
    path: Path = tmp_path_factory.mktemp("desk")
    metrics_port = free_port()
    url = module_store(request)
    daemon = Daemon(path, store_url=url, env={"TPB_METRICS": METRICS_TOKEN}, extra_toml=(
        'trusted_proxies = ["127.0.0.1/32", "::1"]\n'
        f'header_timeout = 2.0\nmetrics_listen = "127.0.0.1:{metrics_port}"\nmetrics_token = "env:TPB_METRICS"\n'
        + TEAMS_TOML))
    daemon.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # type: ignore[attr-defined]
    async with daemon:
        yield daemon
