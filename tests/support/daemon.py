"""The daemon as a real subprocess on a free port, for end-to-end tests.

Readiness is awaited, not slept for: the test listens on a unix datagram socket
given as $NOTIFY_SOCKET and waits for the daemon's sd_notify `READY=1` — the same
signal systemd waits for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Self

import aiohttp

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery"


class Daemon:
    def __init__(self, tmp_path: Path, channels_toml: str = "", env: dict[str, str] | None = None,
                 *, webchat: bool = True, extra_toml: str = "", store_url: str | None = None) -> None:
        self.dir = Path(tmp_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = self.dir / "data"
        self.config_path = self.dir / "tpbridge.toml"
        self.store_url = store_url or f"sqlite:///{self.data_dir}/tpbridge.db"
        self.log_path = self.dir / "daemon.log"
        self.env = {**os.environ, **(env or {})}
        self.env.pop("NOTIFY_SOCKET", None)
        self.token = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        webchat_toml = "[channels.webchat.site]\nenabled = true\n" if webchat else ""
        self.config_path.write_text(
            f'[bridge]\ndata_dir = "{self.data_dir}"\nconfig_dir = "{REPO / "config"}"\n'
            'log_level = "debug"\nlog_format = "json"\n\n'
            f'[store]\nurl = "{self.store_url}"\n\n'
            f'[http]\nlisten = "127.0.0.1:{self.port}"\npublic_url = "{self.url}"\n\n'
            f"{extra_toml}\n{webchat_toml}\n{channels_toml}\n",
            encoding="utf-8",
        )

    # ------------------------------------------------------------ CLI
    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([sys.executable, "-m", "tpbridge.bridge", "-c", str(self.config_path), *args],
                         " ".join(args), input=input, check=check)

    def _run(self, argv: list[str], what: str, *, input: str | None, check: bool) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=self.env, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"tpbridge {what} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def add_agent(self, email: str, name: str, *, role: str = "agent", teams: tuple[str, ...] = (),
                  password: str = ADMIN_PASSWORD, langs: str | None = None) -> str:
        """Create an agent and return an API token for them: `tpbridge agent add`, then `tpbridge token create`,
        in one interpreter (tests/support/cli_batch.py) — a second Python start-up per daemon costs seconds."""
        config = ["-c", str(self.config_path)]
        args = ["agent", "add", email, "--name", name, "--role", role]
        for team in teams:
            args += ["--team", team]
        if langs:
            args += ["--lang", langs]
        batch = [*config, *args, "--then", *config, "token", "create", email]
        proc = self._run([sys.executable, str(REPO / "tests" / "support" / "cli_batch.py"), *batch],
                         f"{' '.join(args)} && token create", input=password + "\n", check=True)
        return proc.stdout.strip()

    @property
    def on_sqlite(self) -> bool:
        return self.store_url.startswith("sqlite:")

    def sql(self, statement: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement on the daemon's store, whichever it is (`?` placeholders), committed: for a test that
        sets up what no API makes (a clock moved, a row planted) or looks at what the store kept."""
        if self.on_sqlite:
            import sqlite3

            from tpbridge.bridge.store.sqlite import path_from_url

            conn = sqlite3.connect(path_from_url(self.store_url, self.dir), timeout=30)  # as the daemon reads [store]
            try:
                with conn:
                    return conn.execute(statement, args).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.store_url, autocommit=True) as pg:
            cur = pg.execute(statement.replace("?", "%s"), args)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    # ------------------------------------------------------------ process
    async def start(self) -> None:
        if not self.token:
            self.token = self.add_agent(ADMIN_EMAIL, "Admin", role="admin")
        sock_dir = tempfile.mkdtemp(prefix="tpb-notify-")
        sock_path = os.path.join(sock_dir, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.setblocking(False)
        env = {**self.env, "NOTIFY_SOCKET": sock_path}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block; waiting is awaited below
            [sys.executable, "-m", "tpbridge.bridge", "-c", str(self.config_path), "run"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        log.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(30):
                while True:
                    exited = self.proc.poll()
                    if exited is not None:
                        raise AssertionError(f"daemon exited with {exited} before READY:\n{self.logs()[-3000:]}")
                    try:
                        data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.5)
                    except TimeoutError:
                        continue
                    if b"READY=1" in data:
                        break
        finally:
            sock.close()
            os.unlink(sock_path)
            os.rmdir(sock_dir)

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a crash or an OOM kill."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def stop(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, timeout)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    # ------------------------------------------------------------ HTTP
    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def api(self, method: str, path: str, json: Any = None, *, token: str | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        async with self.session.request(method, self.url + path, json=json, headers=hdrs) as resp:
            body = await resp.json(content_type=None) if resp.content_length != 0 else None
            return resp.status, body

    async def wait_for(self, predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                       interval: float = 0.05) -> Any:
        """Poll an async predicate until it returns something truthy (state that has no event to await)."""
        async with asyncio.timeout(timeout):
            while True:
                result = await predicate()
                if result:
                    return result
                await asyncio.sleep(interval)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                await self.stop()
            except subprocess.TimeoutExpired:
                self.kill()


class Visitor:
    """A web chat visitor speaking the /chat API, as the page's JavaScript does."""

    def __init__(self, daemon: Daemon, base: str = "/chat") -> None:
        self.d = daemon
        self.base = daemon.url + base
        self.token = ""

    async def start(self) -> Self:
        async with self.d.session.post(self.base + "/api/visitor", json={}) as resp:
            assert resp.status == 201, await resp.text()
            self.token = (await resp.json())["token"]
        return self

    async def say(self, text: str, client_id: str | None = None, **extra: Any) -> tuple[int, Any]:
        body = {"text": text, **extra}
        if client_id:
            body["client_id"] = client_id
        async with self.d.session.post(self.base + "/api/messages", json=body,
                                       headers={"Authorization": f"Bearer {self.token}"}) as resp:
            return resp.status, await resp.json()

    async def history(self) -> list[dict[str, Any]]:
        async with self.d.session.get(self.base + "/api/messages",
                                      headers={"Authorization": f"Bearer {self.token}"}) as resp:
            assert resp.status == 200, await resp.text()
            return (await resp.json())["items"]
