"""Who is on the other end when tpbridge runs behind a load balancer or reverse proxy.

Behind one, every request comes from the proxy's address, so the per-address limits (login guesses,
web chat floods) would count all visitors together and the audit log would name the proxy. With
`[http] trusted_proxies` set, `X-Forwarded-For` is read — only when the direct peer is one of those
proxies, from the right, skipping hops that are proxies too: the first address a trusted proxy vouches
for and that is not itself a proxy is the client (nginx's recursive real_ip). Everything to its left is
what the client wrote and is ignored, so a client cannot choose its own address.

aiohttp-remotes was considered: its strict middleware needs an exact hop count (a health check that
reaches an instance directly would get 400) and its filtered one believes the header from any peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
    return mapped if mapped is not None else ip


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The client's address given the direct peer and the X-Forwarded-For header(s), in order."""
    current = _parse(peer) if peer else None
    if current is None or not trusted:
        return peer
    hops = [h for header in forwarded_for for h in header.split(",")]
    while any(current in net for net in trusted) and hops:
        nxt = _parse(hops.pop())
        if nxt is None:  # written by the client, not by a proxy: the hop we could check is the answer
            break
        current = nxt
    return str(current)


def middleware(trusted: Sequence[Network]) -> Middleware:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        found = request.headers.getall("X-Forwarded-For", [])
        if found:
            address = client_address(request.remote, found, trusted)
            if address is not None and address != request.remote:
                request = request.clone(remote=address)
        return await handler(request)

    return forwarded
