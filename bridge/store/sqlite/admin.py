"""Inbox administration queries (canned responses, contact merges, ...): owned by the inbox web app."""

from __future__ import annotations

from tpbridge.bridge.store.sqlite.base import SqliteBase


class AdminStore(SqliteBase):
    pass
