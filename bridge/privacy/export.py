"""A person's data as one ZIP (data.json + their files), and the short-lived links that hand it out.

A link is a random token; only its sha256 is stored (kv, with the link's lifetime), so a copy of
the store does not open anyone's export. The ZIP is built when the link is opened, from what is
stored then: a person erased meanwhile gets nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import zipfile
from typing import Any

from tpbridge.bridge.attachments import AttachmentFiles
from tpbridge.bridge.store.protocol import Store

LINK_TTL = 3600.0  # seconds
_KEY = "privacy.export:"


def build_zip(data: dict[str, Any], files: AttachmentFiles) -> bytes:
    """data.json, plus each attachment's bytes that are still on disk under files/<sha256>-<name>."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2))
        seen: set[str] = set()
        for conv in data.get("conversations", []):
            for msg in conv.get("messages", []):
                for att in msg.get("attachments", []):
                    sha = att.get("sha256")
                    if not sha or sha in seen:
                        continue
                    seen.add(sha)
                    path = files.path(sha)
                    if path.exists():
                        name = (att.get("filename") or "file").replace("/", "_")
                        zf.writestr(f"files/{sha[:12]}-{name}", files.read(sha))
    return buf.getvalue()


async def new_link(store: Store, contact_id: int, public_url: str) -> str:
    token = secrets.token_urlsafe(32)
    await store.kv_set(_KEY + hashlib.sha256(token.encode()).hexdigest(), str(contact_id), LINK_TTL)
    return f"{public_url.rstrip('/')}/privacy/export/{token}"


async def link_contact(store: Store, token: str) -> int | None:
    if not 20 <= len(token) <= 100:
        return None
    value = await store.kv_get(_KEY + hashlib.sha256(token.encode()).hexdigest())
    return int(value) if value and value.isdigit() else None
