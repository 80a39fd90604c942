"""sd_notify(3) over $NOTIFY_SOCKET: READY, WATCHDOG, STOPPING for `Type=notify` units."""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET")
        self._addr = None if not addr else ("\0" + addr[1:] if addr.startswith("@") else addr)
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None

    def send(self, state: str) -> None:
        if self._addr is None:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect(self._addr)
                sock.sendall(state.encode())
            except OSError:
                pass  # systemd gone or not listening: nothing to tell

    def ready(self) -> None:
        self.send("READY=1\nSTATUS=running")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
