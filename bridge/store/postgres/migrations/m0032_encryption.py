"""Encryption at rest on PostgreSQL, as SQLite's migrations 16 and 17: which key the store is under and
where the re-seal pass stands (crypto_state), and the sealed copies of channel ids kept beside their keyed
hashes (identities.external_id_sealed, messages.external_id_sealed)."""

from __future__ import annotations

VERSION = 32
DESCRIPTION = "encryption at rest: crypto_state, sealed channel ids of identities and messages"

SQL = """
CREATE TABLE IF NOT EXISTS crypto_state (
    id integer PRIMARY KEY CHECK (id = 1),
    key_id text NOT NULL,
    index_key text NOT NULL,
    pending integer NOT NULL DEFAULT 0,
    pass_table integer NOT NULL DEFAULT 0,
    pass_after bigint NOT NULL DEFAULT 0,
    started_at double precision,
    finished_at double precision
);
ALTER TABLE identities ADD COLUMN IF NOT EXISTS external_id_sealed text;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS external_id_sealed text;
"""
