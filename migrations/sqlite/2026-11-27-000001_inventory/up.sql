-- The governed inventory: sites, tags, ranges, numbers, accounts, tokens, settings, audit.
-- Keep in step with migrations/postgres (same folder names; a store test checks it).

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE locations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    region TEXT,
    city TEXT,
    address TEXT,
    emergency_location_id TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE platforms (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE
);

CREATE TABLE ranges (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT,
    start_number TEXT NOT NULL UNIQUE,
    end_number TEXT NOT NULL,
    first_value BIGINT NOT NULL,
    last_value BIGINT NOT NULL,
    digit_count INTEGER NOT NULL,
    country TEXT NOT NULL,
    size BIGINT NOT NULL,
    location_id BIGINT REFERENCES locations (id),
    platform_id BIGINT REFERENCES platforms (id),
    number_type TEXT,
    description TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX ranges_bounds ON ranges (digit_count, first_value, last_value);

CREATE TABLE range_tags (
    range_id BIGINT NOT NULL REFERENCES ranges (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags (id),
    PRIMARY KEY (range_id, tag_id)
) WITHOUT ROWID;

CREATE TABLE numbers (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    e164 TEXT NOT NULL UNIQUE,
    base TEXT NOT NULL,
    extension TEXT,
    country TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'available',
    -- No foreign keys on numbers and number_tags: per-row FK triggers tripled the time to
    -- materialise a 1,000,000-number range on PostgreSQL. The store checks these references
    -- in the writing transaction instead, locking the referenced row (store::dialect::lock_ref).
    range_id BIGINT,
    location_id BIGINT,
    platform_id BIGINT,
    number_type TEXT,
    description TEXT NOT NULL DEFAULT '',
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX numbers_location_status ON numbers (location_id, status, e164);
CREATE INDEX numbers_range_status ON numbers (range_id, status);

CREATE TABLE number_tags (
    number_id BIGINT NOT NULL,
    tag_id BIGINT NOT NULL,
    PRIMARY KEY (number_id, tag_id)
) WITHOUT ROWID;
CREATE INDEX number_tags_tag ON number_tags (tag_id, number_id);

CREATE TABLE admins (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    scope_locations TEXT NOT NULL DEFAULT '[]',
    scope_tags TEXT NOT NULL DEFAULT '[]',
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_login_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    role TEXT NOT NULL,
    scope_locations TEXT NOT NULL DEFAULT '[]',
    scope_tags TEXT NOT NULL DEFAULT '[]',
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    created_by TEXT NOT NULL,
    last_used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    request_id TEXT,
    source TEXT NOT NULL,
    change_set_id TEXT
);
CREATE INDEX audit_entity ON audit_log (entity_kind, entity_id, id);
CREATE INDEX audit_actor ON audit_log (actor_id, id);
CREATE INDEX audit_action ON audit_log (action, id);
CREATE INDEX audit_at ON audit_log (at);

-- Audit records are append-only: no path through the database may change or remove one.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
