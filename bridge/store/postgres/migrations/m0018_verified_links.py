"""A merge the person proved with a one-time code (verified), as SQLite's migration 18."""

from __future__ import annotations

VERSION = 18
DESCRIPTION = "contacts.merge_verified: merged by a one-time code from both channels"

SQL = "ALTER TABLE contacts ADD COLUMN merge_verified integer NOT NULL DEFAULT 0;"
