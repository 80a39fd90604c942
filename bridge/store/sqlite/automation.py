"""Queries for support automation (bot state, queue, surveys, reports): owned by bridge/automation."""

from __future__ import annotations

from tpbridge.bridge.store.sqlite.base import SqliteBase


class AutomationStore(SqliteBase):
    pass
