DROP TRIGGER numbers_text_update;
DROP TRIGGER numbers_text_delete;
DROP TRIGGER numbers_text_insert;
DROP TABLE numbers_text;
DROP INDEX numbers_assigned_name;
DROP INDEX numbers_assigned_id;
DROP INDEX numbers_country_status;
DROP INDEX numbers_type_status;
DROP INDEX numbers_platform_status;
DROP INDEX numbers_range_status;
CREATE INDEX numbers_range_status ON numbers (range_id, status);
DROP TRIGGER number_tags_follow_status;
CREATE TABLE number_tags_old (
    number_id BIGINT NOT NULL,
    tag_id BIGINT NOT NULL,
    PRIMARY KEY (number_id, tag_id)
) WITHOUT ROWID;
INSERT INTO number_tags_old (number_id, tag_id) SELECT number_id, tag_id FROM number_tags;
DROP TABLE number_tags;
ALTER TABLE number_tags_old RENAME TO number_tags;
CREATE INDEX number_tags_tag ON number_tags (tag_id, number_id);
