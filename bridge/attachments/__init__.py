"""Where attachment bytes live: a folder (the default) or an S3-compatible bucket, behind one interface.

Both are content-addressed: an attachment is named by its sha256 — with encryption at rest by a keyed
hash of it, its bytes sealed (bridge/crypto.py), so neither backend ever holds plaintext or learns
which known file it holds. Writing the same content twice writes the same name, so a write is safe
to repeat and runs *before* the transaction that references it (stored before acknowledged).

Every method that touches the bytes is async and does its blocking work (disk, network) in a thread:
nothing here blocks the event loop. Adapters get `source(sha256)`, an object whose blocking
`read_bytes()` they call through `OutboundAttachment.read()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tpbridge.adapters.base import Readable
from tpbridge.bridge.crypto import Codec
from tpbridge.bridge.store.protocol import StoredAttachment, StoreUnavailable

if TYPE_CHECKING:
    from tpbridge.bridge.config import AttachmentsSection


class AttachmentMissing(LookupError):
    """No bytes under that name (erased, or never written)."""


class AttachmentStoreUnavailable(StoreUnavailable):
    """The attachment store cannot be reached: nothing that needed it was stored or acknowledged.

    A `StoreUnavailable`, so the web layer answers 503 with Retry-After and the channel retries."""


def object_name(codec: Codec | None, sha256: str) -> str:
    """The name an attachment is stored under: its sha256, or the codec's keyed hash of it."""
    return sha256 if codec is None else codec.blind("file:" + sha256)


class AttachmentStore(Protocol):
    """What the core, the web layer and privacy need from where attachment bytes are kept."""

    codec: Codec | None

    def where(self) -> str:
        """For logs and the CLI: the folder or `s3://bucket/prefix` (never a credential)."""
        ...

    async def put(self, data: bytes, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        """Store bytes once (idempotent: same content, same name); may run before the transaction."""
        ...

    async def adopt(self, path: Path, *, kind: str, mime: str, filename: str | None) -> StoredAttachment:
        """Move a spooled upload (adapters/uploads.py) in: hashed in chunks, the spooled file gone after."""
        ...

    async def read(self, sha256: str) -> bytes:
        """The attachment's bytes (opened when sealed); `AttachmentMissing` when there are none."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def check(self) -> None:
        """Raise `AttachmentStoreUnavailable`, saying why, unless the store can be used (at start: a wrong
        bucket name or credentials show in the log at once, not with the first file)."""
        ...

    async def remove(self, sha256: str) -> None:
        """Delete the bytes (erasure, retention); nothing there is not an error."""
        ...

    def source(self, sha256: str) -> Readable:
        """What an adapter reads the bytes from (`read_bytes` opens them; blocking, so from a thread)."""
        ...

    async def reseal_all(self) -> int:
        """Seal every attachment not under the current key (encryption turned on, key rotation)."""
        ...


def open_attachments(settings: AttachmentsSection, data_dir: Path, codec: Codec | None) -> AttachmentStore:
    """The configured backend: `[attachments] backend = "folder"` (default) or `"s3"`."""
    if settings.backend == "s3":
        from tpbridge.bridge.attachments.s3 import ObjectStore

        return ObjectStore(settings, codec)
    from tpbridge.bridge.attachments.folder import AttachmentFolder

    return AttachmentFolder(data_dir, codec)


__all__ = ["AttachmentMissing", "AttachmentStore", "AttachmentStoreUnavailable", "object_name",
           "open_attachments"]
