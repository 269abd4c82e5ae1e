-- Bulk writers may hold the per-row trigger that keeps the free-text index in step, and
-- write that index themselves in rowid order (store::dialect::with_search_held). FTS5
-- flushes its pending terms to a new segment whenever a rowid is written that is not above
-- the last one written, and the trigger's delete-then-insert of the same rowid does that
-- on every row: adopting 50,000 assignments cost 50,000 segment flushes and merges.
-- The hold is set and cleared inside one write transaction, so no other connection ever
-- sees it set.
CREATE TABLE search_hold (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    held INTEGER NOT NULL CHECK (held IN (0, 1))
);
INSERT INTO search_hold (id, held) VALUES (1, 0);

DROP TRIGGER numbers_text_update;
CREATE TRIGGER numbers_text_update AFTER UPDATE OF description, assigned_name ON numbers
    WHEN (OLD.description IS NOT NEW.description OR OLD.assigned_name IS NOT NEW.assigned_name)
     AND (SELECT held FROM search_hold WHERE id = 1) = 0
BEGIN
    INSERT INTO numbers_text (numbers_text, rowid, e164, description, assigned_name)
        VALUES ('delete', OLD.id, OLD.e164, OLD.description, OLD.assigned_name);
    INSERT INTO numbers_text (rowid, e164, description, assigned_name)
        VALUES (NEW.id, NEW.e164, NEW.description, NEW.assigned_name);
END;
