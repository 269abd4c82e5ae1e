-- Leave a tenth of each numbers page free, so that an update that changes no indexed
-- column (a description, an import's field edits) stays on its page as a HOT update and
-- touches none of the table's eight indexes. Applying a 100,000-line import went from
-- 6.7 s to 5.6 s. Pages written before this keep their old fill until rewritten.
-- PostgreSQL only: SQLite has no equivalent (and no such cost).
ALTER TABLE numbers SET (fillfactor = 90);
