"""An agent's reply with a file: stored content-addressed, refused early when too big, written off the loop."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import aiohttp
from tpbridge.bridge.attachments.folder import AttachmentFolder
from tpbridge.bridge.model import Role
from tpbridge.bridge.store.protocol import StoredAttachment

from tests.web.support import web_app

LIMIT = 64 * 1024


class ThreadNotingFiles(AttachmentFolder):
    """The real file store, noting which thread each write ran on."""

    threads: list[int]

    def put_sync(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        self.threads.append(threading.get_ident())
        return super().put_sync(data, kind=kind, mime=mime, filename=filename)

    def adopt_sync(self, path: Path, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        self.threads.append(threading.get_ident())  # a spooled upload moved in: hashed here
        return super().adopt_sync(path, kind=kind, mime=mime, filename=filename)


def reply_form(data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("text", "the signed contract")
    form.add_field("file", data, filename="contract.pdf", content_type="application/pdf")
    return form


async def test_upload_is_stored_by_its_hash_from_a_worker_thread_and_a_big_one_gets_413(tmp_path: Path) -> None:
    raw = {"channels": {"webchat": {"site": {}}}, "http": {"max_attachment_bytes": LIMIT}}
    async with web_app(tmp_path, raw) as w:
        files = ThreadNotingFiles(w.core.config.data_dir)
        files.threads = []
        w.core.files = files
        await w.agent("ann@example.com", "Ann", Role.ADMIN)
        conv = await w.say("m1", "visitor-1", "please send the contract")
        auth = {"Authorization": f"Bearer {w.tokens['ann@example.com']}"}

        data = bytes(range(256)) * 200  # 51,200 bytes: under the limit
        resp = await w.client.post(f"/api/v1/conversations/{conv.id}/messages", data=reply_form(data), headers=auth)
        assert resp.status == 202, await resp.text()
        digest = hashlib.sha256(data).hexdigest()
        assert files.path(digest).read_bytes() == data
        assert files.threads and threading.get_ident() not in files.threads  # never on the event loop's thread

        resp = await w.client.post(f"/api/v1/conversations/{conv.id}/messages",
                                   data=reply_form(b"x" * (LIMIT + 1)), headers=auth)
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "too_large"
        assert len(files.threads) == 1  # refused before anything was hashed or written
        _, msgs = await w.api("GET", f"/api/v1/conversations/{conv.id}/messages", "ann@example.com")
        assert [m["text"] for m in msgs["items"] if m["direction"] == "out"] == ["the signed contract"]


async def test_uploads_cut_short_by_a_crash_are_cleared_at_start(tmp_path: Path) -> None:
    """The spool is the one place an uploaded file sits in clear (before it is sealed into the store):
    what a crash left there is removed when the daemon starts again."""
    from tests.support.daemon import Daemon

    d = Daemon(tmp_path)
    spool = d.data_dir / "attachments" / "incoming"
    spool.mkdir(parents=True)
    leftover = spool / "up-0123456789abcdef01234567"
    leftover.write_bytes(b"half of a passport scan")
    async with d:
        assert not leftover.exists()
        assert "uploads.spool_cleared" in d.logs()
