"""How a stored attachment is served: inline only for raster images that are what they claim.

The stored MIME type is what the sender said. `image/svg+xml; charset=utf-8` is still SVG
(script), so types are compared without parameters, and the first bytes must match the
claimed format; everything else downloads as application/octet-stream. The name loses
control characters (an encoded CR/LF would break the header) and travels as RFC 6266 / 5987.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from tpbridge.adapters.uploads import clean_filename

# Formats a browser shows without running anything, with the bytes each starts with.
INLINE_IMAGES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def base_mime(mime: str) -> str:
    return mime.split(";", 1)[0].strip().lower()


def inline_type(mime: str, path: Path) -> str | None:
    """The type to serve inline with, or None: download it."""
    if INLINE_IMAGES.get(base_mime(mime)) is None:
        return None
    with open(path, "rb") as fh:
        return inline_type_of(mime, fh.read(16))


def inline_type_of(mime: str, head: bytes) -> str | None:
    """The same, from the file's first 16 bytes (a sealed file is opened in memory first)."""
    base = base_mime(mime)
    magics = INLINE_IMAGES.get(base)
    if magics is None:
        return None
    if not any(head.startswith(m) for m in magics) or (base == "image/webp" and head[8:12] != b"WEBP"):
        return None
    return base


def disposition(kind: str, filename: str | None) -> str:
    name = clean_filename(filename) or "file"
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
