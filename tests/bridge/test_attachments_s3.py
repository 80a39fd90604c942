"""The S3-compatible attachment store against a real S3 API (moto's server on 127.0.0.1): the same
contract as the folder — content-addressed, idempotent, sealed when encrypted — and a clear
`StoreUnavailable` when the server is gone."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from tpbridge.bridge.attachments import AttachmentMissing, AttachmentStoreUnavailable, open_attachments
from tpbridge.bridge.attachments.folder import AttachmentFolder
from tpbridge.bridge.attachments.s3 import ObjectStore
from tpbridge.bridge.config import AttachmentsSection, ConfigError, parse
from tpbridge.bridge.crypto import FILE_MAGIC, Codec
from tpbridge.bridge.store.protocol import StoreUnavailable

from tests.fakes.s3 import FakeS3
from tests.support.daemon import free_port


def codec(key: bytes = bytes(range(32))) -> Codec:
    c = Codec(key)
    c.set_index_key(b"i" * 32)
    return c


def store(s3: FakeS3, prefix: str = "", c: Codec | None = None) -> ObjectStore:
    files = open_attachments(AttachmentsSection.model_validate(s3.settings(prefix)), Path("/nonexistent"), c)
    assert isinstance(files, ObjectStore)
    return files


async def test_round_trip_idempotent_puts_adopt_and_remove(tmp_path: Path) -> None:
    async with FakeS3() as s3:
        files = store(s3, prefix="tpb/")
        data = "发票 invoice".encode() * 100
        sha = hashlib.sha256(data).hexdigest()
        first = await files.put(data, kind="file", mime="application/pdf", filename="a.pdf")
        again = await files.put(data, kind="file", mime="application/pdf", filename="b.pdf")
        assert first.sha256 == again.sha256 == sha and first.size == len(data)
        assert s3.objects() == {f"tpb/{sha[:2]}/{sha}": data}  # one object, the folder's layout under the prefix
        assert await files.read(sha) == data
        assert await files.exists(sha)
        assert files.source(sha).read_bytes() == data  # what an adapter reads, from a thread

        spooled = tmp_path / "up-1"
        spooled.write_bytes(b"a spooled upload")
        adopted = await files.adopt(spooled, kind="file", mime="text/plain", filename="u.txt")
        assert not spooled.exists()
        assert await files.read(adopted.sha256) == b"a spooled upload"

        await files.remove(sha)
        await files.remove(sha)  # nothing there: not an error
        assert not await files.exists(sha)
        with pytest.raises(AttachmentMissing):
            await files.read(sha)
        assert list(s3.objects()) == [f"tpb/{adopted.sha256[:2]}/{adopted.sha256}"]


async def test_encrypted_objects_are_sealed_under_keyed_names_and_resealed_on_rotation(tmp_path: Path) -> None:
    secret = "身份证 passport scan 0042".encode()
    async with FakeS3() as s3:
        before = store(s3)  # a plaintext object from before encryption was turned on
        await before.put(secret, kind="file", mime="image/png", filename=None)
        old = codec()
        files = store(s3, c=old)
        spooled = tmp_path / "up-2"
        spooled.write_bytes(secret + b" (uploaded)")
        await files.adopt(spooled, kind="file", mime="text/plain", filename=None)
        assert await files.reseal_all() == 1  # the plaintext one took its keyed name, sealed
        objects = s3.objects()
        assert len(objects) == 2
        for key, body in objects.items():
            assert body.startswith(FILE_MAGIC + old.key_id.encode())
            assert b"passport" not in body and hashlib.sha256(secret).hexdigest() not in key
        sha = hashlib.sha256(secret).hexdigest()
        assert await files.read(sha) == secret

        new = Codec(bytes(range(100, 132)), [bytes(range(32))])  # rotation: the old key still opens
        new.set_index_key(b"i" * 32)
        rotated = store(s3, c=new)
        assert await rotated.reseal_all() == 2
        assert await rotated.reseal_all() == 0
        assert all(b.startswith(FILE_MAGIC + new.key_id.encode()) for b in s3.objects().values())
        assert await rotated.read(sha) == secret


async def test_a_server_that_is_gone_is_a_store_unavailable_error(tmp_path: Path) -> None:
    settings = AttachmentsSection(backend="s3", bucket="b", endpoint_url=f"http://127.0.0.1:{free_port()}",
                                  access_key_id="k", secret_access_key="s")
    files = open_attachments(settings, tmp_path, None)
    spooled = tmp_path / "up-3"
    spooled.write_bytes(b"keep me")
    with pytest.raises(AttachmentStoreUnavailable) as caught:
        await files.adopt(spooled, kind="file", mime="text/plain", filename=None)
    assert isinstance(caught.value, StoreUnavailable) and "unreachable" in str(caught.value)
    assert spooled.read_bytes() == b"keep me"  # not moved anywhere: the caller still has it
    with pytest.raises(AttachmentStoreUnavailable):
        await files.read("00" * 32)


def test_config_is_checked_and_secrets_resolved_only_for_the_bucket(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tpbridge.toml"
    with pytest.raises(ConfigError) as caught:
        parse({"attachments": {"backend": "s3", "endpoint_url": "minio:9000", "access_key_id": "k"}}, path)
    assert caught.value.problems == [
        'attachments.endpoint_url: must start with http:// or https://, e.g. "http://minio.internal:9000"']
    with pytest.raises(ConfigError) as caught:
        parse({"attachments": {"backend": "s3", "access_key_id": "k"}}, path)
    assert caught.value.problems == ['attachments: backend "s3" needs a bucket']
    with pytest.raises(ConfigError) as caught:
        parse({"attachments": {"backend": "disk"}}, path)
    assert caught.value.problems == ['attachments.backend: must be "folder" or "s3"']
    with pytest.raises(ConfigError) as caught:
        parse({"attachments": {"backend": "s3", "bucket": "b", "access_key_id": "env:TPB_T_KEY",
                               "secret_access_key": "env:TPB_T_SECRET"}}, path)
    assert caught.value.problems == ["attachments.access_key_id: environment variable TPB_T_KEY is not set",
                                     "attachments.secret_access_key: environment variable TPB_T_SECRET is not set"]
    folder = parse({"attachments": {"secret_access_key": "env:TPB_T_SECRET"}}, path)  # unused: not resolved
    assert folder.attachments.backend == "folder"
    monkeypatch.setenv("TPB_T_KEY", "AKIAEXAMPLE")
    monkeypatch.setenv("TPB_T_SECRET", "very-secret-value")
    cfg = parse({"attachments": {"backend": "s3", "bucket": "b", "prefix": "/x/", "access_key_id": "env:TPB_T_KEY",
                                 "secret_access_key": "env:TPB_T_SECRET"}}, path)
    assert (cfg.attachments.access_key_id, cfg.attachments.secret_access_key) == ("AKIAEXAMPLE", "very-secret-value")
    assert cfg.attachments.prefix == "x"
    assert "very-secret-value" not in repr(cfg) and "AKIAEXAMPLE" not in repr(cfg.attachments)


async def test_the_folder_is_uploaded_into_the_bucket_as_it_is_and_a_second_run_skips_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    folder = AttachmentFolder(data_dir)
    shas = [(await folder.put(body, kind="file", mime="text/plain", filename=None)).sha256
            for body in (b"first file", "第二个文件".encode())]
    (data_dir / "attachments" / "incoming").mkdir()
    (data_dir / "attachments" / "incoming" / "up-0123").write_bytes(b"an upload in flight")
    async with FakeS3() as s3:
        config = tmp_path / "tpbridge.toml"
        config.write_text(f'[bridge]\ndata_dir = "{data_dir}"\n\n{s3.toml(prefix="tpb")}')

        def upload() -> str:
            proc = subprocess.run([sys.executable, "-m", "tpbridge.bridge", "-c", str(config), "attachments", "upload"],
                                  capture_output=True, text=True, env={**os.environ, **s3.env}, timeout=60)
            assert proc.returncode == 0, proc.stderr
            return proc.stderr.strip().splitlines()[-1]

        assert upload() == f"2 files copied to s3://{s3.bucket}/tpb, 0 already there"
        assert upload() == f"0 files copied to s3://{s3.bucket}/tpb, 2 already there"
        bucket = store(s3, prefix="tpb")
        assert [await bucket.read(sha) for sha in shas] == [b"first file", "第二个文件".encode()]
        assert len(s3.objects()) == 2  # the spool stays behind


def test_the_example_table_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPB_S3_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("TPB_S3_SECRET", "example-secret")
    example = Path(__file__).resolve().parents[2] / "config" / "attachments.example.toml"
    cfg = parse(tomllib.loads(example.read_text()), tmp_path / "tpbridge.toml")
    assert (cfg.attachments.backend, cfg.attachments.bucket, cfg.attachments.secret_access_key) == (
        "s3", "tpbridge-attachments", "example-secret")


async def test_erasure_does_not_wait_for_the_bucket_and_its_files_go_when_it_is_back(
        tmp_path: Path, store_url: str) -> None:
    from tpbridge.adapters.base import InboundAttachment
    from tpbridge.bridge.attachments.removal import retry_pending

    from tests.support.core import inbound, running_core

    async with FakeS3() as s3, running_core(tmp_path, {"attachments": s3.settings()}, url=store_url) as core:
        async def say(external_id: str, sender: str, data: bytes) -> int:
            att = InboundAttachment("file", "text/plain", data, "p.txt")
            item = (await core.pipeline.ingest("webchat.site", "webchat",
                                               [inbound(external_id, sender, attachments=(att,))]))[0]
            assert item.conversation is not None
            return item.conversation.contact_id

        ann = await say("f1", "ann", b"passport scan")
        bob = await say("f2", "bob", b"a common logo")
        s3.stop()
        assert await core.desk.forget(ann) == 1  # the rows go now; the files are owed
        assert await core.desk.forget(bob) == 1
        assert await core.store.get_contact(ann) is None
        s3.start()
        # before the retry, someone else sends the very same logo: that file is theirs now and stays
        await say("f3", "carl", b"a common logo")
        assert await retry_pending(core.files, core.store) == 0
        assert list(s3.objects().values()) == [b"a common logo"]


async def test_a_reply_whose_file_cannot_be_read_from_the_bucket_is_retried_and_then_sent(tmp_path: Path) -> None:
    import asyncio

    from tpbridge.adapters.base import Outbound, Sent
    from tpbridge.bridge.model import Author, AuthorKind, Delivery
    from tpbridge.bridge.outbox import InboxWorker

    from tests.support.core import inbound, running_core

    class Channel:
        """Reads each attachment as every built-in adapter does (`await att.read()`)."""

        def __init__(self) -> None:
            self.calls = 0
            self.called = asyncio.Event()
            self.got: list[bytes] = []

        async def send(self, out: Outbound) -> Sent:
            self.calls += 1
            try:
                self.got = [await a.read() for a in out.attachments]
            finally:
                self.called.set()  # once the read is over, whichever way
            return Sent(external_id=f"sent-{out.message_id}")

    async with FakeS3() as s3, running_core(tmp_path, {"attachments": s3.settings()}) as core:
        item = (await core.pipeline.ingest("webchat.site", "webchat", [inbound("m1", "ann")]))[0]
        assert item.conversation is not None
        att = await core.files.put(b"the refund form", kind="file", mime="application/pdf", filename="f.pdf")
        msg = await core.desk.reply(item.conversation.id, "here", author=Author(AuthorKind.AGENT, None, "Ann"),
                                    attachments=[att])
        channel = Channel()
        worker = InboxWorker("webchat.site", channel, core.store, core.bus, core.files, core.health)  # type: ignore[arg-type]
        s3.stop()
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.wait_for(channel.called.wait(), 10)
            channel.called.clear()
            s3.start()
            await asyncio.wait_for(channel.called.wait(), 20)  # the retry, after its backoff
            await worker.drain(5)
        finally:
            task.cancel()
        assert channel.calls == 2 and channel.got == [b"the refund form"]
        sent = await core.store.get_message(msg.id)
        assert sent is not None and sent.delivery is Delivery.SENT


async def test_check_says_why_the_bucket_cannot_be_used(tmp_path: Path) -> None:
    async with FakeS3() as s3:
        await store(s3).check()
        wrong = AttachmentsSection.model_validate(s3.settings(bucket="no-such-bucket"))
        with pytest.raises(AttachmentStoreUnavailable, match="bucket no-such-bucket does not exist"):
            await open_attachments(wrong, tmp_path, None).check()
    with pytest.raises(AttachmentStoreUnavailable, match="unreachable"):
        await store(s3).check()
