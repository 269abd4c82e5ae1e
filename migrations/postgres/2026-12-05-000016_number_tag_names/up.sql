-- A number's tag names, joined by U+001F (which no tag name may contain) in key order; NULL
-- without tags. A copy of what its tag links name, kept by the store's link writers
-- (store::tags): a page of numbers reads it with its rows, where a subquery per row cost
-- more than the page itself (0.33 against 0.14 ms of PostgreSQL's time for 50 rows).
-- Tag names never change once created, so only link changes move it.
ALTER TABLE numbers ADD COLUMN tag_names TEXT;
UPDATE numbers n SET tag_names = (
    SELECT string_agg(t.name, chr(31) ORDER BY t.key)
    FROM number_tags x JOIN tags t ON t.id = x.tag_id
    WHERE x.number_id = n.id
) WHERE EXISTS (SELECT 1 FROM number_tags x WHERE x.number_id = n.id);
