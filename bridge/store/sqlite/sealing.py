"""Encryption at rest in the SQLite store: the codec rides on the connection.

Reads are opened in one place, the row factory: every TEXT value that is sealed comes back as
its plaintext, whatever the query (rows carry names like sqlite3.Row). Writes seal the
personal columns where they are written (`seal(conn, value)`); search terms are keyed hashes
(`index_terms`, `match_terms`). Without a key, all of this is a no-op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from tpbridge.bridge.crypto import TEXT_PREFIX, Codec
from tpbridge.bridge.search import index_text, terms
from tpbridge.bridge.store.sqlite.search_match import SearchMatch


class CodecConnection(sqlite3.Connection):
    codec: Codec | None = None


class OpenRow:
    """A row with its sealed values opened: indexable by position and by column name."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: tuple[Any, ...]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._names)


def row_factory(codec: Codec) -> Any:
    cache: dict[tuple[Any, ...], dict[str, int]] = {}

    def make(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> OpenRow:
        desc = cursor.description
        names = cache.get(desc)
        if names is None:
            names = cache[desc] = {d[0]: i for i, d in reversed(list(enumerate(desc)))}
        opened = tuple(codec.open(v) if isinstance(v, str) and v.startswith(TEXT_PREFIX) else v for v in values)
        return OpenRow(names, opened)

    return make


def codec_of(conn: object) -> Codec | None:
    return getattr(conn, "codec", None)


def seal(conn: object, value: str | None) -> str | None:
    codec = codec_of(conn)
    return codec.seal(value) if codec is not None and value is not None else value


def lookup_id(conn: object, inbox: str, external_id: str) -> str:
    """What identities.external_id holds for a channel's id of a person: itself, or its keyed hash."""
    codec = codec_of(conn)
    return external_id if codec is None else codec.blind(f"id:{inbox}:{external_id}")


def lookup_msg(conn: object, inbox: str, external_id: str | None) -> str | None:
    """What messages.external_id (the dedupe key) holds for a channel's message id: itself, or its keyed hash."""
    codec = codec_of(conn)
    if codec is None or external_id is None:
        return external_id
    return codec.blind(f"msg:{inbox}:{external_id}")


def lookup_thread(conn: object, inbox: str, key: str) -> str:
    """What conversations.thread_key holds for a channel's thread key (X's `dm:<user id>`, a tweet id): itself,
    or its keyed hash (the key itself is kept sealed in thread_key_sealed, for replies)."""
    codec = codec_of(conn)
    return key if codec is None else codec.blind(f"thread:{inbox}:{key}")


def kv_key(conn: object, key: str) -> str:
    """What kv.key holds: the key, or its keyed hash (a key may name a person: `<inbox>:profile:<their id>`)."""
    codec = codec_of(conn)
    return key if codec is None else codec.blind(f"kv:{key}")


def kv_keys(conn: object, key: str) -> list[str]:
    """The rows a kv key may be in, preferred first: its keyed hash, then (until the re-seal pass has converted
    it, after encryption was turned on) the key in clear."""
    hashed = kv_key(conn, key)
    return [hashed] if hashed == key else [hashed, key]


def is_kv_hash(key: str) -> bool:
    """A keyed hash (24 hex digits) rather than a key in clear (which always holds a `:`)."""
    return ":" not in key


def sealed_id(conn: object, external_id: str | None) -> str | None:
    """The sealed copy kept beside a keyed hash (None without encryption: the id is there in clear)."""
    codec = codec_of(conn)
    return codec.seal(external_id) if codec is not None and external_id is not None else None


def index_terms(conn: object, text: str) -> str:
    """What the search index stores for a message: its terms, or their keyed hashes."""
    codec = codec_of(conn)
    if codec is None:
        return index_text(text)
    return " ".join(codec.blind(t) for t in dict.fromkeys(terms(text)))  # each once, as index_text


def term_list(conn: object, text: str) -> list[str]:
    """A message's search terms as the PostgreSQL store writes them (a tsvector's lexemes): or their keyed hashes."""
    codec = codec_of(conn)
    found = terms(text or "")
    return sorted({codec.blind(t) for t in found} if codec is not None else set(found))


def match_terms(codec: Codec | None, query: str) -> str | SearchMatch | None:
    """The MATCH expression for a query; with encryption, whole terms only (a hash has no prefix). In clear,
    the query's terms, made an expression on the connection that searches (its prefix spelled out there)."""
    if codec is None:
        return SearchMatch.of(query)
    found = terms(query)
    return " AND ".join(f'"{codec.blind(t)}"' for t in found) if found else None
