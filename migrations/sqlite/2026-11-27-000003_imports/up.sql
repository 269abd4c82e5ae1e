-- CSV imports and change-set reverts: a plan is computed and stored first (nothing else
-- changes), then applied by id in one transaction. Keep in step with migrations/postgres.

CREATE TABLE import_plans (
    id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_change_set TEXT,
    created_by TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    summary TEXT NOT NULL,
    file_errors TEXT NOT NULL,
    error_count BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    change_set_id TEXT,
    applied_at TIMESTAMP
);
CREATE INDEX import_plans_expires ON import_plans (expires_at);

-- Only rows with changes or errors are stored; `expected_version` is the number's version
-- when planned (NULL for a create), so apply can refuse a plan the estate moved under.
CREATE TABLE import_plan_rows (
    plan_id TEXT NOT NULL,
    line BIGINT NOT NULL,
    number TEXT NOT NULL,
    expected_version BIGINT,
    changes TEXT NOT NULL,
    errors TEXT NOT NULL,
    PRIMARY KEY (plan_id, line)
);

CREATE INDEX audit_change_set ON audit_log (change_set_id, id) WHERE change_set_id IS NOT NULL;
