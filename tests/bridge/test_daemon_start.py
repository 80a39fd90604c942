"""serve() in process: however start-up ends, what was opened is closed (store, web app, tasks, signals)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from pathlib import Path

import aiohttp
import pytest
from tpbridge.bridge.config import Config, parse
from tpbridge.bridge.daemon import StartError, serve, start
from tpbridge.bridge.systemd_notify import Notifier

from tests.support.daemon import free_port

REPO = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, port: int) -> Config:
    raw = {
        "bridge": {"data_dir": str(tmp_path / "data"), "config_dir": str(REPO / "config")},
        "store": {"url": f"sqlite:///{tmp_path}/data/tpbridge.db"},
        "http": {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"},
        "channels": {"webchat": {"site": {}}},
    }
    return parse(raw, tmp_path / "tpbridge.toml")


def store_open() -> bool:
    return any(t.name == "tpbridge-writer" and t.is_alive() for t in threading.enumerate())


def signal_handled(sig: signal.Signals) -> bool:
    return asyncio.get_running_loop().remove_signal_handler(sig)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tpbridge.toml"
    path.write_text("# the configuration is recorded (hashed) in the audit trail at start\n")
    return path


async def test_a_failure_after_everything_opened_closes_it_all(tmp_path: Path, config_file: Path) -> None:
    port = free_port()
    cfg = config(tmp_path, port)
    with pytest.raises(RuntimeError, match="a later step failed"):
        async with contextlib.AsyncExitStack() as stack:
            await start(cfg, stack, Notifier(), asyncio.Event())
            assert store_open()
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200  # listening, adapters and workers running
            assert {t.get_name() for t in asyncio.all_tasks()} >= {"adapter-webchat.site", "outbox-webchat.site"}
            raise RuntimeError("a later step failed")
    assert not store_open()
    assert port_free(port)
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not [t.get_name() for t in left if t.get_name().startswith(("adapter-", "outbox-", "automation"))]
    assert not signal_handled(signal.SIGTERM)


async def test_port_in_use_is_a_start_error_and_leaves_the_store_closed(tmp_path: Path, config_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match="is already in use"):
            await serve(config(tmp_path, port), stop=asyncio.Event())
    assert not store_open()
    assert not signal_handled(signal.SIGTERM)


async def test_stop_closes_everything_and_returns_zero(tmp_path: Path, config_file: Path) -> None:
    port = free_port()
    stop = asyncio.Event()
    served = asyncio.create_task(serve(config(tmp_path, port), stop=stop))
    async with aiohttp.ClientSession() as http:
        while True:  # until it listens (the store opens first)
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
                    break
            assert not served.done(), served
            await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(served, 15) == 0
    assert not store_open() and port_free(port)
