"""Files uploaded in one multipart request (web chat visitors, agents' replies), spooled to disk.

Each file goes to a temporary file under the data folder as its chunks arrive, counted as they
come: more files than `max_files`, one file over `max_file_bytes` or all of them over
`max_total_bytes` stops the read at once. Nothing holds the request in memory, and a refused
or broken upload leaves no file behind. Names lose control characters (a CR/LF in a name
would break the Content-Disposition it is later served with).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, MultipartReader
from aiohttp.http_exceptions import HttpProcessingError
from tpbridge.adapters.base import InboundAttachment

MAX_NAME = 200
WRITE_BLOCK = 1 << 20  # bytes gathered before one write in a worker thread (the loop never writes to disk)


class UploadRefused(Exception):
    """The upload breaks a limit (413) or is not a readable multipart body (400)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int
    max_files: int
    max_total_bytes: int


@dataclass(frozen=True, slots=True)
class SpooledFile:
    """One uploaded file on disk (the caller moves it into the attachment store or deletes it)."""

    path: Path
    size: int
    mime: str
    filename: str | None


def clean_filename(name: str | None) -> str | None:
    """A file name without control, format or separator characters and path parts; None if nothing is left."""
    if not name:
        return None
    kept = "".join(ch for ch in name if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    kept = kept.replace("/", "_").replace("\\", "_").strip(" .")
    return kept[:MAX_NAME] or None


def spool_dir(data_dir: Path) -> Path:
    path = data_dir / "attachments" / "incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def read_multipart(reader: MultipartReader, limits: Limits, folder: Path,
                         on_field: Callable[[str, BodyPartReader], Awaitable[None]]) -> list[SpooledFile]:
    """Spool every file part; other parts go to `on_field(name, part)`. UploadRefused on a limit."""
    files: list[SpooledFile] = []
    total = 0
    try:
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart: nothing a browser sends
            if not part.filename:
                if part.name:
                    await on_field(part.name, part)
                continue
            if len(files) >= limits.max_files:
                raise UploadRefused(413, "too_many_files", f"at most {limits.max_files} files per message")
            path = folder / f"up-{secrets.token_hex(12)}"
            size = 0
            files.append(SpooledFile(path, 0, "", None))
            fh = await asyncio.to_thread(open, path, "wb")
            try:
                block: list[bytes] = []
                held = 0
                while chunk := await part.read_chunk():
                    size += len(chunk)
                    total += len(chunk)
                    if size > limits.max_file_bytes:
                        raise UploadRefused(413, "too_large", f"attachment over {limits.max_file_bytes} bytes")
                    if total > limits.max_total_bytes:
                        raise UploadRefused(413, "too_large", f"attachments over {limits.max_total_bytes} bytes "
                                            "in all")
                    block.append(chunk)
                    held += len(chunk)
                    if held >= WRITE_BLOCK:
                        await asyncio.to_thread(fh.writelines, block)
                        block, held = [], 0
                if block:
                    await asyncio.to_thread(fh.writelines, block)
            finally:
                await asyncio.to_thread(fh.close)
            mime = (part.headers.get("Content-Type") or "application/octet-stream").strip()[:255]
            files[-1] = SpooledFile(path, size, mime, clean_filename(part.filename))
    except UploadRefused:
        discard(files)
        raise
    except (ValueError, AssertionError, RuntimeError, LookupError, HttpProcessingError) as exc:
        discard(files)
        raise UploadRefused(400, "bad_multipart", f"the multipart body cannot be read: {exc}") from None
    except BaseException:
        discard(files)
        raise
    return files


def clear_spool(data_dir: Path) -> int:
    """Remove what uploads cut short by a crash left in the spool (with encryption on, the only plaintext
    copies of uploaded files are these transient ones); how many were removed."""
    folder = data_dir / "attachments" / "incoming"
    gone = 0
    for leftover in folder.glob("up-*") if folder.is_dir() else ():
        leftover.unlink(missing_ok=True)
        gone += 1
    return gone


def discard(files: list[SpooledFile]) -> None:
    for f in files:
        try:
            os.unlink(f.path)
        except FileNotFoundError:
            pass


def discard_spooled(attachments: Iterable[InboundAttachment]) -> None:
    """Delete the spooled files of records that will not be stored."""
    for a in attachments:
        if a.path is not None:
            a.path.unlink(missing_ok=True)
