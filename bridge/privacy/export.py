"""A person's data as one ZIP (data.json + their files), and the short-lived links that hand it out.

A link is a random token; only its sha256 is stored (kv, with the link's lifetime), so a copy of
the store does not open anyone's export. The ZIP is built when the link is opened, from what is
stored then: a person erased meanwhile gets nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import secrets
import zipfile
from typing import Any

from tpbridge.bridge.attachments import AttachmentMissing, AttachmentStore
from tpbridge.bridge.store.protocol import Store

LINK_TTL = 3600.0  # seconds
_KEY = "privacy.export:"


async def build_zip(data: dict[str, Any], files: AttachmentStore) -> bytes:
    """data.json, plus each attachment's bytes that are still stored, under files/<sha256>-<name>."""
    entries: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for conv in data.get("conversations", []):
        for msg in conv.get("messages", []):
            for att in msg.get("attachments", []):
                sha = att.get("sha256")
                if not sha or sha in seen:
                    continue
                seen.add(sha)
                try:
                    blob = await files.read(sha)
                except AttachmentMissing:
                    continue
                name = (att.get("filename") or "file").replace("/", "_")
                entries.append((f"files/{sha[:12]}-{name}", blob))

    def pack() -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
            for name, blob in entries:
                zf.writestr(name, blob)
        return buf.getvalue()

    return await asyncio.to_thread(pack)


async def new_link(store: Store, contact_id: int, public_url: str) -> str:
    token = secrets.token_urlsafe(32)
    await store.kv_set(_KEY + hashlib.sha256(token.encode()).hexdigest(), str(contact_id), LINK_TTL)
    return f"{public_url.rstrip('/')}/privacy/export/{token}"


async def link_contact(store: Store, token: str) -> int | None:
    if not 20 <= len(token) <= 100:
        return None
    value = await store.kv_get(_KEY + hashlib.sha256(token.encode()).hexdigest())
    return int(value) if value and value.isdigit() else None
