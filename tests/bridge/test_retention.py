"""`[privacy] retain_days` with the daemon as a subprocess: an old resolved conversation and its file are
erased at start, a recent one stays, reports still count the erased one, and the run is logged."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow


async def _say_with_file(d: Daemon, v: Visitor, text: str, data: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("text", text)
    form.add_field("file", data, filename="statement.pdf", content_type="application/pdf")
    async with d.session.post(d.url + "/chat/api/messages", data=form,
                              headers={"Authorization": f"Bearer {v.token}"}) as resp:
        assert resp.status == 201, await resp.text()


async def test_resolved_conversations_past_retention_are_erased_with_their_files(tmp_path: Path) -> None:
    d = Daemon(tmp_path, extra_toml="[privacy]\nretain_days = 30\n")
    old_file = b"%PDF old bank statement " + bytes(range(256))
    async with d:
        old, recent = await Visitor(d).start(), await Visitor(d).start()
        await _say_with_file(d, old, "my old problem", old_file)
        await recent.say("my recent problem")
        _, page = await d.api("GET", "/api/v1/conversations")
        by_text = {c["last_message"]["text"]: c["id"] for c in page["items"]}
        old_id, recent_id = by_text["my old problem"], by_text["my recent problem"]
        for conv in (old_id, recent_id):
            status, _ = await d.api("POST", f"/api/v1/conversations/{conv}/status", {"status": "resolved"})
            assert status == 200
        files = [p for p in (d.data_dir / "attachments").rglob("*") if p.is_file()]
        assert len(files) == 1 and files[0].read_bytes() == old_file
    # forty days pass for the old one
    db = sqlite3.connect(d.data_dir / "tpbridge.db")
    with db:
        then = time.time() - 40 * 86400
        db.execute("UPDATE conversations SET resolved_at = ?, last_activity_at = ? WHERE id = ?",
                   (then, then, old_id))
    db.close()
    async with d:
        async def erased() -> bool:  # the run is over once it is on record (after the rows and the file went)
            status, _ = await d.api("GET", f"/api/v1/conversations/{old_id}")
            _, trail = await d.api("GET", "/api/v1/audit?action=retention_erase")
            return status == 404 and bool(trail["items"])

        await d.wait_for(erased, timeout=20)
        status, _ = await d.api("GET", f"/api/v1/conversations/{recent_id}")
        assert status == 200
        assert not files[0].exists()
        _, report = await d.api("GET", "/api/v1/reports?days=7")
        assert report["volumes"]["conversations"] == 2  # the erased one still counts, anonymously
        _, trail = await d.api("GET", "/api/v1/audit?action=retention_erase")
        assert trail["items"][0]["detail"]["conversations"] == 1
    assert '"retention.erased"' in d.logs() and '"conversations": 1' in d.logs()
