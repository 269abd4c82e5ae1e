-- SQLite only (its FTS5 text index and the trigger that feeds it): PostgreSQL's trigram
-- indexes follow the numbers table by themselves. Kept so both trees list the same steps.
SELECT 1;
