"""Anonymous report rows of erased conversations (counts and times, no names), as SQLite's migration 15."""

from __future__ import annotations

VERSION = 15
DESCRIPTION = "anonymous report rows of erased conversations"

SQL = """
CREATE TABLE erased_conversations (
    id bigint PRIMARY KEY, inbox text, channel text, category text, language text, team text, status text,
    created_at double precision, resolved_at double precision, handoff_at double precision
);
CREATE INDEX idx_erased_conversations_created ON erased_conversations (created_at);
CREATE TABLE erased_cycles (LIKE automation_cycles);
CREATE TABLE erased_bot (LIKE automation_bot);
CREATE TABLE erased_surveys (LIKE automation_surveys);
"""
