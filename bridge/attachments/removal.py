"""Erased files must go even when the attachment store (a bucket) cannot be reached.

An erasure never waits for the bucket: the rows go at once, and a file removal that fails is kept in
the store (kv) and retried every minute until it goes, so no erased person's file stays behind. A
retry first asks the store whether the same content is referenced again (someone sent the very same
bytes since): such a file is kept.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import structlog
from tpbridge.bridge.attachments import AttachmentStore
from tpbridge.bridge.store.protocol import Store, StoreUnavailable

log = structlog.get_logger(__name__)

PENDING = "attachments.pending_removal"  # kv: a JSON list of sha256
RETRY_EVERY = 60.0


async def remove_files(files: AttachmentStore, store: Store, shas: Iterable[str]) -> int:
    """Remove each file; those the store cannot remove now are recorded for `retry_pending`. Returns
    how many were deferred."""
    failed: list[str] = []
    for sha in shas:
        try:
            await files.remove(sha)
        except StoreUnavailable:
            failed.append(sha)
    if failed:
        pending = json.loads(await store.kv_get(PENDING) or "[]")
        await store.kv_set(PENDING, json.dumps(sorted({*pending, *failed})), None)
        log.error("attachments.removal_deferred", files=len(failed), where=files.where())
    return len(failed)


async def retry_pending(files: AttachmentStore, store: Store) -> int:
    """One pass over the deferred removals; returns how many are still pending."""
    pending: list[str] = json.loads(await store.kv_get(PENDING) or "[]")
    if not pending:
        return 0
    left: list[str] = []
    free = await store.unused_files(pending)
    for sha in free:
        try:
            await files.remove(sha)
        except StoreUnavailable:
            left.append(sha)
    # re-read: an erasure meanwhile may have added to the list
    now: list[str] = json.loads(await store.kv_get(PENDING) or "[]")
    remaining = sorted({*left, *(s for s in now if s not in pending)})
    await store.kv_set(PENDING, json.dumps(remaining), None)
    log.info("attachments.removal_retried", removed=len(free) - len(left), kept=len(pending) - len(free),
             pending=len(remaining))
    return len(remaining)


async def retry_forever(files: AttachmentStore, store: Store) -> None:
    """The daemon's part (under its supervisor): whether the store can be used, said once at start, then
    the deferred removals every minute."""
    try:
        await files.check()
        log.info("attachments.reachable", where=files.where())
    except StoreUnavailable as exc:  # not fatal: a file arriving meanwhile is refused (503) and retried
        log.error("attachments.unreachable", where=files.where(), reason=str(exc)[:300])
    while True:
        try:
            await retry_pending(files, store)
        except StoreUnavailable:
            pass  # the database is away: next time
        await asyncio.sleep(RETRY_EVERY)
