"""The store: a protocol (protocol.py) and its implementations, chosen by `[store].url`."""

from __future__ import annotations

from pathlib import Path

from tpbridge.bridge.crypto import Codec
from tpbridge.bridge.store.protocol import Store


def open_store(url: str, base: Path, codec: Codec | None = None) -> Store:
    """`codec`: encryption at rest (bridge/crypto.py), None when off."""
    if url.startswith("sqlite:///"):
        from tpbridge.bridge.store.sqlite import SqliteStore, path_from_url

        return SqliteStore(path_from_url(url, base), codec)
    if url.startswith(("postgresql://", "postgres://")):
        from tpbridge.bridge.store.postgres import PostgresStore

        return PostgresStore(url, codec=codec)
    raise ValueError(f"unsupported store url {url!r}: sqlite:///path or postgresql://user:pass@host:port/db")
