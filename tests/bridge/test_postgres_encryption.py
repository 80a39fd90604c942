"""Encryption at rest on PostgreSQL: the same codec and guarantees as the SQLite store (test_encryption.py).

The rows are read with psycopg directly, every table, every column: a message's text (ASCII and
Chinese), the sender's name, e-mail address and channel id are in none of them, while the store
returns them, search finds them and dedupe still works; turning encryption on migrates a store,
rotation re-seals everything under the new key, and a missing or wrong key stops the open.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tpbridge.adapters.base import Inbound, Sender
from tpbridge.bridge.crypto import KeyProblem, key_id, parse_key
from tpbridge.bridge.model import Author, AuthorKind
from tpbridge.bridge.store.protocol import ConversationFilter, Store

from tests.fakes.postgres import Postgres
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, message_update
from tests.support.core import ADMIN, inbound, running_core
from tests.support.daemon import Daemon, Visitor

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()


def _keys(key: str | None, *old: str) -> dict[str, Any]:
    return {"store": {"encryption_key": key, "old_encryption_keys": list(old)}} if key else {}


def _rows(url: str) -> str:
    """Every row of every table, as PostgreSQL prints it."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
        return "\n".join(str(r[0]) for t in tables for r in conn.execute(f"SELECT t::text FROM {t} t"))


async def _write(store: Store, core: Any, tag: str) -> tuple[int, dict[str, str]]:
    secrets = {"text": f"seed-phrase-{tag}", "zh": f"助记词钱包{tag}", "name": f"Zed{tag}",
               "email": f"zed{tag}@example.com", "id": f"visitor-{tag}", "agent": f"agent-answer-{tag}"}
    rec = Inbound(inbox="webchat.site", external_id=f"msg-{tag}",
                  sender=Sender(secrets["id"], name=secrets["name"], email=secrets["email"]),
                  text=f"{secrets['text']} {secrets['zh']}", sent_at=inbound("x").sent_at)
    items = await core.pipeline.ingest("webchat.site", "webchat", [rec])
    conv = items[0].conversation
    await core.desk.reply(conv.id, secrets["agent"], author=Author(AuthorKind.AGENT, None, "Ann"))
    assert (await core.pipeline.ingest("webchat.site", "webchat", [rec]))[0].message_id is None  # dedupe holds
    secrets["profile"] = f"profile-{tag}"  # what a web chat app said about the visitor (kv)
    await store.kv_set(f"webchat.site:profile:{secrets['id']}", secrets["profile"], None)
    return conv.id, secrets


async def _found(store: Store, query: str) -> list[int]:
    page = await store.list_conversations(ADMIN, ConversationFilter(q=query), 10, None)
    return [c.id for c in page.items]


async def test_nothing_personal_is_readable_in_the_database_and_everything_works(
    tmp_path: Path, postgres: Postgres
) -> None:
    url, tag = postgres.new_database(), uuid.uuid4().hex[:10]
    async with running_core(tmp_path, _keys(KEY_A), url=url) as core:
        store = core.store
        conv_id, secrets = await _write(store, core, tag)
        msgs = await store.list_messages(conv_id)
        assert [m.text for m in msgs] == [f"{secrets['text']} {secrets['zh']}", secrets["agent"]]
        contact = await store.get_contact((await store.get_conversation(conv_id)).contact_id)  # type: ignore[union-attr]
        assert contact is not None and contact.name == secrets["name"] and contact.email == secrets["email"]
        assert contact.identities[0].external_id == secrets["id"]
        page, people, _ = await store.conversation_page(ADMIN, ConversationFilter(), 10, None)  # the list's own read
        assert people == {contact.id: contact}
        # its rows read by position, in the binary format: opened as the conversation read alone (last text too)
        assert page.items == [await store.get_conversation(conv_id)] == (
            await store.list_conversations(ADMIN, ConversationFilter(), 10, None)).items
        assert page.items[0].last_message_text == secrets["agent"]
        assert await store.known("webchat.site", [f"msg-{tag}", "other"]) == {f"msg-{tag}"}
        assert await store.kv_get(f"webchat.site:profile:{secrets['id']}") == secrets["profile"]
        for query in (secrets["text"], "助记", "钱包", secrets["agent"]):  # words and CJK bigrams
            assert await _found(store, query) == [conv_id], query
        assert await _found(store, "nothing-like-it") == []
        history = await store.identity_messages("webchat.site", secrets["id"], 10)
        assert history[0].text.startswith(secrets["text"])
        await store.send_slot(f"telegram.main:chat:{secrets['id']}", 1.0, 1.0)  # a send window names a chat
        await store.pause_sends(f"telegram.main:chat:{secrets['id']}", 1.0)
        dump = _rows(url)
    assert [s for s in secrets.values() if s in dump] == []
    assert "助记" not in dump and f"enc1:{key_id(parse_key(KEY_A))}:" in dump


