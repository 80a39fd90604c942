"""Who a channel lets the desk write to first: the rules behind `StartsConversations.may_start`.

Each adapter picks its rule here, so the reasons read the same on every channel and the core
never branches on the channel's kind.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parseaddr

from tpbridge.adapters.base import MAX_EMAIL, ChannelRule, Reach


def numeric_id(to: str) -> str:
    """A Telegram chat id or an X user id: digits (a Telegram group id may start with -)."""
    value = to.strip()
    if not value.lstrip("-").isdigit() or len(value) > 32:
        raise ValueError(f"{to[:40]!r} is not a numeric id")
    return value


def opaque_id(to: str) -> str:
    """An id the channel made up (a WeChat openid): any non-empty text without spaces."""
    value = to.strip()
    if not value or any(ch.isspace() for ch in value) or len(value) > 128:
        raise ValueError(f"{to[:40]!r} is not an id of this channel")
    return value


def email_address(to: str) -> str:
    """An e-mail address, lower-cased as identities store it."""
    _name, addr = parseaddr(to)
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or any(ch.isspace() for ch in addr) or len(addr) > MAX_EMAIL:
        raise ValueError(f"{to[:80]!r} is not an e-mail address")
    return addr.lower()


def require_written(reach: Reach, rule: str, message: str) -> None:
    """Only to people who wrote to this inbox before (Telegram: a bot cannot open a chat)."""
    if not reach.has_written:
        raise ChannelRule(rule, message)


def require_window(reach: Reach, key: str, rule: str, message: str) -> None:
    """Only while one of their conversations is inside the channel's reply window (`key` holds its end)."""
    for attrs in reach.conversation_attrs:
        ends = attrs.get(key)
        if isinstance(ends, str):
            try:
                if datetime.fromisoformat(ends.replace("Z", "+00:00")) > reach.now:
                    return
            except ValueError:
                continue
    raise ChannelRule(rule, message)


def require_private(reach: Reach, rule: str, message: str) -> None:
    """Only where a private conversation (a DM) exists: a public mention does not open DMs."""
    if not any(attrs.get("public") is False for attrs in reach.conversation_attrs):
        raise ChannelRule(rule, message)
