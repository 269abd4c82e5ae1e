-- PostgreSQL-only tunings (fill factor, change announcements by trigger; see the postgres
-- migration of the same name). SQLite needs neither; this keeps the two lists in step.
SELECT 1;
