"""Attachment bytes in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), for several instances
on several machines without a shared disk.

Keys mirror the folder's layout, `<prefix>/<2 chars>/<name>`, named and sealed the same way (with
encryption at rest the bucket only ever holds sealed bytes under keyed names), so a folder copied
into the bucket as it is (`aws s3 sync data/attachments s3://bucket/prefix --exclude "incoming/*"`)
is read as it was. A PUT of the same key with the same content is idempotent, so it still runs
before the transaction. No file name or MIME type goes into the object's metadata.

boto3 (the AWS SDK, kept by AWS, thread-safe clients) called in worker threads rather than
aiobotocore: it pins botocore to a narrow range that fights boto3's and moto's, and the folder
backend runs its disk work in threads the same way. Errors become `AttachmentMissing` (no such key)
or `AttachmentStoreUnavailable` (a `StoreUnavailable`: 503, the channel retries, nothing acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import structlog
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from tpbridge.bridge.attachments import AttachmentMissing, AttachmentStoreUnavailable, object_name
from tpbridge.bridge.attachments.folder import hash_file
from tpbridge.bridge.crypto import FILE_MAGIC, Codec
from tpbridge.bridge.store.protocol import StoredAttachment

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from tpbridge.bridge.config import AttachmentsSection

log = structlog.get_logger(__name__)

_MISSING = {"NoSuchKey", "404", "NotFound"}


@contextlib.contextmanager
def _errors(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        err: Any = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        if code in _MISSING:
            raise AttachmentMissing(what) from None
        raise AttachmentStoreUnavailable(f"attachment store: {code} {err.get('Message', '')}".strip()) from exc
    except BotoCoreError as exc:  # connection refused, timeouts, a broken response
        raise AttachmentStoreUnavailable(f"attachment store unreachable: {exc}") from exc


class StoredObject:
    """What an adapter is handed: `read_bytes()` fetches (and opens) the object, from a worker thread."""

    __slots__ = ("_sha256", "_store")

    def __init__(self, store: ObjectStore, sha256: str) -> None:
        self._store = store
        self._sha256 = sha256

    def read_bytes(self) -> bytes:
        return self._store.read_sync(self._sha256)

    def __repr__(self) -> str:
        return f"StoredObject({self._store.key(self._sha256)!r})"


class ObjectStore:
    """`[attachments] backend = "s3"`."""

    def __init__(self, settings: AttachmentsSection, codec: Codec | None = None) -> None:
        assert settings.bucket
        self.codec = codec
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        config = BotoConfig(
            connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3},
            # S3-compatible servers (MinIO, Ceph) address buckets by path and may not take the
            # streaming checksums newer botocore sends by default
            s3={"addressing_style": "path"} if settings.endpoint_url else None,
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=settings.endpoint_url,
            region_name=settings.region or ("us-east-1" if settings.endpoint_url else None),
            aws_access_key_id=settings.access_key_id, aws_secret_access_key=settings.secret_access_key,
            config=config,
        )

    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, sha256: str) -> str:
        name = object_name(self.codec, sha256)
        return f"{self.prefix}/{name[:2]}/{name}" if self.prefix else f"{name[:2]}/{name}"

    # ------------------------------------------------------------ blocking parts (worker threads)
    def _put_object(self, key: str, body: Any) -> None:
        with _errors(key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/octet-stream")

    def put_sync(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        digest = hashlib.sha256(data).hexdigest()
        self._put_object(self.key(digest), data if self.codec is None else self.codec.seal_bytes(data))
        return StoredAttachment(kind=kind, mime=mime, filename=filename, size=len(data), sha256=digest)

    def adopt_sync(self, path: Path, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        sha, size = hash_file(path)
        if self.codec is not None:
            self._put_object(self.key(sha), self.codec.seal_bytes(path.read_bytes()))
        else:
            with open(path, "rb") as fh:
                self._put_object(self.key(sha), fh)
        path.unlink(missing_ok=True)  # only once the bucket has it: a failed upload leaves it for the caller
        return StoredAttachment(kind=kind, mime=mime, filename=filename, size=size, sha256=sha)

    def _get(self, key: str, byte_range: str | None = None) -> bytes:
        with _errors(key):
            if byte_range is None:
                return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return self.client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)["Body"].read()

    def read_sync(self, sha256: str) -> bytes:
        data = self._get(self.key(sha256))
        return self.codec.open_bytes(data) if self.codec is not None else data

    def _exists(self, sha256: str) -> bool:
        try:
            with _errors(sha256):
                self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except AttachmentMissing:
            return False
        return True

    def _remove(self, sha256: str) -> None:
        with _errors(sha256):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    def _reseal(self) -> int:
        """Every object under the prefix not sealed under the current key, sealed; a plaintext one (from
        before encryption) also takes its keyed name."""
        assert self.codec is not None
        codec, count = self.codec, 0
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + "/" if self.prefix else "")
        with _errors("list"):
            keys = [o["Key"] for page in pages for o in page.get("Contents", []) if "Key" in o]
        for key in keys:
            try:
                head = self._get(key, f"bytes=0-{len(FILE_MAGIC) + 7}")
                if codec.file_is_current(head):
                    continue
                data = codec.open_bytes(self._get(key))
            except AttachmentMissing:
                continue  # erased meanwhile
            target = self.key(hashlib.sha256(data).hexdigest()) if not head.startswith(FILE_MAGIC) else key
            self._put_object(target, codec.seal_bytes(data))
            if target != key:
                with _errors(key):
                    self.client.delete_object(Bucket=self.bucket, Key=key)
            count += 1
        return count

    def upload_folder(self, root: Path,
                      report: Callable[[int, int], None] = lambda done, total: None) -> tuple[int, int]:
        """Copy a folder backend's files (data_dir/attachments) in as they are — same names, same (sealed)
        bytes — skipping keys already there, so an interrupted copy is run again; (copied, skipped)."""
        files = sorted(p for p in root.rglob("*")
                       if p.is_file() and ".tmp" not in p.name and p.parent.name != "incoming")
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + "/" if self.prefix else "")
        with _errors("list"):
            there = {o["Key"] for page in pages for o in page.get("Contents", []) if "Key" in o}
        copied = 0
        for done, path in enumerate(files, 1):
            rel = path.relative_to(root).as_posix()
            key = f"{self.prefix}/{rel}" if self.prefix else rel
            if key not in there:
                with open(path, "rb") as fh:
                    self._put_object(key, fh)
                copied += 1
            report(done, len(files))
        return copied, len(files) - copied

    # ------------------------------------------------------------ the AttachmentStore protocol
    async def put(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        return await asyncio.to_thread(self.put_sync, data, kind=kind, mime=mime, filename=filename)

    async def adopt(self, path: Path, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        return await asyncio.to_thread(self.adopt_sync, path, kind=kind, mime=mime, filename=filename)

    async def read(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.read_sync, sha256)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self._exists, sha256)

    def _check(self) -> None:
        try:
            with _errors(self.bucket):
                self.client.head_bucket(Bucket=self.bucket)
        except AttachmentMissing:
            raise AttachmentStoreUnavailable(f"attachment store: bucket {self.bucket} does not exist") from None

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    async def remove(self, sha256: str) -> None:
        await asyncio.to_thread(self._remove, sha256)

    def source(self, sha256: str) -> StoredObject:
        return StoredObject(self, sha256)

    async def reseal_all(self) -> int:
        return await asyncio.to_thread(self._reseal)
