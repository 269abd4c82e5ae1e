DROP TRIGGER numbers_text_update;
CREATE TRIGGER numbers_text_update AFTER UPDATE OF description, assigned_name ON numbers
    WHEN OLD.description IS NOT NEW.description OR OLD.assigned_name IS NOT NEW.assigned_name
BEGIN
    INSERT INTO numbers_text (numbers_text, rowid, e164, description, assigned_name)
        VALUES ('delete', OLD.id, OLD.e164, OLD.description, OLD.assigned_name);
    INSERT INTO numbers_text (rowid, e164, description, assigned_name)
        VALUES (NEW.id, NEW.e164, NEW.description, NEW.assigned_name);
END;
DROP TABLE search_hold;
