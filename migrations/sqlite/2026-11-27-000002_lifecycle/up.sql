-- The assignment lifecycle: reservation, quarantine and assignment state on numbers;
-- services and the synced directory as assignment targets; the scheduler's lease;
-- idempotency records for POST actions. Keep in step with migrations/postgres.

ALTER TABLE numbers ADD COLUMN reserved_reason TEXT;
ALTER TABLE numbers ADD COLUMN reserved_for TEXT;
ALTER TABLE numbers ADD COLUMN reserved_by TEXT;
ALTER TABLE numbers ADD COLUMN reserved_until TIMESTAMP;
ALTER TABLE numbers ADD COLUMN quarantine_since TIMESTAMP;
ALTER TABLE numbers ADD COLUMN quarantine_until TIMESTAMP;
ALTER TABLE numbers ADD COLUMN quarantine_reason TEXT;
ALTER TABLE numbers ADD COLUMN previous_assignee TEXT;
ALTER TABLE numbers ADD COLUMN assigned_kind TEXT;
ALTER TABLE numbers ADD COLUMN assigned_id TEXT;
ALTER TABLE numbers ADD COLUMN assigned_name TEXT;
ALTER TABLE numbers ADD COLUMN assigned_at TIMESTAMP;
ALTER TABLE numbers ADD COLUMN assigned_by TEXT;
ALTER TABLE numbers ADD COLUMN provisioning_state TEXT;
ALTER TABLE numbers ADD COLUMN provisioning_error TEXT;
-- Partial: most numbers are neither assigned nor held, and a million empty index
-- entries would only slow range creation.
CREATE INDEX numbers_assignee ON numbers (assigned_kind, assigned_id) WHERE assigned_id IS NOT NULL;
CREATE INDEX numbers_reserved_until ON numbers (reserved_until) WHERE reserved_until IS NOT NULL;
CREATE INDEX numbers_quarantine_until ON numbers (quarantine_until) WHERE quarantine_until IS NOT NULL;
CREATE INDEX numbers_status ON numbers (status, e164);

ALTER TABLE locations ADD COLUMN quarantine_days INTEGER;

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    platform_id BIGINT REFERENCES platforms (id),
    external_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE directory_users (
    id TEXT PRIMARY KEY NOT NULL,
    upn TEXT NOT NULL,
    upn_key TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    mail TEXT,
    department TEXT,
    job_title TEXT,
    office_location TEXT,
    usage_location TEXT,
    city TEXT,
    country TEXT,
    account_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    last_synced_at TIMESTAMP NOT NULL
);
CREATE INDEX directory_users_department ON directory_users (department);
CREATE INDEX directory_users_display_name ON directory_users (display_name);

CREATE TABLE directory_groups (
    id TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL,
    mail TEXT,
    description TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    last_synced_at TIMESTAMP NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES directory_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES directory_users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE TABLE idempotency_keys (
    actor TEXT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (actor, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
