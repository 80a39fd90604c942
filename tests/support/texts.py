"""Text the tests feed the stores to find their limits."""

from __future__ import annotations


def incompressible(chars: int = 3000) -> str:
    """CJK that never repeats nearby, ~3 bytes a character: PostgreSQL compresses an index entry before it
    measures it, so only text like this reaches its ~2,700-byte limit (3,000 characters: ~9 KB)."""
    return "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(chars))
