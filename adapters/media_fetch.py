"""Fetching a file whose URL came in a channel's payload, without making the daemon a proxy.

A URL in a payload is attacker-chosen until proven otherwise (a forged delivery, a signed
one quoting a hostile link). So: only the channel's own media hosts over https (or the exact
origin of its `api_base_url`: a self-hosted API, a proxy, a test fake); redirects followed by
hand and only onto those hosts; credentials added per request by the caller, who sees each
URL; bytes counted while they arrive, never more than `max_bytes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
from tpbridge.adapters.capped_read import read_capped
from yarl import URL

MAX_REDIRECTS = 3


class MediaRefused(ValueError):
    """The URL is not one of the channel's media hosts, or the file is too large."""


@dataclass(frozen=True, slots=True)
class Media:
    """A file a user sent, as a channel's `download` returns it (the filename when the channel names it)."""

    data: bytes
    mime: str
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class MediaHosts:
    hosts: frozenset[str]  # reached over https only; "*.example.com" also matches subdomains
    own_origin: tuple[str, str, int | None] | None = None  # (scheme, host, port) of api_base_url

    @classmethod
    def of(cls, hosts: Iterable[str], api_base_url: str | None = None) -> MediaHosts:
        origin = None
        if api_base_url:
            base = URL(api_base_url)
            origin = (base.scheme, (base.host or "").lower(), base.port)
        return cls(frozenset(h.lower() for h in hosts), origin)

    def is_own(self, url: URL) -> bool:
        return self.own_origin is not None and (url.scheme, (url.host or "").lower(), url.port) == self.own_origin

    def allows(self, url: URL) -> bool:
        if self.is_own(url):
            return True
        host = (url.host or "").lower().rstrip(".")
        if url.scheme != "https" or not host or url.user is not None or url.password is not None:
            return False
        return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in self.hosts)


async def fetch(session: aiohttp.ClientSession, url: str, *, hosts: MediaHosts, max_bytes: int,
                credentials: Callable[[URL], dict[str, str]] | None = None) -> tuple[bytes, str]:
    """The bytes and the Content-Type of `url`; MediaRefused for a host or size out of bounds,
    ValueError for an HTTP error, aiohttp.ClientError / TimeoutError as they come."""
    target = URL(url, encoded=True)
    for _ in range(MAX_REDIRECTS + 1):
        if not hosts.allows(target):
            raise MediaRefused(f"not one of the channel's media hosts: {target.scheme}://{target.host}")
        headers = credentials(target) if credentials is not None else {}
        async with session.get(target, headers=headers, allow_redirects=False) as resp:
            if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                target = target.join(URL(resp.headers["Location"], encoded=True))
                continue
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}")
            if (data := await read_capped(resp, max_bytes)) is None:
                raise MediaRefused(f"larger than {max_bytes} bytes")
            return data, (resp.content_type or "application/octet-stream").lower()
    raise MediaRefused(f"more than {MAX_REDIRECTS} redirects")
