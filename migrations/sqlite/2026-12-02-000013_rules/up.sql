-- Assignment rules (issue 12): the rules, their runs, the users whose directory facts
-- changed since they were last evaluated, and which rule gave a number.
-- Keep in step with the other backend's migration of the same name.

-- One row per rule. The condition and the action are the domain's draft shapes as JSON
-- (`domain::rules::RuleDraft`); name and priority are columns so the database keeps
-- them unique.
CREATE TABLE rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    priority BIGINT NOT NULL UNIQUE,
    enabled BOOLEAN NOT NULL,
    condition_json TEXT NOT NULL,
    action_json TEXT NOT NULL,
    leaver_policy TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The rule whose allocation gave an assigned number; cleared by every other assign,
-- reassign or unassign, so a rule's leaver policy only ever takes back its own numbers.
ALTER TABLE numbers ADD COLUMN assigned_rule_id BIGINT;

-- One evaluation: a delta run after a sync, a manual or a scheduled full run. A queued
-- run is claimed by one worker (holder + lease); its changes are one change set.
CREATE TABLE rule_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    run_trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    holder TEXT,
    lease_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    users_evaluated BIGINT NOT NULL DEFAULT 0,
    assigned BIGINT NOT NULL DEFAULT 0,
    unassigned BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    items_not_shown BIGINT NOT NULL DEFAULT 0,
    change_set_id TEXT NOT NULL,
    error TEXT
);
CREATE INDEX rule_runs_status ON rule_runs (status, id);
CREATE INDEX rule_runs_trigger ON rule_runs (run_trigger, created_at);

-- What a run did per rule (a row for every rule the run evaluated).
CREATE TABLE rule_run_rules (
    run_id BIGINT NOT NULL REFERENCES rule_runs (id) ON DELETE CASCADE,
    rule_id BIGINT NOT NULL,
    rule_name TEXT NOT NULL,
    matched BIGINT NOT NULL DEFAULT 0,
    assigned BIGINT NOT NULL DEFAULT 0,
    unassigned BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, rule_id)
);
CREATE INDEX rule_run_rules_rule ON rule_run_rules (rule_id, run_id);

-- A run's lines: numbers assigned and unassigned, users skipped (with the reason) and
-- errors, the first RUN_ITEMS_KEPT of them; the rest are counted on the run.
CREATE TABLE rule_run_items (
    run_id BIGINT NOT NULL REFERENCES rule_runs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    upn TEXT NOT NULL,
    rule_id BIGINT,
    kind TEXT NOT NULL,
    number TEXT,
    reason TEXT,
    PRIMARY KEY (run_id, seq)
);

-- Users whose facts changed since rules last looked at them. Written by triggers, so no
-- path that changes the directory (the sync, the demo, a test) can forget it; `stamp`
-- grows with each change, and a run removes a user only at the stamp it evaluated.
CREATE TABLE rule_pending (
    user_id TEXT PRIMARY KEY NOT NULL,
    stamp BIGINT NOT NULL
);

CREATE TRIGGER rule_pending_user_insert AFTER INSERT ON directory_users
BEGIN
    INSERT INTO rule_pending (user_id, stamp) VALUES (NEW.id, 1)
        ON CONFLICT (user_id) DO UPDATE SET stamp = stamp + 1;
END;
CREATE TRIGGER rule_pending_user_update AFTER UPDATE ON directory_users
    WHEN OLD.upn IS NOT NEW.upn OR OLD.department IS NOT NEW.department
        OR OLD.job_title IS NOT NEW.job_title OR OLD.office_location IS NOT NEW.office_location
        OR OLD.usage_location IS NOT NEW.usage_location OR OLD.city IS NOT NEW.city
        OR OLD.country IS NOT NEW.country OR OLD.account_enabled IS NOT NEW.account_enabled
        OR OLD.deleted IS NOT NEW.deleted
BEGIN
    INSERT INTO rule_pending (user_id, stamp) VALUES (NEW.id, 1)
        ON CONFLICT (user_id) DO UPDATE SET stamp = stamp + 1;
END;
CREATE TRIGGER rule_pending_member_insert AFTER INSERT ON group_members
BEGIN
    INSERT INTO rule_pending (user_id, stamp) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET stamp = stamp + 1;
END;
CREATE TRIGGER rule_pending_member_delete AFTER DELETE ON group_members
BEGIN
    INSERT INTO rule_pending (user_id, stamp) VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET stamp = stamp + 1;
END;
-- A group's name is a fact of each member (rules match groups by display name too).
CREATE TRIGGER rule_pending_group_update AFTER UPDATE ON directory_groups
    WHEN OLD.display_name IS NOT NEW.display_name OR OLD.deleted IS NOT NEW.deleted
BEGIN
    INSERT INTO rule_pending (user_id, stamp)
        SELECT user_id, 1 FROM group_members WHERE group_id = NEW.id
        ON CONFLICT (user_id) DO UPDATE SET stamp = stamp + 1;
END;
