"""Each label's conversations in activity order: the list filtered by a label reads its page from an index.

Through migration 36 alone, a label's page either read every carrier and sorted them (a rare label) or walked
all conversations newest first probing the label (a common one): 0.3-0.6 ms on top of a tab's ~0.5 at a desk's
size (bench/README.md D22). Now `conversation_labels` carries its conversation's activity time, kept by
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
-- A label row takes its conversation's activity when migration 36's trigger writes it (the conversation's row
-- is written by then: that trigger runs after it) ...
CREATE OR REPLACE FUNCTION conversation_label_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT last_activity_at INTO NEW.last_activity_at FROM conversations WHERE id = NEW.conversation_id;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS conversation_label_activity ON conversation_labels;
CREATE TRIGGER conversation_label_activity BEFORE INSERT ON conversation_labels FOR EACH ROW
    EXECUTE FUNCTION conversation_label_activity();
-- ... and follows it when it changes.
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
