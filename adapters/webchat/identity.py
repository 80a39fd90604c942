"""Visitors the company's app vouches for: `identifier` + `identifier_hash` = HMAC-SHA256(identity_secret,
identifier), computed by the app's backend, as Chatwoot's and Intercom's identity verification do.

A verified user's visitor id is derived from the identifier, so every device and browser that signs
in as them gets the same identity, the same conversation and the same history; what the app says
about them (name, email, tier) is kept with the inbox and travels on each message they send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from tpbridge.adapters.base import Sink

PREFIX = "u-"  # anonymous visitor ids are random; a verified one is u-<base64url(identifier)>
MAX_IDENTIFIER = 200


class NotVerified(Exception):
    """The hash does not match: someone else's identifier, or a forged one."""


@dataclass(frozen=True, slots=True)
class Profile:
    identifier: str
    name: str | None = None
    email: str | None = None
    tier: str | None = None


def expected_hash(secret: str, identifier: str) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, identifier: str, given: str) -> None:
    expected = expected_hash(secret, identifier).encode()
    if not hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace")):
        raise NotVerified("identifier_hash does not match identifier")


def visitor_id(identifier: str) -> str:
    """Stable for the identifier; no `.` (the token's separator)."""
    return PREFIX + base64.urlsafe_b64encode(identifier.encode()).decode().rstrip("=")


def is_verified(visitor: str) -> bool:
    return visitor.startswith(PREFIX)


def anonymous_id() -> str:
    """Random, and never of a verified id's form: a verified user's token expires, an anonymous one's does not."""
    while is_verified(visitor := secrets.token_urlsafe(16)):
        pass
    return visitor


async def save(sink: Sink, visitor: str, profile: Profile) -> None:
    await sink.kv_set(f"profile:{visitor}", json.dumps(asdict(profile)))


async def load(sink: Sink, visitor: str) -> Profile | None:
    if not is_verified(visitor):
        return None  # an anonymous visitor has no profile: no store read on their messages
    raw = await sink.kv_get(f"profile:{visitor}")
    if not raw:
        return None
    data: dict[str, Any] = json.loads(raw)
    return Profile(str(data["identifier"]), data.get("name"), data.get("email"), data.get("tier"))
