ALTER TABLE numbers RESET (fillfactor);
