"""Encryption at rest: the codec every store calls (SQLite here, PostgreSQL alike).

- Values (message text, html, extras, subjects, names, e-mail addresses, handles) are sealed with
  AES-256-GCM under a key derived (HKDF) from `[store] encryption_key`; each sealed value names
  its key id (`enc1:<key id>:<base64 nonce+ciphertext>`), so values under an older key stay
  readable while `tpbridge key rotate` rewrites them, and plaintext from before encryption was
  turned on is recognised and migrated.
- Files (attachments, quarantined mail) are sealed the same way, with a binary header.
- Lookups cannot search ciphertext: search terms are keyed hashes (HMAC-SHA256) under an index
  key. What this leaks: which messages share a term (and how often a term occurs), not the term.
  The index key is random, stored only wrapped (sealed) under the encryption key, so rotating
  the encryption key does not change the hashes (no re-index), yet a copy of the store alone
  reveals nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TEXT_PREFIX = "enc1:"
FILE_MAGIC = b"TPBENC1\n"
_NONCE = 12


class KeyProblem(Exception):
    """The configured key cannot open this store (missing, wrong, or malformed): one line, exit 2."""


def parse_key(value: str, key: str = "store.encryption_key") -> bytes:
    """32 random bytes in base64 (standard or URL-safe, padding optional)."""
    raw = value.strip()
    try:
        data = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_" if ("-" in raw or "_" in raw) else None,
                                validate=True)
    except (binascii.Error, ValueError):
        raise KeyProblem(f"{key}: not base64 (expected 32 random bytes, e.g. from `openssl rand -base64 32`)") from None
    if len(data) != 32:
        raise KeyProblem(f"{key}: must be 32 bytes once decoded, got {len(data)} (try `openssl rand -base64 32`)")
    return data


def key_id(key: bytes) -> str:
    """A short public name for a key: not a hash of the key itself (that would help a guesser)."""
    return hmac.new(key, b"tpbridge key id", hashlib.sha256).hexdigest()[:8]


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tpbridge " + purpose).derive(key)


class Codec:
    """Seals and opens values and files; `blind` makes lookup and search terms."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self.key_id = key_id(key)
        self._aead = {key_id(k): AESGCM(_derive(k, b"values")) for k in (*old_keys, key)}
        self._current = self._aead[self.key_id]
        self._index_key: bytes | None = None

    def knows(self, kid: str) -> bool:
        return kid in self._aead

    # ------------------------------------------------------------ text values
    def seal(self, value: str | None) -> str | None:
        if value is None:
            return None
        nonce = os.urandom(_NONCE)
        sealed = self._current.encrypt(nonce, value.encode("utf-8"), self.key_id.encode())
        return f"{TEXT_PREFIX}{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, value: str) -> str:
        """A sealed value's text; anything else (plaintext from before encryption) as it is."""
        if not value.startswith(TEXT_PREFIX):
            return value
        kid, _, body = value[len(TEXT_PREFIX):].partition(":")
        aead = self._aead.get(kid)
        if aead is None:
            raise KeyProblem(f"store.encryption_key: a value is sealed under key id {kid}, which is not configured "
                            "(put the old key in [store] old_encryption_keys until `tpbridge key rotate` is done)")
        blob = base64.b64decode(body)
        try:
            return aead.decrypt(blob[:_NONCE], blob[_NONCE:], kid.encode()).decode("utf-8")
        except InvalidTag:
            raise KeyProblem(f"store.encryption_key: a value under key id {kid} does not authenticate") from None

    def is_current(self, value: str) -> bool:
        return value.startswith(f"{TEXT_PREFIX}{self.key_id}:")

    # ------------------------------------------------------------ files
    def seal_bytes(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return FILE_MAGIC + self.key_id.encode() + nonce + self._current.encrypt(nonce, data, self.key_id.encode())

    def open_bytes(self, data: bytes) -> bytes:
        if not data.startswith(FILE_MAGIC):
            return data
        head = len(FILE_MAGIC)
        kid = data[head:head + 8].decode()
        aead = self._aead.get(kid)
        if aead is None:
            raise KeyProblem(f"store.encryption_key: a file is sealed under key id {kid}, which is not configured")
        nonce = data[head + 8:head + 8 + _NONCE]
        return aead.decrypt(nonce, data[head + 8 + _NONCE:], kid.encode())

    def file_is_current(self, head: bytes) -> bool:
        return head.startswith(FILE_MAGIC + self.key_id.encode())

    # ------------------------------------------------------------ blind index
    def set_index_key(self, key: bytes) -> None:
        self._index_key = key

    def blind(self, term: str) -> str:
        """A keyed hash of a search term or an identifier (hex, 24 characters = 96 bits)."""
        assert self._index_key is not None, "the index key is unwrapped when the store opens"
        return hmac.new(self._index_key, term.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def load(key: str | None, old_keys: Sequence[str] = ()) -> Codec | None:
    """The codec for the configured keys, or None when encryption is off."""
    if not key:
        return None
    return Codec(parse_key(key), [parse_key(k, "store.old_encryption_keys") for k in old_keys])
