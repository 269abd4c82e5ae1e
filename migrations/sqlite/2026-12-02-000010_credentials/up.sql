-- Credentials that die when they should, and a lockout that holds under parallel guesses.
-- Keep in step with the other backend's migration of the same name.

-- Carried in every login JWT; raised when the account's password, role or scope changes,
-- so sessions issued before the change stop working at once.
ALTER TABLE admins ADD COLUMN credential_version BIGINT NOT NULL DEFAULT 1;

-- Guesses per (username, client address). A request claims a guess with a conditional
-- update on `claims` before it checks the password, so the limit holds whatever the
-- concurrency; rows exist for unknown usernames too, so the answers do not reveal which
-- accounts exist.
CREATE TABLE login_attempts (
    username_key TEXT NOT NULL,
    client TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    claims BIGINT NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    locked_by BIGINT,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (username_key, client)
);
CREATE INDEX login_attempts_updated_at ON login_attempts (updated_at);

-- The signing key is now derived from TELESTATE_SECRET_KEY; the plain-text one goes
-- (sessions issued with it end).
DELETE FROM settings WHERE key = 'jwt_signing_key';
