"""Free TCP ports for the servers the tests start, taken from below the kernel's ephemeral range.

A port the kernel handed out (`bind(("127.0.0.1", 0))`) lies in the ephemeral range, so once a
test lets go of it — a daemon killed with SIGKILL and started again on the same port, a server
restarted — any outgoing connection on the machine may take it as its local port, and the restart
fails with "address already in use" (seen in a full run). Below that range the kernel never hands
ports out; the two xdist workers draw from separate halves, so they do not pick the same one.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def _below_ephemeral() -> tuple[int, int]:
    try:
        low = int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768  # Linux's default
    return _LOWEST, max(low, _LOWEST + 2_000)


def _worker_share(low: int, high: int) -> tuple[int, int]:
    """This xdist worker's slice of [low, high): gw0, gw1, ... each its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker) if worker.isdigit() else 0
    size = (high - low) // max(count, 1)
    start = low + (index % max(count, 1)) * size
    return start, start + size


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now and the kernel will not give an outgoing connection."""
    start, end = _worker_share(*_below_ephemeral())
    for _ in range(200):
        port = random.randrange(start, end)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # every try taken: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
