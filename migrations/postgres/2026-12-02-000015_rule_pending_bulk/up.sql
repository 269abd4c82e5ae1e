-- The rule_pending marks, written once per statement instead of once per row. The row
-- triggers called a SQL function per changed row — planned anew on each call — and made
-- the 100,000-user initial sync take 35 s instead of 15 s. Transition tables give each
-- statement's rows at once: one INSERT … ON CONFLICT per statement, the users of that
-- statement each once (an upsert may not touch a row twice). A stamp grows by one per
-- statement that changed the user, which is all a run needs: it forgets a user only at
-- the stamp it evaluated.
DROP TRIGGER rule_pending_user_insert ON directory_users;
DROP TRIGGER rule_pending_user_update ON directory_users;
DROP TRIGGER rule_pending_member_change ON group_members;
DROP TRIGGER rule_pending_group_update ON directory_groups;
DROP FUNCTION rule_pending_user();
DROP FUNCTION rule_pending_member();
DROP FUNCTION rule_pending_group();
DROP FUNCTION rule_pending_mark(TEXT);

CREATE FUNCTION rule_pending_users_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rule_pending (user_id, stamp)
        SELECT DISTINCT id, 1 FROM new_rows
        ON CONFLICT (user_id) DO UPDATE SET stamp = rule_pending.stamp + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rule_pending_user_insert AFTER INSERT ON directory_users
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rule_pending_users_inserted();

-- Only the facts rules read: a sync that rewrites a user unchanged marks nothing.
CREATE FUNCTION rule_pending_users_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rule_pending (user_id, stamp)
        SELECT DISTINCT n.id, 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE o.upn IS DISTINCT FROM n.upn
           OR o.department IS DISTINCT FROM n.department
           OR o.job_title IS DISTINCT FROM n.job_title
           OR o.office_location IS DISTINCT FROM n.office_location
           OR o.usage_location IS DISTINCT FROM n.usage_location
           OR o.city IS DISTINCT FROM n.city
           OR o.country IS DISTINCT FROM n.country
           OR o.account_enabled IS DISTINCT FROM n.account_enabled
           OR o.deleted IS DISTINCT FROM n.deleted
        ON CONFLICT (user_id) DO UPDATE SET stamp = rule_pending.stamp + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rule_pending_user_update AFTER UPDATE ON directory_users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rule_pending_users_updated();

CREATE FUNCTION rule_pending_members_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rule_pending (user_id, stamp)
        SELECT DISTINCT user_id, 1 FROM new_rows
        ON CONFLICT (user_id) DO UPDATE SET stamp = rule_pending.stamp + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rule_pending_member_insert AFTER INSERT ON group_members
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rule_pending_members_added();

CREATE FUNCTION rule_pending_members_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rule_pending (user_id, stamp)
        SELECT DISTINCT user_id, 1 FROM old_rows
        ON CONFLICT (user_id) DO UPDATE SET stamp = rule_pending.stamp + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rule_pending_member_delete AFTER DELETE ON group_members
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rule_pending_members_removed();

-- A group's name is a fact of each member (rules match groups by display name too).
CREATE FUNCTION rule_pending_groups_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rule_pending (user_id, stamp)
        SELECT DISTINCT m.user_id, 1
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        JOIN group_members m ON m.group_id = n.id
        WHERE o.display_name IS DISTINCT FROM n.display_name
           OR o.deleted IS DISTINCT FROM n.deleted
        ON CONFLICT (user_id) DO UPDATE SET stamp = rule_pending.stamp + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER rule_pending_group_update AFTER UPDATE ON directory_groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION rule_pending_groups_updated();
