"""Attachment bytes on disk, content-addressed by sha256 under data_dir/attachments."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tpbridge.bridge.store.protocol import StoredAttachment


class AttachmentFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "attachments"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        """Write once (same bytes, same name); safe to repeat, so it may run before the transaction."""
        digest = hashlib.sha256(data).hexdigest()
        dest = self.path(digest)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        return StoredAttachment(kind=kind, mime=mime, filename=filename, size=len(data), sha256=digest)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

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
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(path, dest)
        return StoredAttachment(kind=kind, mime=mime, filename=filename, size=size, sha256=sha)

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
