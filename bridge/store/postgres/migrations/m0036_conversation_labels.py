"""A conversation's labels, one row each, kept by a trigger: SQLite's migration 38 (the list's label filter)."""

from __future__ import annotations

VERSION = 36
DESCRIPTION = "conversation_labels: each conversation's labels, kept by a trigger (the list's label filter)"

SQL = """
CREATE TABLE IF NOT EXISTS conversation_labels (
    label text NOT NULL,
    conversation_id bigint NOT NULL,
    PRIMARY KEY (label, conversation_id)
);
CREATE OR REPLACE FUNCTION conversation_labels_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.labels NOT IN ('', '[]') THEN
        DELETE FROM conversation_labels WHERE conversation_id = OLD.id
            AND label IN (SELECT jsonb_array_elements_text(OLD.labels::jsonb));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.labels NOT IN ('', '[]') THEN
        INSERT INTO conversation_labels (label, conversation_id)
            SELECT DISTINCT v, NEW.id FROM jsonb_array_elements_text(NEW.labels::jsonb) v
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS conversation_labels_kept ON conversations;
CREATE TRIGGER conversation_labels_kept AFTER INSERT OR DELETE OR UPDATE OF labels ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversation_labels_kept();
-- After the trigger: creating it locked out writes to conversations until this commits (another instance
-- may be running), so no change of labels falls between what this reads and what the trigger keeps.
INSERT INTO conversation_labels (label, conversation_id)
    SELECT DISTINCT j.value, c.id FROM conversations c, jsonb_array_elements_text(c.labels::jsonb) j(value)
    WHERE c.labels NOT IN ('', '[]')
    ON CONFLICT DO NOTHING;
ANALYZE conversation_labels;
"""
