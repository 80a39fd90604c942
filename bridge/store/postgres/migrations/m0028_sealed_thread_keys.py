"""conversations.thread_key_sealed, as SQLite's migration 28 (the PostgreSQL store does not encrypt yet; the
column keeps the two schemas alike for `tpbridge store copy`)."""

from __future__ import annotations

VERSION = 28
DESCRIPTION = "conversations.thread_key_sealed (encryption at rest)"

SQL = "ALTER TABLE conversations ADD COLUMN IF NOT EXISTS thread_key_sealed text;"
