"""The daemon (a subprocess) with `[attachments] backend = "s3"` on a real S3 API (moto's server):
files in from Telegram and the web chat land in the bucket and nowhere on disk, are downloaded
through the API, go out to Telegram from the bucket, and erasure deletes them. The bucket going away
acknowledges nothing it could not store: the web chat gets 503, the Telegram update stays
unconfirmed, and both arrive once it is back."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.s3 import FakeS3
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, message_update
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow


def document(file_id: str, name: str, data: bytes) -> dict[str, Any]:
    return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name,
            "mime_type": "application/pdf", "file_size": len(data)}


def key(sha: str) -> str:
    return f"tpb/{sha[:2]}/{sha}"


async def telegram_messages(d: Daemon) -> list[dict[str, Any]]:
    _, page = await d.api("GET", "/api/v1/conversations?inbox=telegram.main")
    found: list[dict[str, Any]] = []
    for conv in page["items"]:
        _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
        found += [{**m, "conversation": conv} for m in msgs["items"]]
    return found


async def upload(d: Daemon, v: Visitor, data: bytes) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("text", "my receipt")
    form.add_field("file", data, filename="receipt.png", content_type="image/png")
    async with d.session.post(d.url + "/chat/api/messages", data=form,
                              headers={"Authorization": f"Bearer {v.token}"}) as resp:
        return resp.status, await resp.json()


async def test_attachments_in_a_bucket_end_to_end(tmp_path: Path) -> None:
    statement = b"%PDF-1.4 bank statement 2026-11 " * 64
    later = b"%PDF-1.4 sent while the bucket was away " * 64
    reply = b"%PDF-1.4 refund confirmation " * 64
    chat_file = b"\x89PNG\r\n\x1a\n receipt " * 64
    async with FakeS3() as s3, FakeTelegram() as tg:
        tg.add_file("DOC1", statement, "documents/statement.pdf")
        tg.add_file("DOC2", later, "documents/later.pdf")
        tg.push_update(message_update(1, user_id=777, document=document("DOC1", "statement.pdf", statement)))
        channel = (f'[channels.telegram.main]\ntoken = "{DEFAULT_TOKEN}"\nmode = "polling"\n'
                   f'api_base_url = "{tg.url}"\npoll_timeout = 1\n')
        d = Daemon(tmp_path, channel, env=s3.env, extra_toml=s3.toml(prefix="tpb"))
        async with d:
            # in from Telegram: into the bucket, nothing on the local disk
            async def first() -> list[dict[str, Any]]:
                return await telegram_messages(d)

            [msg] = await d.wait_for(first, timeout=20)
            conv = msg["conversation"]
            assert s3.objects() == {key(hashlib.sha256(statement).hexdigest()): statement}
            assert [p for p in (d.data_dir / "attachments").rglob("*") if p.is_file()] == []
            # downloaded through the API, from the bucket
            att = msg["attachments"][0]
            async with d.session.get(d.url + att["url"], headers={"Authorization": f"Bearer {d.token}"}) as resp:
                assert resp.status == 200 and await resp.read() == statement
            # an agent's reply with a file: stored in the bucket, sent to Telegram from it
            form = aiohttp.FormData()
            form.add_field("text", "here is the confirmation")
            form.add_field("file", reply, filename="refund.pdf", content_type="application/pdf")
            async with d.session.post(f"{d.url}/api/v1/conversations/{conv['id']}/messages", data=form,
                                      headers={"Authorization": f"Bearer {d.token}"}) as resp:
                assert resp.status == 202, await resp.text()
                reply_id = (await resp.json())["id"]

            async def sent() -> bool:
                return any(m["id"] == reply_id and m["delivery"] == "sent" for m in await telegram_messages(d))

            await d.wait_for(sent, timeout=20)
            assert [data for _, data in tg.files.values() if data == reply] == [reply]  # sendDocument's upload
            assert key(hashlib.sha256(reply).hexdigest()) in s3.objects()

            # the bucket goes away: nothing is acknowledged that could not be stored
            s3.stop()
            v = await Visitor(d).start()
            status, body = await upload(d, v, chat_file)
            assert status == 503 and body["error"]["code"] == "store_unavailable"
            assert [p for p in (d.data_dir / "attachments").rglob("*") if p.is_file()] == []  # no spool left
            update = tg.push_update(message_update(2, user_id=777, document=document("DOC2", "later.pdf", later)))

            async def telegram_down() -> bool:
                async with d.session.get(d.url + "/healthz") as resp:
                    state = (await resp.json())["channels"]["telegram.main"]
                return "attachment store" in (state.get("reason") or "")

            await d.wait_for(telegram_down, timeout=20)
            assert tg.confirmed_offset <= update["update_id"]  # not confirmed: Telegram keeps it
            assert '"adapter.store_unavailable"' in d.logs() and '"adapter.crashed"' not in d.logs()  # no traceback
            assert len(await telegram_messages(d)) == 2
            # ... and comes back: both arrive, once
            s3.start()
            status, body = await upload(d, v, chat_file)
            assert status == 201, body

            async def three() -> list[dict[str, Any]]:
                msgs = await telegram_messages(d)
                return msgs if len(msgs) == 3 else []

            msgs = await d.wait_for(three, timeout=40)
            assert [m["attachments"][0]["size"] for m in msgs if m["direction"] == "in"] == [len(statement), len(later)]
            assert len(s3.objects()) == 4

            # erasure deletes the person's objects (and only theirs)
            d.cli("contact", "forget", str(conv["contact"]["id"]))
            assert s3.objects() == {key(hashlib.sha256(chat_file).hexdigest()): chat_file}
    assert f'"attachments": "s3://{s3.bucket}/tpb"' in d.logs()  # where, at start; the credentials never
    assert '"attachments.reachable"' in d.logs()
    assert "tpbridge-test-secret" not in d.logs()
