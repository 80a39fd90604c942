"""getUpdates long polling, our own loop rather than PTB's Updater.

The Updater confirms updates on its next poll before handlers have stored them (and again
on stop), so a crash loses messages. Here the offset is a checkpoint stored in the same
transaction as the messages, and sent to Telegram only after that transaction committed.
"""

from __future__ import annotations

import asyncio

import structlog
from telegram.error import NetworkError
from tpbridge.adapters.base import ChannelState, Inbound, Sink

from .api import ApiError, BridgeBot
from .convert import UPDATE_KINDS, UpdateReader
from .settings import TelegramSettings

BATCH = 100  # updates per getUpdates, Telegram's maximum


class Poller:
    def __init__(self, settings: TelegramSettings, reader: UpdateReader, log: structlog.stdlib.BoundLogger) -> None:
        self.settings = settings
        self.reader = reader
        self.log = log

    async def run(self, bot: BridgeBot, sink: Sink) -> None:
        """Poll until cancelled; raises when the connection is lost (the supervisor restarts it)."""
        saved = await sink.last_checkpoint()
        offset = int(saved) if saved else None
        timeout = 0  # the first poll is short, so health shows "connected" at once
        connected = False
        while True:
            try:
                raw = await bot.get_raw_updates(
                    offset, timeout, BATCH, list(UPDATE_KINDS), self.settings.request_timeout
                )
            except ApiError as exc:
                if (bad := exc.bad_credentials()) is not None:
                    raise bad from exc
                if exc.status == 429 and exc.retry_after:
                    await asyncio.sleep(exc.retry_after)
                    continue
                sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=exc.description)
                raise
            except NetworkError as exc:
                sink.report(ChannelState.TRANSIENT_DISCONNECT, reason=f"network error: {exc.message}")
                raise
            if not connected:
                sink.report(ChannelState.CONNECTED)
                connected = True
            timeout = self.settings.poll_timeout
            if not raw:
                continue
            ids = [u["update_id"] for u in raw if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
            next_offset = max(ids, default=(offset or 0) - 1) + 1
            records: list[Inbound] = []
            for data in raw:
                record = await self.reader.read(bot, sink, data)
                if record is not None:
                    records.append(record)
            # Stored with the batch in one transaction; Telegram hears of it only on the next poll.
            await sink.ingest(records, checkpoint=str(next_offset))
            self.log.debug("updates.stored", count=len(raw), records=len(records), offset=next_offset)
            offset = next_offset
