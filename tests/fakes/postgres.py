"""A real, throwaway PostgreSQL on loopback, started once per test session.

Debian's `postgresql` package: `initdb` in a temporary folder, a free port on 127.0.0.1, the
unix socket in the same folder, trust authentication for one superuser. Durability is off
(fsync, synchronous_commit): the tests check what the store commits and in which order, not
the disk. As root, the server runs as the package's `postgres` user (PostgreSQL refuses root).
Every test gets a schema of its own (`new_database`), so tests never see each other's rows.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.support.ports import free_port

SUPERUSER = "tpbridge"


def _bindir() -> Path:
    """Debian keeps the server programs out of PATH, under /usr/lib/postgresql/<major>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(which).resolve().parent
    raise RuntimeError("PostgreSQL server programs not found: install Debian's postgresql package (scripts/test does)")


class Postgres:
    """The running server and the databases the tests make on it."""

    _instance: Postgres | None = None

    def __init__(self, *, durable: bool = False) -> None:
        """`durable`: fsync and full-page writes on, as in production (the benchmark); the tests run without."""
        self.durable = durable
        self.bin = _bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="tpb-postgres-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._run_as: list[str] = []
        if os.geteuid() == 0:
            self._run_as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")
        self._numbers = itertools.count(1)
        self._cmd("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        self.start()
        self.started_at = time.monotonic()

    @classmethod
    def shared(cls) -> Postgres:
        """One server per test process; stopped at exit."""
        if cls._instance is None:
            cls._instance = cls()
            atexit.register(cls._instance.destroy)
        return cls._instance

    def _cmd(self, program: str, *args: str) -> None:
        proc = subprocess.run([*self._run_as, str(self.bin / program), *args], capture_output=True, text=True,
                              timeout=120, cwd=self.dir)
        if proc.returncode != 0:
            raise RuntimeError(f"{program} failed ({proc.returncode}): {proc.stderr or proc.stdout}")

    # ------------------------------------------------------------ server
    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
                   " -c shared_buffers=128MB")
        # synchronous_commit off either way: like SQLite's WAL with synchronous=NORMAL, a commit survives the
        # process dying at once and the machine crashing after a moment (wal_writer_delay).
        options += " -c synchronous_commit=off"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._cmd("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.dir / "server.log"), "-w",
                  "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """Stop (dropping every connection) and start again on the same port."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ databases
    @property
    def pid(self) -> int:
        """The postmaster's pid (its children are the server's other processes)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty schema in the shared test database, as a URL of its own (its search_path).

        CREATE DATABASE takes half a second here; a schema takes milliseconds and isolates as well.
        """
        name = f"t{os.getpid()}_{next(self._numbers)}"
        self.sql(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return cur.fetchall() if cur.description else []
