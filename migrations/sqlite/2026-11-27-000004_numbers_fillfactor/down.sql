-- PostgreSQL leaves free space in numbers pages for HOT updates (see the postgres
-- migration of the same name). SQLite has no fill factor; this keeps the two migration
-- lists in step.
SELECT 1;
