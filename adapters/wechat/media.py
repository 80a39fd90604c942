"""Users' images, voice and video: fetched with media/get, never at the cost of the 5-second rule.

The webhook gives the download `media_timeout` seconds. If WeChat's media server is
slower, the message is stored at once with a note (the media_id stays valid three
days) and the download is retried in the background by `run`, which then stores
the file as a follow-up message quoting the first one (`reply_to`). A daemon that
dies in between leaves the note, never a lost message.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import structlog
from tpbridge.adapters.base import Inbound, InboundAttachment, Retry, Sink, backoff
from tpbridge.adapters.media_fetch import Media

from .api import WechatApi, WechatError, classify
from .convert import MediaRef

log = structlog.get_logger(__name__)

LATER_ATTEMPTS = 5
LATER_QUEUE = 1000


class MediaFetcher:
    def __init__(self, api: WechatApi, *, inline_timeout: float, later_timeout: float, max_bytes: int) -> None:
        self.api = api
        self.inline_timeout = inline_timeout
        self.later_timeout = later_timeout
        self.max_bytes = max_bytes
        self.later: asyncio.Queue[tuple[Inbound, MediaRef]] = asyncio.Queue(LATER_QUEUE)

    async def attach(self, inbound: Inbound, ref: MediaRef, mlog: Any) -> Inbound:
        """The record with its attachment, or with a note and the download queued for later."""
        try:
            async with asyncio.timeout(self.inline_timeout):
                got = await self.api.download(ref.media_id, max_bytes=self.max_bytes)
        except Exception as exc:  # best effort: the message itself must land whatever happens here
            reason = "timeout" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            later = _transient(exc) and not self.later.full()
            mlog.warning("media.download_failed", media_id=ref.media_id, reason=reason, retry_later=later)
            if later:
                self.later.put_nowait((inbound, ref))
            note = f"[{ref.kind} not downloaded yet: {reason}; WeChat media_id {ref.media_id}]"
            text = f"{inbound.text}\n{note}" if inbound.text else note
            return dataclasses.replace(inbound, text=text, extra={**inbound.extra, "media_error": reason})
        return dataclasses.replace(inbound, attachments=(_attachment(ref, got),))

    async def run(self, sink: Sink) -> None:
        """Retry queued downloads; store each file as a follow-up of its message."""
        while True:
            inbound, ref = await self.later.get()
            mlog = log.bind(inbox=sink.inbox, external_id=inbound.external_id, media_id=ref.media_id)
            got = await self._download_with_retries(ref, mlog)
            if got is None:
                continue
            follow_up = Inbound(
                inbox=inbound.inbox, external_id=f"{inbound.external_id}:media", sender=inbound.sender,
                text="", sent_at=inbound.sent_at, attachments=(_attachment(ref, got),),
                reply_to=inbound.external_id, extra={**inbound.extra, "late_media_of": inbound.external_id},
            )
            await sink.ingest([follow_up])
            mlog.info("media.stored_later")

    async def _download_with_retries(self, ref: MediaRef, mlog: Any) -> Media | None:
        for attempt in range(1, LATER_ATTEMPTS + 1):
            try:
                async with asyncio.timeout(self.later_timeout):
                    return await self.api.download(ref.media_id, max_bytes=self.max_bytes)
            except Exception as exc:
                reason = "timeout" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
                if not _transient(exc):
                    mlog.warning("media.given_up", reason=reason)
                    return None
                mlog.info("media.retry", attempt=attempt, reason=reason)
                await asyncio.sleep(backoff(attempt + 1, base=1.0, cap=60.0))
        mlog.warning("media.given_up", reason="too many attempts")
        return None


def _transient(exc: Exception) -> bool:
    """Worth another try later: timeouts, network trouble, WeChat busy; not a refused media_id."""
    if isinstance(exc, WechatError):
        return isinstance(classify(exc), Retry)
    return isinstance(exc, TimeoutError | Retry)


def _attachment(ref: MediaRef, got: Media) -> InboundAttachment:
    return InboundAttachment(kind=ref.kind, mime=got.mime.split(";")[0].strip(), data=got.data,
                             filename=got.filename)
