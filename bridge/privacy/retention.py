"""`[privacy] retain_days`: resolved conversations (and their files) older than that are erased, once a day.

Off by default (0). Each run is logged (`retention.erased`, how many) and recorded in the audit
trail; what reports need stays as anonymous counts (bridge/store/sqlite/retention.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog
from tpbridge.bridge.attachments.removal import remove_files
from tpbridge.bridge.events import CONVERSATION_DELETED, Event

if TYPE_CHECKING:
    from tpbridge.bridge.core import Core

log = structlog.get_logger(__name__)

DAY = 86400.0
BATCH = 200  # conversations per write: a large backlog does not hold the writer for long


async def sweep(core: Core, *, now: float | None = None) -> int:
    """Erase what is past the retention period now; returns how many conversations went."""
    days = core.config.privacy.retain_days
    if days <= 0:
        return 0
    cut = (now if now is not None else time.time()) - days * DAY
    total, files = 0, 0
    while ids := await core.store.expired_conversations(cut, BATCH):
        gone = await core.store.erase_conversations(ids)
        await remove_files(core.files, core.store, gone.unused_files)
        files += len(gone.unused_files)
        for conv in gone.conversations:  # agents' screens drop them (other instances: by the store)
            core.bus.publish(Event(CONVERSATION_DELETED, conv))
        total += len(ids)
    log.info("retention.erased", conversations=total, files=files, retain_days=days)
    if total:
        await core.audit.record("retention_erase", object=None, address="daemon", conversations=total, files=files,
                                retain_days=days)
    return total


async def run_daily(core: Core) -> None:
    """At start, then every 24 hours (run under the daemon's supervisor)."""
    if core.config.privacy.retain_days <= 0:
        log.info("retention.off", hint="set [privacy] retain_days to erase resolved conversations after N days")
        await asyncio.Event().wait()
    while True:
        await sweep(core)
        await asyncio.sleep(DAY)
