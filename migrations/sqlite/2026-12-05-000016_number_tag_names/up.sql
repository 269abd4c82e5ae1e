-- A number's tag names, joined by U+001F (which no tag name may contain) in key order; NULL
-- without tags. A copy of what its tag links name, kept by the store's link writers
-- (store::tags): a page of numbers reads it with its rows instead of a subquery per row.
-- Tag names never change once created, so only link changes move it.
ALTER TABLE numbers ADD COLUMN tag_names TEXT;
UPDATE numbers SET tag_names = (
    SELECT string_agg(t.name, char(31) ORDER BY t.key)
    FROM number_tags x JOIN tags t ON t.id = x.tag_id
    WHERE x.number_id = numbers.id
) WHERE EXISTS (SELECT 1 FROM number_tags x WHERE x.number_id = numbers.id);
