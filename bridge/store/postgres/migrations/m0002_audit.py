"""The audit trail (bridge/audit.py): append-only, hash-chained, as SQLite's migration 14.

Triggers refuse UPDATE and DELETE. `audit_state` holds the last id issued and the newest hash:
appending locks that one row, so the entries of several instances form one chain in one order,
and deleting the newest entries shows as a gap below `last_id`.
"""

from __future__ import annotations

VERSION = 2
DESCRIPTION = "audit trail: append-only, each entry carries the hash of the previous one"

SQL = """
CREATE TABLE audit_log (
    id bigint PRIMARY KEY, at double precision NOT NULL, agent_id bigint, agent text, action text NOT NULL,
    object text, address text, detail text NOT NULL DEFAULT '{}', prev_hash text NOT NULL, hash text NOT NULL
);
CREATE INDEX idx_audit_log_action ON audit_log (action, id);
CREATE INDEX idx_audit_log_agent ON audit_log (agent_id, id);
CREATE TABLE audit_state (id integer PRIMARY KEY CHECK (id = 1), last_id bigint NOT NULL, last_hash text);
INSERT INTO audit_state (id, last_id, last_hash) VALUES (1, 0, NULL);
CREATE FUNCTION tpb_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION tpb_audit_append_only();
"""
