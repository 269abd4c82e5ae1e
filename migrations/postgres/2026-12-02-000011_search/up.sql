-- Search at a million numbers (store::search): every filter is answered by an index that
-- yields its rows in E.164 order, so a page reads only matching rows however the matches
-- are placed; free text goes through trigram indexes (pg_trgm, a trusted extension: the
-- database's owner may create it).

-- A tag link carries its number's status and E.164, so that (tag, status, E.164) is one
-- index range: "available numbers tagged Sales", page after page, without visiting the
-- numbers of other tags. The E.164 of a number never changes; its status is copied by the
-- trigger below, whatever statement changes it.
ALTER TABLE number_tags ADD COLUMN status TEXT, ADD COLUMN e164 TEXT;
UPDATE number_tags nt SET status = n.status, e164 = n.e164 FROM numbers n WHERE n.id = nt.number_id;
ALTER TABLE number_tags ALTER COLUMN status SET NOT NULL, ALTER COLUMN e164 SET NOT NULL;
DROP INDEX number_tags_tag;
CREATE INDEX number_tags_search ON number_tags (tag_id, status, e164) INCLUDE (number_id);

CREATE FUNCTION number_tags_follow_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE number_tags SET status = NEW.status WHERE number_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER number_tags_follow_status AFTER UPDATE OF status ON numbers
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION number_tags_follow_status();

-- (column, status, E.164) for each filter on a column of numbers; platform and number type
-- are empty on most numbers, so only the numbers that have one are indexed.
DROP INDEX numbers_range_status;
CREATE INDEX numbers_range_status ON numbers (range_id, status, e164);
CREATE INDEX numbers_platform_status ON numbers (platform_id, status, e164) WHERE platform_id IS NOT NULL;
CREATE INDEX numbers_type_status ON numbers (number_type, status, e164) WHERE number_type IS NOT NULL;
CREATE INDEX numbers_country_status ON numbers (country, status, e164);
CREATE INDEX numbers_assigned_id ON numbers (assigned_id) WHERE assigned_id IS NOT NULL;
CREATE INDEX numbers_assigned_name ON numbers (lower(assigned_name)) WHERE assigned_name IS NOT NULL;

-- Free text (`q`): trigrams of the number, its description and its assignee's name.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX numbers_e164_trgm ON numbers USING gin (e164 gin_trgm_ops);
CREATE INDEX numbers_description_trgm ON numbers USING gin (lower(description) gin_trgm_ops) WHERE description <> '';
CREATE INDEX numbers_assigned_name_trgm ON numbers USING gin (lower(assigned_name) gin_trgm_ops) WHERE assigned_name IS NOT NULL;
