"""Pictures people send, fetched into the record before it is stored.

Post media (pbs.twimg.com) is public; DM media (ton.twitter.com) is served only to
OAuth 1.0a-signed requests. A picture that cannot be fetched in time never holds
the message back: it is stored without it, the URL noted in `extra`.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from oauthlib.oauth1 import Client as OAuthClient
from structlog.typing import FilteringBoundLogger
from tpbridge.adapters.base import Inbound, InboundAttachment
from tpbridge.adapters.media_fetch import MediaHosts, fetch
from yarl import URL

from .api import XApi

MAX_BYTES = 15 * 1024 * 1024  # X's own limit for images is 5 MB, GIFs 15 MB


# Where X serves media: post pictures and videos (public), DM media (OAuth 1.0a-signed).
MEDIA_HOSTS = ("pbs.twimg.com", "video.twimg.com", "ton.twitter.com")
SIGNED_HOSTS = ("ton.twitter.com",)


async def _fetch(api: XApi, url: str, signed: bool) -> InboundAttachment:
    s = api.settings
    hosts = MediaHosts.of(MEDIA_HOSTS, s.api_base_url)

    def credentials(target: URL) -> dict[str, str]:
        # The OAuth keys go only to X's DM media host (or the channel's own API origin), never elsewhere.
        if not signed or not (target.host in SIGNED_HOSTS or hosts.is_own(target)):
            return {}
        signer = OAuthClient(s.consumer_key, s.consumer_secret, s.access_token, s.access_token_secret)
        _, headers, _ = signer.sign(str(target), "GET")
        return dict(headers)

    data, mime = await fetch(api.session, url, hosts=hosts, max_bytes=MAX_BYTES, credentials=credentials)
    kind = "image" if mime.startswith("image/") else "video" if mime.startswith("video/") else "file"
    return InboundAttachment(kind=kind, mime=mime, data=data, filename=posixpath.basename(URL(url).path) or None)


async def _with_media(api: XApi, record: Inbound, log: FilteringBoundLogger) -> Inbound:
    refs: list[dict[str, Any]] = list(record.extra.get("media") or [])
    if not refs:
        return record
    attachments: list[InboundAttachment] = []
    failed: list[str] = []
    for ref in refs:
        try:
            attachments.append(await _fetch(api, ref["url"], bool(ref.get("signed"))))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            failed.append(ref["url"])
            log.warning("media.fetch_failed", external_id=record.external_id, reason=str(exc) or repr(exc))
    extra = {**record.extra, "media": [{"url": r["url"], "type": r.get("type")} for r in refs]}
    if failed:
        extra["media_failed"] = failed
    return replace(record, attachments=(*record.attachments, *attachments), extra=extra)


async def attach_media(
    api: XApi, records: Sequence[Inbound], log: FilteringBoundLogger, *, deadline: float
) -> list[Inbound]:
    """The records with their pictures; those still downloading at `deadline` go without."""
    tasks = [asyncio.ensure_future(_with_media(api, r, log)) for r in records]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=deadline)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    out: list[Inbound] = []
    for record, task in zip(records, tasks, strict=True):
        if task in done and task.exception() is None:
            out.append(task.result())
        else:
            refs = record.extra.get("media") or []
            log.warning("media.fetch_timed_out", external_id=record.external_id)
            out.append(replace(record, extra={**record.extra, "media_failed": [r["url"] for r in refs]}))
    return out
