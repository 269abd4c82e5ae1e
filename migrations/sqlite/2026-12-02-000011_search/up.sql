-- Search at a million numbers (store::search): every filter is answered by an index that
-- yields its rows in E.164 order, so a page reads only matching rows however the matches
-- are placed; free text goes through a trigram index.

-- A tag link carries its number's status and E.164, so that (tag, status, E.164) is one
-- index range: "available numbers tagged Sales", page after page, without visiting the
-- numbers of other tags. The E.164 of a number never changes; its status is copied by the
-- trigger below, whatever statement changes it.
CREATE TABLE number_tags_new (
    number_id BIGINT NOT NULL,
    tag_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    e164 TEXT NOT NULL,
    PRIMARY KEY (number_id, tag_id)
) WITHOUT ROWID;
INSERT INTO number_tags_new (number_id, tag_id, status, e164)
    SELECT nt.number_id, nt.tag_id, n.status, n.e164
    FROM number_tags nt JOIN numbers n ON n.id = nt.number_id;
DROP TABLE number_tags;
ALTER TABLE number_tags_new RENAME TO number_tags;
CREATE INDEX number_tags_search ON number_tags (tag_id, status, e164);

CREATE TRIGGER number_tags_follow_status AFTER UPDATE OF status ON numbers
    WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE number_tags SET status = NEW.status WHERE number_id = NEW.id;
END;

-- (column, status, E.164) for each filter on a column of numbers; platform and number type
-- are empty on most numbers, so only the numbers that have one are indexed.
DROP INDEX numbers_range_status;
CREATE INDEX numbers_range_status ON numbers (range_id, status, e164);
CREATE INDEX numbers_platform_status ON numbers (platform_id, status, e164) WHERE platform_id IS NOT NULL;
CREATE INDEX numbers_type_status ON numbers (number_type, status, e164) WHERE number_type IS NOT NULL;
CREATE INDEX numbers_country_status ON numbers (country, status, e164);
CREATE INDEX numbers_assigned_id ON numbers (assigned_id) WHERE assigned_id IS NOT NULL;
CREATE INDEX numbers_assigned_name ON numbers (lower(assigned_name)) WHERE assigned_name IS NOT NULL;

-- Free text (`q`): trigrams of the number, its description and its assignee's name. The
-- index holds no copy of the text (content = numbers); the triggers keep it in step.
CREATE VIRTUAL TABLE numbers_text USING fts5(
    e164, description, assigned_name,
    content = 'numbers', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO numbers_text (numbers_text) VALUES ('rebuild');

CREATE TRIGGER numbers_text_insert AFTER INSERT ON numbers
BEGIN
    INSERT INTO numbers_text (rowid, e164, description, assigned_name)
        VALUES (NEW.id, NEW.e164, NEW.description, NEW.assigned_name);
END;
CREATE TRIGGER numbers_text_delete AFTER DELETE ON numbers
BEGIN
    INSERT INTO numbers_text (numbers_text, rowid, e164, description, assigned_name)
        VALUES ('delete', OLD.id, OLD.e164, OLD.description, OLD.assigned_name);
END;
CREATE TRIGGER numbers_text_update AFTER UPDATE OF description, assigned_name ON numbers
    WHEN OLD.description IS NOT NEW.description OR OLD.assigned_name IS NOT NEW.assigned_name
BEGIN
    INSERT INTO numbers_text (numbers_text, rowid, e164, description, assigned_name)
        VALUES ('delete', OLD.id, OLD.e164, OLD.description, OLD.assigned_name);
    INSERT INTO numbers_text (rowid, e164, description, assigned_name)
        VALUES (NEW.id, NEW.e164, NEW.description, NEW.assigned_name);
END;
