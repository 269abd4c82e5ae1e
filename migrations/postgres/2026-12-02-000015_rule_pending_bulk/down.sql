DROP TRIGGER rule_pending_user_insert ON directory_users;
DROP TRIGGER rule_pending_user_update ON directory_users;
DROP TRIGGER rule_pending_member_insert ON group_members;
DROP TRIGGER rule_pending_member_delete ON group_members;
DROP TRIGGER rule_pending_group_update ON directory_groups;
DROP FUNCTION rule_pending_users_inserted();
DROP FUNCTION rule_pending_users_updated();
DROP FUNCTION rule_pending_members_added();
DROP FUNCTION rule_pending_members_removed();
DROP FUNCTION rule_pending_groups_updated();
CREATE FUNCTION rule_pending_mark(uid TEXT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO rule_pending (user_id, stamp) VALUES (uid, 1)
        ON CONFLICT (user_id) DO UPDATE SET stamp = rule_pending.stamp + 1;
$$;
CREATE FUNCTION rule_pending_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rule_pending_mark(NEW.id);
    RETURN NULL;
END $$;
CREATE FUNCTION rule_pending_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM rule_pending_mark(OLD.user_id);
    ELSE
        PERFORM rule_pending_mark(NEW.user_id);
    END IF;
    RETURN NULL;
END $$;
-- A group's name is a fact of each member (rules match groups by display name too).
CREATE FUNCTION rule_pending_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rule_pending (user_id, stamp)
        SELECT user_id, 1 FROM group_members WHERE group_id = NEW.id
        ON CONFLICT (user_id) DO UPDATE SET stamp = rule_pending.stamp + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER rule_pending_user_insert AFTER INSERT ON directory_users
    FOR EACH ROW EXECUTE FUNCTION rule_pending_user();
CREATE TRIGGER rule_pending_user_update AFTER UPDATE ON directory_users
    FOR EACH ROW WHEN (OLD.upn IS DISTINCT FROM NEW.upn
        OR OLD.department IS DISTINCT FROM NEW.department
        OR OLD.job_title IS DISTINCT FROM NEW.job_title
        OR OLD.office_location IS DISTINCT FROM NEW.office_location
        OR OLD.usage_location IS DISTINCT FROM NEW.usage_location
        OR OLD.city IS DISTINCT FROM NEW.city
        OR OLD.country IS DISTINCT FROM NEW.country
        OR OLD.account_enabled IS DISTINCT FROM NEW.account_enabled
        OR OLD.deleted IS DISTINCT FROM NEW.deleted)
    EXECUTE FUNCTION rule_pending_user();
CREATE TRIGGER rule_pending_member_change AFTER INSERT OR DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION rule_pending_member();
CREATE TRIGGER rule_pending_group_update AFTER UPDATE ON directory_groups
    FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name
        OR OLD.deleted IS DISTINCT FROM NEW.deleted)
    EXECUTE FUNCTION rule_pending_group();
