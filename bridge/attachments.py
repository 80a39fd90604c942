"""Attachment bytes on disk, content-addressed by sha256 under data_dir/attachments.

With encryption at rest the bytes are sealed (bridge/crypto.py) and the file is named by a
keyed hash of the sha256, so neither the content nor which known file it is shows on disk.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PosixPath

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


class AttachmentFiles:
    def __init__(self, data_dir: Path, codec: Codec | None = None) -> None:
        self.root = data_dir / "attachments"
        self.codec = codec

    def path(self, sha256: str) -> Path:
        name = sha256 if self.codec is None else self.codec.blind("file:" + sha256)
        return self.root / name[:2] / name

    def put(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        """Write once (same bytes, same name); safe to repeat, so it may run before the transaction."""
        digest = hashlib.sha256(data).hexdigest()
        dest = self.path(digest)
        if not dest.exists():
            write_atomically(dest, data if self.codec is None else self.codec.seal_bytes(data))
        return StoredAttachment(kind=kind, mime=mime, filename=filename, size=len(data), sha256=digest)

    def read(self, sha256: str) -> bytes:
        data = self.path(sha256).read_bytes()
        return self.codec.open_bytes(data) if self.codec is not None else data

    def sendable(self, sha256: str) -> Path:
        """The path an adapter reads the bytes from (`read_bytes` opens them)."""
        path = SealedPath(self.path(sha256))
        path.codec = self.codec
        return path

    def adopt(self, path: Path, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        """Move a spooled upload (adapters/uploads.py) into the store: hashed in chunks, renamed in place."""
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        sha = digest.hexdigest()
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

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def reseal_all(self, folders: tuple[Path, ...] = ()) -> int:
        """Seal every file under the attachment (and given) folders that is not under the current key."""
        assert self.codec is not None
        count = 0
        for folder in (self.root, *folders):
            if not folder.is_dir():
                continue
            for path in folder.rglob("*"):
                if not path.is_file() or ".tmp" in path.name:
                    continue
                with open(path, "rb") as fh:
                    head = fh.read(len(FILE_MAGIC) + 8)
                if self.codec.file_is_current(head):
                    continue
                data = self.codec.open_bytes(path.read_bytes())
                if folder == self.root and not head.startswith(FILE_MAGIC):
                    # plaintext from before encryption: named by its sha256; takes its keyed name now
                    target = self.path(hashlib.sha256(data).hexdigest())
                    write_atomically(target, self.codec.seal_bytes(data))
                    if target != path:
                        path.unlink()
                else:
                    write_atomically(path, self.codec.seal_bytes(data))
                count += 1
        return count
