-- PostgreSQL only (statement-level triggers with transition tables; SQLite has row
-- triggers only). Kept so both trees list the same steps.
SELECT 1;
