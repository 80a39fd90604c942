"""A real Dovecot 2.3 IMAP server on loopback, started once per test session.

Debian's `dovecot-imapd` with the minimal config in tests/fakes/dovecot/ (from the project's
shared testing notes): passwd-file auth, Maildir in a temp dir, one plain port
(which also offers STARTTLS) and one implicit-TLS port, self-signed certificate.
Every test gets its own mailbox user, so tests do not see each other's mail.
"""

from __future__ import annotations

import atexit
import imaplib
import itertools
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port

HERE = Path(__file__).parent / "dovecot"
LDA = "/usr/lib/dovecot/dovecot-lda"


@dataclass(frozen=True)
class Mailbox:
    """One IMAP account on the server."""

    user: str
    password: str


class Dovecot:
    """The running server: ports, CA file, and the operations a mail server's world performs."""

    _instance: Dovecot | None = None

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tpb-dovecot-"))
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self._users = itertools.count(1)
        env = dict(os.environ, TPB_IMAP_USER="support@example.com", TPB_IMAP_PASS="imap-pw")
        self.proc = subprocess.Popen(
            [
                str(HERE / "start-dovecot.sh"),
                "--foreground",
                str(self.dir),
                str(self.imap_port),
                str(self.imaps_port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()
        self._pool = 0
        self._add_users(1, 200)

    @classmethod
    def shared(cls) -> Dovecot:
        """One server per test process; stopped at exit."""
        if cls._instance is None or cls._instance.proc.poll() is not None:
            cls._instance = cls()
            atexit.register(cls._instance.stop)
        return cls._instance

    @property
    def conf(self) -> Path:
        return self.dir / "dovecot.conf"

    @property
    def ca_file(self) -> str:
        return str(self.dir / "tls" / "cert.pem")

    @property
    def key_file(self) -> str:
        return str(self.dir / "tls" / "key.pem")

    def _wait_ready(self) -> None:
        # Readiness is the "* OK" greeting, not an open port (the login process may still fail).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = (self.dir / "dovecot.log").read_text() if (self.dir / "dovecot.log").exists() else ""
                raise RuntimeError(f"dovecot exited: {err}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), 0.5) as s:
                    s.settimeout(1)
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dovecot did not greet within 20 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---------------------------------------------------------------- accounts and mail

    def new_mailbox(self) -> Mailbox:
        """A fresh account from the pool written at start (see `_add_users`)."""
        n = next(self._users)
        if n > self._pool:
            self._add_users(self._pool + 1, self._pool + 200)
        return self._box(n)

    def _box(self, n: int) -> Mailbox:
        return Mailbox(f"support{n}@example.com", f"pw-{n}")

    def _add_users(self, first: int, last: int) -> None:
        # Dovecot re-reads passwd-file when it changes, but checks at most once a second:
        # so accounts are added in bulk and we wait until the last one can log in.
        with (self.dir / "passwd").open("a") as f:
            for n in range(first, last + 1):
                box = self._box(n)
                f.write(f"{box.user}:{{PLAIN}}{box.password}\n")
        self._pool = last
        deadline = time.monotonic() + 10
        while True:
            try:
                self.imap(self._box(last)).logout()
                return
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def deliver(self, box: Mailbox, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver like an MTA does (dovecot-lda straight into the Maildir)."""
        subprocess.run(
            [LDA, "-c", str(self.conf), "-d", box.user, "-m", folder],
            input=raw,
            check=True,
            timeout=30,
            capture_output=True,
        )

    def imap(self, box: Mailbox) -> imaplib.IMAP4:
        """A plain stdlib client, for the test's side of the mailbox (APPEND, checks)."""
        conn = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        conn.login(box.user, box.password)
        return conn

    def append(self, box: Mailbox, raw: bytes, *, folder: str = "INBOX", when: float | None = None) -> None:
        """APPEND with an internal date (`when`, epoch seconds) — how old mail is made."""
        conn = self.imap(box)
        try:
            date = imaplib.Time2Internaldate(when if when is not None else time.time())
            typ, data = conn.append(folder, "", date, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def append_many(self, box: Mailbox, raws: list[bytes], *, folder: str = "INBOX") -> None:
        conn = self.imap(box)
        try:
            for raw in raws:
                typ, data = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
                assert typ == "OK", data
        finally:
            conn.logout()

    def messages(self, box: Mailbox, folder: str = "INBOX") -> list[tuple[int, bytes, bytes]]:
        """(uid, flags, raw) of every mail in `folder`, read without changing anything."""
        conn = self.imap(box)
        try:
            typ, _ = conn.select(f'"{folder}"', readonly=True)
            assert typ == "OK"
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
            out = []
            for item in data:
                if isinstance(item, tuple):
                    head = item[0]
                    uid = int(head.split(b"UID ")[1].split()[0])
                    flags = head.split(b"FLAGS (")[1].split(b")")[0] if b"FLAGS (" in head else b""
                    out.append((uid, flags, item[1]))
            return out
        finally:
            conn.logout()

    def set_uidvalidity(self, box: Mailbox, value: int, folder: str = "INBOX") -> None:
        """Renumber the mailbox, as a server migration or restore does."""
        self.doveadm("mailbox", "update", "-u", box.user, "--uid-validity", str(value), folder)

    def kick(self, box: Mailbox) -> None:
        """Drop every connection of this user (a network cut, from the client's point of view)."""
        self.doveadm("kick", box.user)

    def doveadm(self, *args: str) -> str:
        done = subprocess.run(
            ["doveadm", "-c", str(self.conf), *args], check=True, timeout=30, capture_output=True, text=True
        )
        return done.stdout

    def client_tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


def available() -> bool:
    """Whether to run the Dovecot tests: always in CI (where a missing server must fail them,
    not skip them), elsewhere when Debian's `dovecot-imapd` is installed."""
    if os.environ.get("CI"):
        return True
    return shutil.which("dovecot") is not None or Path("/usr/sbin/dovecot").exists()
