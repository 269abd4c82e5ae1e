-- Microsoft Teams (issue 11): platform settings, directory sync state, a snapshot of
-- Teams' number assignments for drift, and provisioning jobs.
-- Keep in step with the other backend's migration of the same name.

-- Platform settings. Secrets are sealed (AEAD under a key derived from
-- TELESTATE_SECRET_KEY), never stored in clear, never returned.
ALTER TABLE platforms ADD COLUMN tenant_id TEXT;
ALTER TABLE platforms ADD COLUMN client_id TEXT;
ALTER TABLE platforms ADD COLUMN client_secret_env TEXT;
ALTER TABLE platforms ADD COLUMN client_secret_sealed TEXT;
ALTER TABLE platforms ADD COLUMN graph_base_url TEXT;
ALTER TABLE platforms ADD COLUMN login_base_url TEXT;
ALTER TABLE platforms ADD COLUMN sync_interval_seconds INTEGER;
ALTER TABLE platforms ADD COLUMN url TEXT;
ALTER TABLE platforms ADD COLUMN signing_secret_sealed TEXT;
ALTER TABLE platforms ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE platforms ADD COLUMN updated_at TIMESTAMP;
UPDATE platforms SET updated_at = created_at;

-- Which tenant a directory object came from, so a full sync can flag exactly the
-- objects of its own tenant that Entra no longer lists.
ALTER TABLE directory_users ADD COLUMN platform_id BIGINT;
ALTER TABLE directory_groups ADD COLUMN platform_id BIGINT;
CREATE INDEX directory_users_platform ON directory_users (platform_id, last_synced_at);
CREATE INDEX directory_groups_platform ON directory_groups (platform_id, last_synced_at);

-- One row per Teams platform: delta links, the last run, and a request for the next.
CREATE TABLE platform_sync (
    platform_id BIGINT PRIMARY KEY NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    users_delta_link TEXT,
    groups_delta_link TEXT,
    requested_at TIMESTAMP,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    duration_ms BIGINT,
    full_sync BOOLEAN NOT NULL DEFAULT FALSE,
    users_changed BIGINT NOT NULL DEFAULT 0,
    users_removed BIGINT NOT NULL DEFAULT 0,
    groups_changed BIGINT NOT NULL DEFAULT 0,
    memberships BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    teams_numbers_at TIMESTAMP,
    teams_numbers BIGINT NOT NULL DEFAULT 0
);

-- Teams' numberAssignments as last listed by the worker: drift is a join of this and
-- the inventory, so the API never calls Graph.
CREATE TABLE teams_numbers (
    platform_id BIGINT NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    e164 TEXT NOT NULL,
    number_type TEXT,
    assignment_target_id TEXT,
    assignment_status TEXT,
    activation_state TEXT,
    location_id TEXT,
    iso_country_code TEXT,
    PRIMARY KEY (platform_id, e164)
);

-- A change a platform must carry out: written in the transaction of the assign,
-- reassign or unassign that caused it; claimed by one worker at a time under a lease.
CREATE TABLE provisioning_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    platform_id BIGINT NOT NULL,
    number_id BIGINT NOT NULL,
    e164 TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT,
    target_id TEXT,
    target_name TEXT,
    number_type TEXT,
    emergency_location_id TEXT,
    previous_target_id TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after TIMESTAMP NOT NULL,
    lease_holder TEXT,
    lease_until TIMESTAMP,
    operation TEXT,
    last_error TEXT,
    created_by TEXT NOT NULL,
    change_set_id TEXT,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
CREATE INDEX provisioning_jobs_runnable ON provisioning_jobs (state, run_after);
CREATE INDEX provisioning_jobs_number ON provisioning_jobs (number_id, state);
CREATE INDEX provisioning_jobs_platform ON provisioning_jobs (platform_id, state, id);
CREATE INDEX provisioning_jobs_e164 ON provisioning_jobs (e164, id);
