ALTER TABLE numbers DROP COLUMN tag_names;
