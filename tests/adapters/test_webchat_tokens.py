"""Visitor tokens: an anonymous visitor's lasts, a verified user's expires — checked or cached alike."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from tpbridge.adapters.webchat.api import VisitorTokens
from tpbridge.adapters.webchat.identity import anonymous_id, is_verified, visitor_id


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def taken_by(token: str, clock: Clock) -> str | None:
    """Whom a fresh copy of the tokens (nothing cached) takes the token for."""
    fresh = VisitorTokens(clock=clock)
    fresh.open("visitor-secret")
    return fresh.visitor(make_mocked_request("GET", "/chat/api/messages", headers={"Authorization": f"Bearer {token}"}))


def asks(tokens: VisitorTokens, token: str) -> str | None:
    return tokens.visitor(make_mocked_request("GET", f"/chat/api/events?token={token}"))


def test_a_verified_users_token_expires_and_an_anonymous_visitors_does_not() -> None:
    clock = Clock()
    tokens = VisitorTokens(clock=clock)
    tokens.open("visitor-secret")
    user, visitor = visitor_id("user-42"), anonymous_id()
    verified, anonymous = tokens.sign(user, lifetime=3600), tokens.sign(visitor)
    assert verified.startswith("v2.") and anonymous.startswith("v1.")
    assert asks(tokens, verified) == user and asks(tokens, anonymous) == visitor  # now cached
    clock.now += 3599
    assert asks(tokens, verified) == user and taken_by(verified, clock) == user
    clock.now += 1
    assert asks(tokens, verified) is None and taken_by(verified, clock) is None  # the cached answer expires too
    clock.now += 10 * 365 * 86400
    assert asks(tokens, anonymous) == visitor and taken_by(anonymous, clock) == visitor


def test_a_token_cannot_be_stretched_forged_or_made_permanent() -> None:
    clock = Clock()
    tokens = VisitorTokens(clock=clock)
    tokens.open("visitor-secret")
    user = visitor_id("user-42")
    token = tokens.sign(user, lifetime=3600)
    _, vid, expires, mac = token.split(".")
    later = str(int(expires) + 86400)
    assert taken_by(f"v2.{vid}.{later}.{mac}", clock) is None  # the expiry is signed
    assert taken_by(f"v2.{visitor_id('user-43')}.{expires}.{mac}", clock) is None  # so is the user
    assert taken_by(f"v1.{vid}.{mac}", clock) is None
    # A v1 token for a verified id — what tokens of verified users were before they expired — is refused,
    # though its signature is right.
    assert taken_by(tokens.sign(user), clock) is None
    other = VisitorTokens(clock=clock)
    other.open("another-secret")
    assert taken_by(other.sign(user, lifetime=3600), clock) is None
    for bad in (f"v2.{vid}.{'١' * 10}.{mac}", f"v2.{vid}.{'9' * 40}.{mac}", f"v2.{vid}.-1.{mac}",
                f"v2.{vid}.{expires}", "v2....", "v3.x.1.y", "", "v1.x", "v2.x.1.y.z"):
        assert taken_by(bad, clock) is None, bad


def test_anonymous_ids_never_look_verified() -> None:
    ids = [anonymous_id() for _ in range(20_000)]  # unfiltered, one would begin with `u-` 99 times in 100
    assert not any(map(is_verified, ids)) and len(set(ids)) == len(ids)
