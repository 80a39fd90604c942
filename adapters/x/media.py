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
from yarl import URL

from .api import XApi

MAX_BYTES = 15 * 1024 * 1024  # X's own limit for images is 5 MB, GIFs 15 MB


async def _fetch(api: XApi, url: str, signed: bool) -> InboundAttachment:
    headers: dict[str, str] = {}
    if signed:
        s = api.settings
        signer = OAuthClient(s.consumer_key, s.consumer_secret, s.access_token, s.access_token_secret)
        _, headers, _ = signer.sign(url, "GET")
    async with api.session.get(URL(url, encoded=True), headers=headers) as resp:
        if resp.status != 200:
            raise ValueError(f"HTTP {resp.status}")
        if (resp.content_length or 0) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        data = await resp.content.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        mime = (resp.content_type or "application/octet-stream").lower()
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
