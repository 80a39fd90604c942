"""Each label's conversations in activity order: the list filtered by a label reads its page from an index.

Through migration 36 alone, a label's page either read every carrier and sorted them (a rare label) or walked
all conversations newest first probing the label (a common one): 0.3-0.6 ms on top of a tab's ~0.5 at a desk's
size (bench/README.md D22). Now `conversation_labels` carries its conversation's activity time, kept by the
triggers in the same transaction as the conversation's row, so the list takes the newest carriers from
(label, activity). Writing a message to a labelled conversation updates its label rows too; the check that
skips an unlabelled one is the trigger's WHEN, which runs without calling the function. PostgreSQL only: the
SQLite store's label filter is under 1 ms without it.
"""

from __future__ import annotations

VERSION = 38
DESCRIPTION = "conversation_labels.last_activity_at: each label's conversations in activity order (the label filter)"

SQL = """
ALTER TABLE conversation_labels ADD COLUMN IF NOT EXISTS last_activity_at double precision NOT NULL DEFAULT 0;
CREATE OR REPLACE FUNCTION conversation_labels_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.labels NOT IN ('', '[]') THEN
        DELETE FROM conversation_labels WHERE conversation_id = OLD.id
            AND label IN (SELECT jsonb_array_elements_text(OLD.labels::jsonb));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.labels NOT IN ('', '[]') THEN
        INSERT INTO conversation_labels (label, conversation_id, last_activity_at)
            SELECT DISTINCT v, NEW.id, NEW.last_activity_at FROM jsonb_array_elements_text(NEW.labels::jsonb) v
            ON CONFLICT (label, conversation_id) DO UPDATE SET last_activity_at = excluded.last_activity_at;
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION conversation_labels_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_labels SET last_activity_at = NEW.last_activity_at WHERE conversation_id = NEW.id
        AND label IN (SELECT jsonb_array_elements_text(NEW.labels::jsonb));
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS conversation_labels_moved ON conversations;
CREATE TRIGGER conversation_labels_moved AFTER UPDATE OF last_activity_at ON conversations FOR EACH ROW
    WHEN (NEW.labels NOT IN ('', '[]') AND NEW.last_activity_at IS DISTINCT FROM OLD.last_activity_at)
    EXECUTE FUNCTION conversation_labels_moved();
-- After the trigger (creating it locks out writes to conversations until this commits): nothing moves between.
UPDATE conversation_labels l SET last_activity_at = c.last_activity_at FROM conversations c
    WHERE c.id = l.conversation_id;
ALTER TABLE conversation_labels ALTER COLUMN last_activity_at DROP DEFAULT;
CREATE INDEX IF NOT EXISTS conversation_labels_activity
    ON conversation_labels (label, last_activity_at, conversation_id);
ANALYZE conversation_labels;
"""
