DROP TABLE login_attempts;
ALTER TABLE admins DROP COLUMN credential_version;
