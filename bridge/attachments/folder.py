"""Attachment bytes on disk, content-addressed under data_dir/attachments/<2 chars>/<name>.

With encryption at rest the bytes are sealed and the file is named by a keyed hash of the sha256, so
neither the content nor which known file it is shows on disk. Several instances share it as one folder
on shared storage (NFS), or use the S3 backend instead (bridge/attachments/s3.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path, PosixPath

from tpbridge.bridge.attachments import AttachmentMissing, object_name
from tpbridge.bridge.crypto import FILE_MAGIC, Codec
from tpbridge.bridge.store.protocol import StoredAttachment


class SealedPath(PosixPath):
    """A path whose `read_bytes` opens the sealed file: what adapters are handed to send an attachment."""

    codec: Codec | None = None

    def read_bytes(self) -> bytes:
        data = super().read_bytes()
        return self.codec.open_bytes(data) if self.codec is not None else data


def write_atomically(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, dest)


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 and size, read in chunks (a spooled upload may be large)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def reseal_folder(codec: Codec, folder: Path, rename: Path | None = None) -> int:
    """Seal every file under `folder` not under the current key. With `rename` (the attachment folder's
    root), a plaintext file from before encryption also takes its keyed name under that root."""
    count = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob("*"):
        if not path.is_file() or ".tmp" in path.name or path.parent.name == "incoming":
            continue
        with open(path, "rb") as fh:
            head = fh.read(len(FILE_MAGIC) + 8)
        if codec.file_is_current(head):
            continue
        data = codec.open_bytes(path.read_bytes())
        if rename is not None and not head.startswith(FILE_MAGIC):
            name = object_name(codec, hashlib.sha256(data).hexdigest())
            target = rename / name[:2] / name
            write_atomically(target, codec.seal_bytes(data))
            if target != path:
                path.unlink()
        else:
            write_atomically(path, codec.seal_bytes(data))
        count += 1
    return count


class AttachmentFolder:
    """The default `AttachmentStore`: a folder, each method's disk work in a thread."""

    def __init__(self, data_dir: Path, codec: Codec | None = None) -> None:
        self.root = data_dir / "attachments"
        self.codec = codec

    def where(self) -> str:
        return str(self.root)

    def path(self, sha256: str) -> Path:
        name = object_name(self.codec, sha256)
        return self.root / name[:2] / name

    def put_sync(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        digest = hashlib.sha256(data).hexdigest()
        dest = self.path(digest)
        if not dest.exists():
            write_atomically(dest, data if self.codec is None else self.codec.seal_bytes(data))
        return StoredAttachment(kind=kind, mime=mime, filename=filename, size=len(data), sha256=digest)

    async def put(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        return await asyncio.to_thread(self.put_sync, data, kind=kind, mime=mime, filename=filename)

    def adopt_sync(self, path: Path, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        sha, size = hash_file(path)
        dest = self.path(sha)
        if dest.exists():
            path.unlink(missing_ok=True)
        elif self.codec is not None:  # sealed into the store; the spooled plaintext goes at once
            write_atomically(dest, self.codec.seal_bytes(path.read_bytes()))
            path.unlink(missing_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(path, dest)
        return StoredAttachment(kind=kind, mime=mime, filename=filename, size=size, sha256=sha)

    async def adopt(self, path: Path, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        return await asyncio.to_thread(self.adopt_sync, path, kind=kind, mime=mime, filename=filename)

    def source(self, sha256: str) -> SealedPath:
        path = SealedPath(self.path(sha256))
        path.codec = self.codec
        return path

    def read_sync(self, sha256: str) -> bytes:
        try:
            return self.source(sha256).read_bytes()
        except FileNotFoundError:
            raise AttachmentMissing(sha256) from None

    async def read(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.read_sync, sha256)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).exists)

    async def check(self) -> None:
        return None  # a local folder: made when the first file is written

    async def remove(self, sha256: str) -> None:
        await asyncio.to_thread(self.path(sha256).unlink, missing_ok=True)

    async def reseal_all(self) -> int:
        assert self.codec is not None
        return await asyncio.to_thread(reseal_folder, self.codec, self.root, self.root)
