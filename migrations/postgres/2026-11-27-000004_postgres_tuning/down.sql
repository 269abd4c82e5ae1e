DROP TRIGGER audit_log_announce ON audit_log;
DROP FUNCTION audit_log_announce();
ALTER TABLE numbers RESET (fillfactor);
