"""`tpbridge audit verify` against the daemon's own store: intact, then one row edited, then one deleted."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, Visitor


def _tamper(db: Path, sql: str) -> None:
    """What someone with the file could do: drop the append-only guard, then change history."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute(sql)
    conn.close()


@pytest.mark.slow
async def test_audit_verify_finds_the_edited_row_and_the_deleted_one(tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        v = await Visitor(d).start()
        await v.say("hello")
        _, page = await d.api("GET", "/api/v1/conversations")
        conv_id = page["items"][0]["id"]
        for _ in range(3):
            status, _ = await d.api("GET", f"/api/v1/conversations/{conv_id}/messages")
            assert status == 200
        _, trail = await d.api("GET", "/api/v1/audit?action=conversation_read")
        assert len(trail["items"]) == 3
        ok = d.cli("audit", "verify")
        assert ok.returncode == 0 and "intact" in ok.stdout
        db = d.data_dir / "tpbridge.db"
        # the store itself refuses to change history
        conn = sqlite3.connect(db)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET agent = 'nobody'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")
        conn.close()
        await d.stop()

    target = trail["items"][1]["id"]  # the middle read
    pristine = tmp_path / "pristine.db"
    shutil.copy(db, pristine)
    _tamper(db, f"UPDATE audit_log SET agent_id = NULL, agent = 'someone-else' WHERE id = {target}")
    edited = d.cli("audit", "verify", check=False)
    assert edited.returncode == 1
    assert f"broken at entry {target}:" in edited.stdout and "changed" in edited.stdout

    shutil.copy(pristine, db)
    _tamper(db, f"DELETE FROM audit_log WHERE id = {target}")
    deleted = d.cli("audit", "verify", check=False)
    assert deleted.returncode == 1
    assert f"broken at entry {target + 1}:" in deleted.stdout and "missing" in deleted.stdout

    shutil.copy(pristine, db)
    _tamper(db, "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")
    tail = d.cli("audit", "verify", check=False)
    assert tail.returncode == 1 and "missing" in tail.stdout
