"""The re-encryption pass: turning encryption on for an existing store, and `tpbridge key rotate`.

Every sealed column is rewritten under the current key in batches, then every attachment and
quarantined file; where the pass stands is kept in the store, so after a crash (even kill -9)
it resumes there. The daemon runs it in the background at start whenever it is pending (it keeps
serving meanwhile: values under the old key stay readable through `old_encryption_keys`);
`tpbridge key rotate` runs the same pass in the foreground with progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from tpbridge.bridge.attachments import AttachmentStore
from tpbridge.bridge.attachments.folder import reseal_folder
from tpbridge.bridge.store.protocol import Store

log = structlog.get_logger(__name__)


async def run_pass(store: Store, files: AttachmentStore, data_dir: Path,
                   report: Callable[[Any], None] = lambda progress: None, *, batch: int = 500) -> bool:
    """Re-seal everything not under the current key; False when there was nothing to do."""
    if files.codec is None or not await store.reseal_pending():
        return False
    log.info("store.rekey_started", key_id=files.codec.key_id)
    while True:
        progress = await store.reseal_step(max(1, batch))
        report(progress)
        if progress.table is None:
            break
    codec = files.codec
    count = await files.reseal_all()  # the quarantine is always a local folder
    count += await asyncio.to_thread(reseal_folder, codec, data_dir / "quarantine")
    report(f"files: {count} re-sealed")
    await store.reseal_finish()
    log.info("store.rekeyed", key_id=files.codec.key_id, files=count)
    return True


async def in_background(store: Store, files: AttachmentStore, data_dir: Path) -> None:
    """The daemon's part: the pass once if pending, then nothing (run under the supervisor)."""
    last: list[str] = []

    def progress(p: Any) -> None:
        table = getattr(p, "table", None)
        if table is not None and (not last or last[-1] != table or p.done == p.total):
            log.info("store.rekey_progress", table=table, done=p.done, total=p.total)
            last.append(table)

    await run_pass(store, files, data_dir, progress)
    await asyncio.Event().wait()
