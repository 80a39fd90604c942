"""Encryption at rest with the daemon as a subprocess: nothing readable on disk, keys checked at start,
turning it on migrates, rotation survives kill -9."""

from __future__ import annotations

import asyncio
import base64
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram, message_update
from tests.support.daemon import Daemon, Visitor

pytestmark = pytest.mark.slow

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.urlsafe_b64encode(bytes(range(100, 132))).decode().rstrip("=")
ENCRYPTED = '[store]\nencryption_key = "env:TPB_DATA_KEY"\n'


def _config(d: Daemon, store_toml: str) -> None:
    """Put the [store] keys into the daemon's config (its [store] table holds the url)."""
    text = d.config_path.read_text()
    head, _, rest = text.partition("[store]\n")
    url_line, _, tail = rest.partition("\n")
    extra = store_toml.removeprefix("[store]\n")
    d.config_path.write_text(f"{head}[store]\n{url_line}\n{extra}{tail}")


def _leaks(paths: list[Path], secrets: list[str]) -> list[str]:
    found = []
    for path in paths:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path] if path.exists() else []
        for f in files:
            data = f.read_bytes()
            found += [f"{s!r} in {f}" for s in secrets if s.encode() in data]
    return found


async def _upload(d: Daemon, v: Visitor, text: str, data: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("text", text)
    form.add_field("file", data, filename="notes.txt", content_type="text/plain")
    async with d.session.post(d.url + "/chat/api/messages", data=form,
                              headers={"Authorization": f"Bearer {v.token}"}) as resp:
        assert resp.status == 201, await resp.text()


async def test_a_unique_string_sent_through_each_channel_is_not_on_disk(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    secrets = {"webchat": f"webchat-secret-{tag}", "telegram": f"telegram-secret-{tag}",
               "zh": f"助记词钱包私钥{tag}", "file": f"file-secret-{tag}", "name": f"Zed{tag}"}
    async with FakeTelegram() as fake:
        tg = (f'[channels.telegram.main]\ntoken = "{DEFAULT_TOKEN}"\nmode = "polling"\n'
              f'api_base_url = "{fake.url}"\npoll_timeout = 1\n')
        d = Daemon(tmp_path, tg, env={"TPB_DATA_KEY": KEY_A})
        _config(d, ENCRYPTED)
        async with d:
            v = await Visitor(d).start()
            assert (await v.say(secrets["webchat"] + " " + secrets["zh"], name=secrets["name"]))[0] == 201
            await _upload(d, v, "see file", secrets["file"].encode() * 3)
            update = message_update(1, user_id=991, text=secrets["telegram"] + " " + secrets["zh"])
            update["message"]["from"]["first_name"] = secrets["name"]
            fake.push_update(update)

            async def both() -> bool:
                _, page = await d.api("GET", "/api/v1/conversations?q=" + secrets["zh"][:4])
                return len(page["items"]) == 2

            await d.wait_for(both, timeout=20)  # search still works: keyed hashes of the bigrams
            _, page = await d.api("GET", "/api/v1/conversations")
            texts = {c["channel"]: c["last_message"]["text"] for c in page["items"]}
            assert texts["telegram"].startswith(secrets["telegram"])
            names = {c["contact"]["name"] for c in page["items"]}
            assert secrets["name"] in names
            conv = next(c for c in page["items"] if c["channel"] == "webchat")
            _, msgs = await d.api("GET", f"/api/v1/conversations/{conv['id']}/messages")
            att = msgs["items"][-1]["attachments"][0]
            async with d.session.get(d.url + att["url"], headers={"Authorization": f"Bearer {d.token}"}) as resp:
                assert await resp.read() == secrets["file"].encode() * 3
            await d.api("POST", f"/api/v1/conversations/{conv['id']}/messages", {"text": f"agent-secret-{tag}"})
            secrets["agent"] = f"agent-secret-{tag}"
            wal = d.data_dir / "tpbridge.db-wal"
            wal_copy = tmp_path / "wal-copy"
            if wal.exists():
                shutil.copy(wal, wal_copy)
            backup = tmp_path / "backup.db"
            d.cli("backup", str(backup))
    leaks = _leaks([d.data_dir, wal_copy, backup], list(secrets.values()))
    assert leaks == []
    assert (d.data_dir / "attachments").exists() and any((d.data_dir / "attachments").rglob("*"))


def _run(d: Daemon, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpbridge.bridge", "-c", str(d.config_path), *args],
                          capture_output=True, text=True, env={**d.env, **env}, timeout=60)


async def test_turning_encryption_on_migrates_and_a_wrong_or_missing_key_stops_the_start(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:12]
    secret = f"plain-before-{tag}"
    d = Daemon(tmp_path)
    async with d:
        v = await Visitor(d).start()
        await v.say(secret + " 提现问题")
        await _upload(d, v, "file", secret.encode())
    assert _leaks([d.data_dir], [secret])  # plaintext before
    _config(d, ENCRYPTED)
    d.env["TPB_DATA_KEY"] = KEY_A
    async with d:
        await d.wait_for(lambda: _async_true('"store.rekeyed"' in d.logs()), timeout=30)
        _, page = await d.api("GET", "/api/v1/conversations?q=提现")
        assert len(page["items"]) == 1
        _, msgs = await d.api("GET", f"/api/v1/conversations/{page['items'][0]['id']}/messages")
        assert msgs["items"][0]["text"].startswith(secret)
    assert _leaks([d.data_dir], [secret, "提现问题"]) == []
    wrong = _run(d, "run", env={"TPB_DATA_KEY": KEY_B})
    assert wrong.returncode == 2
    assert wrong.stderr.strip().count("\n") == 0 and "store.encryption_key: wrong key" in wrong.stderr
    _config(d, "[store]\n")
    d.config_path.write_text(d.config_path.read_text().replace('encryption_key = "env:TPB_DATA_KEY"\n', ""))
    missing = _run(d, "run", env={})
    assert missing.returncode == 2 and "store.encryption_key: this store is encrypted" in missing.stderr


async def _async_true(value: bool) -> bool:
    return value


async def test_key_rotation_killed_midway_resumes_and_leaves_nothing_under_the_old_key(tmp_path: Path) -> None:
    d = Daemon(tmp_path, env={"TPB_DATA_KEY": KEY_A})
    _config(d, ENCRYPTED)
    async with d:
        visitors = [await Visitor(d).start() for _ in range(20)]
        for i in range(30):
            await asyncio.gather(*(v.say(f"message {i} from visitor {n}") for n, v in enumerate(visitors)))
    old_kid = _kid(KEY_A)
    assert f"enc1:{old_kid}:".encode() in _db_bytes(d.data_dir / "tpbridge.db")  # file or WAL: checkpoints lag
    d.config_path.write_text(d.config_path.read_text().replace(
        'encryption_key = "env:TPB_DATA_KEY"\n',
        'encryption_key = "env:TPB_NEW_KEY"\nold_encryption_keys = ["env:TPB_DATA_KEY"]\n'))
    env = {**d.env, "TPB_NEW_KEY": KEY_B}
    first, again = await asyncio.to_thread(_rotate_killed_then_again, d.config_path, env)
    assert first.startswith("messages: ")
    assert again.returncode == 0, again.stderr
    resumed = again.stderr.splitlines()[0]
    assert resumed.startswith("messages: ") and int(resumed.split()[1].split("/")[0]) > 20  # not from the start
    assert "re-encrypted under the current key" in again.stderr
    assert f"enc1:{old_kid}:".encode() not in _db_bytes(d.data_dir / "tpbridge.db")
    # the old key is no longer needed
    d.config_path.write_text(d.config_path.read_text().replace('old_encryption_keys = ["env:TPB_DATA_KEY"]\n', ""))
    d.env["TPB_NEW_KEY"] = KEY_B
    async with d:
        _, page = await d.api("GET", "/api/v1/conversations?limit=200")
        assert len(page["items"]) == 20
        _, msgs = await d.api("GET", f"/api/v1/conversations/{page['items'][0]['id']}/messages")
        assert msgs["items"][0]["text"].startswith("message 0 from visitor")


def _rotate_killed_then_again(config: Path, env: dict[str, str]) -> tuple[str, subprocess.CompletedProcess[str]]:
    """`key rotate` killed with SIGKILL after its first step (old values are left), then run again."""
    args = [sys.executable, "-m", "tpbridge.bridge", "-c", str(config), "key", "rotate", "--batch", "20"]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    db = config.parent / "data" / "tpbridge.db"
    assert f"enc1:{_kid(KEY_A)}:".encode() in _db_bytes(db)  # midway: values under the old key are left
    return first, subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def _db_bytes(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _kid(key: str) -> str:
    from tpbridge.bridge.crypto import key_id, parse_key

    return key_id(parse_key(key))


async def test_a_unique_string_through_wechat_and_x_is_not_on_disk(tmp_path: Path) -> None:
    from tests.adapters import test_wechat_daemon as wechat
    from tests.adapters import test_x_daemon as x
    from tests.fakes.wechat_api import FakeWechatApi, WechatPusher
    from tests.fakes.x_api import FakeXApi

    tag = uuid.uuid4().hex[:12]
    secrets = [f"wechat-secret-{tag}", f"微信私钥{tag}", f"x-secret-{tag}", f"推特助记词{tag}"]
    alice = f"16{uuid.uuid4().int % 10**17:017d}"  # an X user id long enough to search the disk for
    async with FakeWechatApi() as wfake, FakeXApi(consumer_secret=x.SECRET) as xfake:
        xfake.add_user(alice, "alice", "Alice")
        channels = (f'[channels.wechat.official]\napp_id = "{wfake.app_id}"\napp_secret = "env:TPB_WECHAT_SECRET"\n'
                    'token = "env:TPB_WECHAT_TOKEN"\nencoding_aes_key = "env:TPB_WECHAT_AES_KEY"\n'
                    f'api_base_url = "{wfake.url}"\n\n' + x.channel_toml(xfake))
        env = {"TPB_WECHAT_SECRET": wfake.app_secret, "TPB_WECHAT_TOKEN": wechat.TOKEN,
               "TPB_WECHAT_AES_KEY": wechat.AES_KEY, "TPB_TEST_X_SECRET": x.SECRET, "TPB_DATA_KEY": KEY_A}
        d = Daemon(tmp_path, channels, env=env)
        _config(d, ENCRYPTED)
        async with d:
            await d.wait_for(lambda: wechat.connected(d))
            await d.wait_for(lambda: x.connected(d))
            pusher = WechatPusher(wechat.TOKEN, wfake.app_id, wechat.AES_KEY)
            status, _ = await wechat.push(d, pusher, wechat.text_xml(f"{secrets[0]} {secrets[1]}", 9001))
            assert status == 200
            assert await x.deliver(d, xfake.activity_dm(alice, f"{secrets[2]} {secrets[3]}")) == 200

            async def both() -> bool:
                _, page = await d.api("GET", "/api/v1/conversations")
                return {c["channel"] for c in page["items"]} >= {"wechat", "x"}

            await d.wait_for(both, timeout=20)
            _, page = await d.api("GET", "/api/v1/conversations")
            assert {c["last_message"]["text"] for c in page["items"]} == {f"{secrets[0]} {secrets[1]}",
                                                                          f"{secrets[2]} {secrets[3]}"}
            wal_copy = tmp_path / "wal-copy"
            if (d.data_dir / "tpbridge.db-wal").exists():
                shutil.copy(d.data_dir / "tpbridge.db-wal", wal_copy)
            backup = tmp_path / "backup.db"
            d.cli("backup", str(backup))
    # The channel's ids of the person are sealed too (their keyed hashes are the lookup keys), the X
    # conversation's thread key (dm:<user id>) included.
    ids = [wechat.OPENID, alice]
    assert _leaks([d.data_dir, wal_copy, backup], secrets + ids) == []


@pytest.mark.imap
async def test_a_unique_string_by_email_and_in_quarantined_mail_is_not_on_disk(tmp_path: Path) -> None:
    from tests.adapters import test_email_daemon as mail
    from tests.fakes.dovecot import Dovecot, available
    from tests.fakes.smtp_sink import SmtpSink

    if not available():
        pytest.skip("needs Debian dovecot-imapd")
    tag = uuid.uuid4().hex[:12]
    sender = f"carol.{tag}@example.org"
    secrets = [f"email-secret-{tag}", f"邮件助记词{tag}", f"quarantined-secret-{tag}", sender, f"Carol{tag}"]
    dovecot = Dovecot.shared()
    box = dovecot.new_mailbox()
    smtp = SmtpSink(mode="none")
    channels = (f'[channels.email.support]\nimap_host = "127.0.0.1"\nimap_port = {dovecot.imap_port}\n'
                f'imap_tls = "starttls"\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\nsmtp_tls = "none"\n'
                f'username = "{box.user}"\npassword = "env:TPB_EMAIL_PASSWORD"\n'
                f'from_address = "Example Support <{box.user}>"\nsent_folder = "Sent"\n'
                f'tls_ca_file = "{dovecot.ca_file}"\n')
    try:
        d = Daemon(tmp_path, channels, env={"TPB_EMAIL_PASSWORD": box.password, "TPB_DATA_KEY": KEY_A})
        _config(d, ENCRYPTED)
        async with d:
            await d.wait_for(lambda: mail.connected(d), timeout=15)
            body = f"{secrets[0]} {secrets[1]}"
            dovecot.deliver(box, mail.customer_mail(f"<{tag}@example.org>", "Lost wallet", body, sender=sender)
                            .replace(b"From: Bob Customer", f"From: {secrets[4]}".encode()))
            dovecot.deliver(box, f"Subject: nobody sent this\r\n\r\n{secrets[2]}\r\n".encode())

            async def stored() -> bool:
                _, page = await d.api("GET", "/api/v1/conversations?inbox=email.support")
                _, q = await d.api("GET", "/api/v1/quarantine")
                return bool(page["items"]) and bool(q["items"])

            await d.wait_for(stored, timeout=20)
            _, page = await d.api("GET", "/api/v1/conversations?inbox=email.support")
            contact = page["items"][0]["contact"]
            assert contact["identities"][0]["external_id"] == sender and contact["name"] == secrets[4]
            assert any((d.data_dir / "quarantine").rglob("*"))
            backup = tmp_path / "backup.db"
            d.cli("backup", str(backup))
    finally:
        smtp.stop()
    assert _leaks([d.data_dir, backup], secrets) == []
