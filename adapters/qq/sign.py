"""QQ's webhook signatures: ed25519 with a key derived from the bot secret.

The 32-byte seed is the secret repeated until long enough, then cut (bot-docs
interface-framework/sign.md). Dispatches are signed over `timestamp + body`; the
callback URL check (op 13) is answered by signing `event_ts + plain_token`.
"""

from __future__ import annotations

import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def private_key(secret: str) -> Ed25519PrivateKey:
    seed = secret
    while len(seed) < 32:
        seed = seed * 2
    return Ed25519PrivateKey.from_private_bytes(seed[:32].encode())


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return key.sign(message).hex()


def verify(key: Ed25519PrivateKey, signature_hex: str, message: bytes) -> bool:
    try:
        signature = binascii.unhexlify(signature_hex)
    except (binascii.Error, ValueError):
        return False
    if len(signature) != 64 or signature[63] & 224:
        return False
    try:
        key.public_key().verify(signature, message)
    except InvalidSignature:
        return False
    return True
