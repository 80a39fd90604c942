"""The `tpbridge` command next to a running daemon: tokens, export, forget, backup."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow


async def test_commands_work_while_the_daemon_runs(tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        token = d.cli("token", "create", "admin@example.com").stdout
        assert token.startswith("tpb_") and token.count("\n") == 1  # the token alone on stdout
        stored = sqlite3.connect(d.data_dir / "tpbridge.db").execute("SELECT token_hash FROM tokens").fetchall()
        assert token.strip() not in {h for (h,) in stored}  # only hashes are stored
        status, me = await d.api("GET", "/api/v1/me", token=token.strip())
        assert status == 200 and me["email"] == "admin@example.com"

        v = await Visitor(d).start()
        await v.say("my email is li@example.com", name="Li")
        _, page = await d.api("GET", "/api/v1/conversations")
        contact_id = page["items"][0]["contact"]["id"]
        exported = json.loads(d.cli("contact", "export", str(contact_id)).stdout)
        assert exported["contact"]["name"] == "Li"
        assert exported["conversations"][0]["messages"][0]["text"] == "my email is li@example.com"

        backup = tmp_path / "backup.db"
        d.cli("backup", str(backup))
        assert sqlite3.connect(backup).execute("SELECT count(*) FROM messages").fetchone()[0] == 1

        d.cli("contact", "forget", str(contact_id))
        status, _ = await d.api("GET", f"/api/v1/contacts/{contact_id}")
        assert status == 404
        _, page = await d.api("GET", "/api/v1/conversations?status=all")
        assert page["items"] == []

        missing = d.cli("contact", "export", "9999", check=False)
        assert missing.returncode == 1 and missing.stderr.strip() == "tpbridge: no contact 9999"
        dup = d.cli("agent", "add", "admin@example.com", "--name", "X", input="password123\n", check=False)
        assert dup.returncode == 1 and "already exists" in dup.stderr
