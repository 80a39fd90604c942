"""Reading an HTTP body that must not exceed a size: a webhook's request, a downloaded file.

One loop for both directions, so every cap is applied the same way: refused at once when the
declared Content-Length is over, else counted as the chunks arrive and abandoned as soon as the
count passes the cap, so an oversized body is never held whole in memory.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp


class HasBody(Protocol):
    """What aiohttp's client response and server request both offer."""

    @property
    def content_length(self) -> int | None: ...

    @property
    def content(self) -> aiohttp.StreamReader: ...


async def read_capped(source: HasBody, limit: int, *, chunk_size: int = 64 * 1024) -> bytes | None:
    """The whole body, or None once it is over `limit` bytes (each caller says so in its own words)."""
    if (source.content_length or 0) > limit:
        return None
    body = bytearray()
    async for chunk in source.content.iter_chunked(chunk_size):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)
