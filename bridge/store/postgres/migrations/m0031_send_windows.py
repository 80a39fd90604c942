"""Send-rate windows and channel pauses shared by the instances (bridge/send_windows.py); PostgreSQL only:
the SQLite store has one process and keeps them in memory."""

from __future__ import annotations

VERSION = 31
DESCRIPTION = "send_windows: send pacing and channel pauses shared by every instance"

SQL = """
CREATE TABLE IF NOT EXISTS send_windows (
    key text PRIMARY KEY,
    tat double precision NOT NULL,
    paused_until double precision NOT NULL DEFAULT 0
);
"""
