"""A person's own data from their own chat: /mydata and /forget through the Telegram fake and the web chat,
with the daemon as a subprocess."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, message_update
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow

SEED = "seed words: abandon ability able about above absent 钱包助记词"


def telegram(fake: FakeTelegram) -> str:
    return (f'[channels.telegram.main]\ntoken = "{DEFAULT_TOKEN}"\nmode = "polling"\n'
            f'api_base_url = "{fake.url}"\npoll_timeout = 1\n')


def texts_to(fake: FakeTelegram, chat: int) -> list[str]:
    return [str(c.params.get("text", "")) for c in fake.calls_of("sendMessage")
            if str(c.params.get("chat_id")) == str(chat)]


async def test_telegram_user_gets_their_data_as_a_document_then_erases_themselves(tmp_path: Path) -> None:
    user = 777
    n = iter(range(1, 100))
    async with FakeTelegram() as fake, Daemon(tmp_path, telegram(fake)) as d:
        def say(text: str) -> None:
            fake.push_update(message_update(next(n), user_id=user, text=text))

        say(SEED)
        say("/mydata")
        await fake.wait_for(lambda: any("Reply YES" in t for t in texts_to(fake, user)), timeout=20)
        say("yes")
        await fake.wait_for(lambda: bool(fake.calls_of("sendDocument")), timeout=20)
        [call] = fake.calls_of("sendDocument")
        filename, _, blob = call.files["document"]
        assert filename is not None and filename.endswith(".zip")
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            data = json.loads(zf.read("data.json"))
        texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
        assert SEED in texts
        assert data["identities"][0]["external_id"] == str(user)
        # our copy of the document is gone once it was delivered
        att_dir = d.data_dir / "attachments"

        async def no_zip_left() -> bool:
            return not any(p.is_file() and p.read_bytes()[:2] == b"PK" for p in att_dir.rglob("*"))

        await d.wait_for(no_zip_left, timeout=10)

        # a cancelled erasure erases nothing
        say("/forget")
        await fake.wait_for(lambda: sum("cannot be undone" in t for t in texts_to(fake, user)) == 1, timeout=20)
        say("no thanks")
        await fake.wait_for(lambda: any("Cancelled" in t for t in texts_to(fake, user)), timeout=20)
        _, convs = await d.api("GET", "/api/v1/conversations?inbox=telegram.main&status=all")
        assert convs["items"]

        # in Chinese this time, confirmed
        say("/删除我的数据")
        await fake.wait_for(lambda: any("无法撤销" in t for t in texts_to(fake, user)), timeout=20)
        say("确认")
        await fake.wait_for(lambda: any("这是我们的最后一条消息" in t for t in texts_to(fake, user)), timeout=20)

        async def erased() -> bool:
            _, body = await d.api("GET", "/api/v1/conversations?inbox=telegram.main&status=all")
            return not body["items"]

        await d.wait_for(erased, timeout=20)
        _, trail = await d.api("GET", "/api/v1/audit?limit=200")
        mine = {e["action"]: e for e in trail["items"] if e["detail"].get("by") == "contact"}
        assert mine["contact_export"]["address"] == "telegram.main"
        assert mine["contact_forget"]["address"] == "telegram.main"
        assert mine["contact_forget"]["agent"] is None


async def _history_texts(v: Visitor) -> list[str]:
    return [m.get("text") or "" for m in await v.history()]


async def test_web_chat_visitor_downloads_their_data_by_link_then_deletes_the_conversation(
        tmp_path: Path) -> None:
    async with Daemon(tmp_path) as d:
        v = await Visitor(d).start()
        assert (await v.say(SEED))[0] == 201
        await v.say("/mydata")

        async def asked() -> Any:
            return any("Reply YES" in t for t in await _history_texts(v))

        await d.wait_for(asked, timeout=20)
        await v.say("YES")

        async def link() -> Any:
            return next((t.split()[t.split().index("file:") + 1] for t in await _history_texts(v)
                         if "/privacy/export/" in t), None)

        url = await d.wait_for(link, timeout=20)
        async with d.session.get(url) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
            blob = await resp.read()
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            data = json.loads(zf.read("data.json"))
        assert SEED in [m["text"] for c in data["conversations"] for m in c["messages"]]
        async with d.session.get(d.url + "/privacy/export/not-a-real-token-but-long-enough") as resp:
            assert resp.status == 404

        # "delete my conversation" sends /forget; the visitor confirms
        await v.say("/forget")

        async def asked_forget() -> Any:
            return any("cannot be undone" in t for t in await _history_texts(v))

        await d.wait_for(asked_forget, timeout=20)
        await v.say("yes")

        async def gone() -> bool:
            return not await v.history()

        await d.wait_for(gone, timeout=30)
        _, convs = await d.api("GET", "/api/v1/conversations?status=all")
        assert convs["items"] == []
        async with d.session.get(url) as resp:  # the old link opens nothing of an erased person
            assert resp.status == 404
        async with d.session.get(d.url + "/privacy?lang=zh") as resp:
            assert resp.status == 200 and "/forget" in await resp.text()


@pytest.mark.imap
async def test_email_with_subject_mydata_gets_the_export_as_an_attachment_after_confirming(tmp_path: Path) -> None:
    from tests.adapters import test_email_daemon as mail
    from tests.fakes.dovecot import available

    if not available():
        pytest.skip("needs Debian dovecot-imapd")
    async with mail.bridge(tmp_path) as (d, dovecot, box, smtp):
        dovecot.deliver(box, mail.customer_mail("<old@example.org>", "Card", SEED))
        dovecot.deliver(box, mail.customer_mail("<ask@example.org>", "mydata", "please"))

        def sent(words: str) -> Any:
            return next((r for r in smtp.received if words in (r.message.get_body(("plain",)) or r.message)
                         .get_content()), None)

        async def asked() -> Any:
            return sent("Reply YES")

        question = await d.wait_for(asked, timeout=20)
        dovecot.deliver(box, mail.customer_mail(
            "<yes@example.org>", f"Re: {question.message['Subject']}", "YES",
            extra=f"In-Reply-To: {question.message['Message-ID']}\r\n"))

        async def exported() -> Any:
            return sent("Here is everything we keep about you")

        answer = await d.wait_for(exported, timeout=30)
        [att] = [p for p in answer.message.iter_attachments()]
        assert att.get_filename().endswith(".zip")
        with zipfile.ZipFile(io.BytesIO(att.get_content())) as zf:
            data = json.loads(zf.read("data.json"))
        assert SEED in [m["text"] for c in data["conversations"] for m in c["messages"]]
        assert data["identities"][0]["external_id"] == "bob@example.org"