async def test_encryption_turned_on_migrates_and_rotation_reseals_under_the_new_key(
    tmp_path: Path, postgres: Postgres
) -> None:
    url, tag = postgres.new_database(), uuid.uuid4().hex[:10]
    async with running_core(tmp_path / "plain", url=url) as core:
        conv_id, secrets = await _write(core.store, core, tag)
    assert secrets["text"] in _rows(url)
    async with running_core(tmp_path / "on", _keys(KEY_A), url=url) as core:
        profile = f"webchat.site:profile:{secrets['id']}"
        assert await core.store.kv_get(profile) == secrets["profile"]  # readable before the pass converts it
        await _reseal(core.store)
        assert await core.store.kv_get(profile) == secrets["profile"]
        assert await _found(core.store, "钱包") == [conv_id]
        assert (await core.store.list_messages(conv_id))[0].text.startswith(secrets["text"])
    dump = _rows(url)
    assert [s for s in secrets.values() if s in dump] == []
    old = f"enc1:{key_id(parse_key(KEY_A))}:"
    assert old in dump
    config = tmp_path / "tpbridge.toml"
    config.write_text(f'[bridge]\ndata_dir = "{tmp_path / "data"}"\n[store]\nurl = "{url}"\n'
                      'encryption_key = "env:TPB_NEW_KEY"\nold_encryption_keys = ["env:TPB_DATA_KEY"]\n')
    rotate = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tpbridge.bridge", "-c", str(config), "key", "rotate", "--batch", "2"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "TPB_NEW_KEY": KEY_B, "TPB_DATA_KEY": KEY_A})
    assert rotate.returncode == 0 and "re-encrypted under the current key" in rotate.stderr, rotate.stderr
    assert "messages: " in rotate.stderr
    assert old not in _rows(url)
    async with running_core(tmp_path / "after", _keys(KEY_B), url=url) as core:  # the old key is not needed
        assert await _found(core.store, "钱包") == [conv_id]
        contact = await core.store.get_contact((await core.store.get_conversation(conv_id)).contact_id)  # type: ignore[union-attr]
        assert contact is not None and contact.name == secrets["name"]
        assert await core.store.kv_get(profile) == secrets["profile"]
    with pytest.raises(KeyProblem, match="wrong key"):
        async with running_core(tmp_path / "wrong", _keys(KEY_A), url=url):
            pass
    with pytest.raises(KeyProblem, match="this store is encrypted"):
        async with running_core(tmp_path / "none", url=url):
            pass


async def _reseal(store: Store) -> None:
    while (await store.reseal_step(2)).table is not None:  # small steps: the cursor moves across batches
        pass
    await store.reseal_finish()
    assert not await store.reseal_pending()


@pytest.mark.slow
async def test_the_daemon_on_an_encrypted_postgresql_store(tmp_path: Path, postgres: Postgres) -> None:
    """The web chat and Telegram (a reply paced through the shared send windows) through the daemon."""
    url, tag = postgres.new_database(), uuid.uuid4().hex[:10]
    chat = 7_300_000_000 + int(tag[:6], 16)  # a Telegram chat id no other number in the rows is
    secret = f"daemon-secret-{tag} 提现到账{tag}"
    async with FakeTelegram() as fake:
        tg = (f'[channels.telegram.main]\ntoken = "{DEFAULT_TOKEN}"\nmode = "polling"\n'
              f'api_base_url = "{fake.url}"\npoll_timeout = 1\n')
        d = Daemon(tmp_path, tg, env={"TPB_DATA_KEY": KEY_A}, store_url=url)
        d.config_path.write_text(d.config_path.read_text().replace(
            f'url = "{url}"\n', f'url = "{url}"\nencryption_key = "env:TPB_DATA_KEY"\n'))
        async with d:
            visitor = await Visitor(d).start()
            assert (await visitor.say(secret, name=f"Name{tag}"))[0] == 201
            update = message_update(1, user_id=chat, text=f"telegram-{tag} 提现")
            update["message"]["from"]["first_name"] = update["message"]["chat"]["first_name"] = f"Tg{tag}"
            fake.push_update(update)

            async def both() -> list[dict[str, Any]] | None:
                _, page = await d.api("GET", "/api/v1/conversations?q=" + "提现")
                return page["items"] if len(page["items"]) == 2 else None

            found = {c["channel"]: c for c in await d.wait_for(both, timeout=20)}
            assert found["webchat"]["last_message"]["text"] == secret
            assert found["webchat"]["contact"]["name"] == f"Name{tag}"
            assert found["telegram"]["contact"]["name"] == f"Tg{tag}"
            await d.api("POST", f"/api/v1/conversations/{found['telegram']['id']}/messages",
                        {"text": f"agent-{tag}"})
            await fake.wait_for(lambda: any(m["text"] == f"agent-{tag}" for m in fake.sent))
            assert fake.sent[-1]["chat"]["id"] == chat
        dump = _rows(url)
    assert tag not in dump and str(chat) not in dump
    wrong = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "tpbridge.bridge", "-c",
                                                     str(d.config_path), "run"],
                                    capture_output=True, text=True, timeout=60, env={**d.env, "TPB_DATA_KEY": KEY_B})
    assert wrong.returncode == 2 and "store.encryption_key: wrong key" in wrong.stderr
    assert wrong.stderr.strip().count("\n") == 0


async def test_the_key_value_table_is_sealed_on_both_stores(tmp_path: Path, store_url: str) -> None:
    """What adapters keep in kv (a web chat app's visitor profile names the person, in its key and value)."""
    tag = uuid.uuid4().hex[:10]
    key, value = f"webchat.site:profile:visitor-{tag}", f'{{"name": "Zed{tag}"}}'
    async with running_core(tmp_path, _keys(KEY_A), url=store_url) as core:
        await core.store.kv_set(key, value, None)
        assert await core.store.kv_get(key) == value
    if store_url.startswith("sqlite"):
        db = tmp_path / "data" / "tpbridge.db"
        wal = db.with_name(db.name + "-wal")
        raw = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert tag.encode() not in raw
    else:
        assert tag not in _rows(store_url)
