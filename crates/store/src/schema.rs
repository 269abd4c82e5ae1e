//! Diesel's view of the tables; must match both trees under `migrations/`.
//!
//! Only types that diesel's `MultiConnection` carries portably appear here (BigInt, Integer,
//! Text, Timestamp); flags and JSON are stored as integers and text.

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    locations (id) {
        id -> BigInt,
        name -> Text,
        name_key -> Text,
        country -> Text,
        region -> Nullable<Text>,
        city -> Nullable<Text>,
        address -> Nullable<Text>,
        emergency_location_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        quarantine_days -> Nullable<Integer>,
    }
}

diesel::table! {
    platforms (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        created_at -> Timestamp,
        tenant_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        client_secret_env -> Nullable<Text>,
        client_secret_sealed -> Nullable<Text>,
        graph_base_url -> Nullable<Text>,
        login_base_url -> Nullable<Text>,
        sync_interval_seconds -> Nullable<Integer>,
        url -> Nullable<Text>,
        signing_secret_sealed -> Nullable<Text>,
        version -> BigInt,
        updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        name -> Text,
        key -> Text,
    }
}

diesel::table! {
    ranges (id) {
        id -> BigInt,
        name -> Nullable<Text>,
        start_number -> Text,
        end_number -> Text,
        first_value -> BigInt,
        last_value -> BigInt,
        digit_count -> Integer,
        country -> Text,
        size -> BigInt,
        location_id -> Nullable<BigInt>,
        platform_id -> Nullable<BigInt>,
        number_type -> Nullable<Text>,
        description -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    range_tags (range_id, tag_id) {
        range_id -> BigInt,
        tag_id -> BigInt,
    }
}

diesel::table! {
    numbers (id) {
        id -> BigInt,
        e164 -> Text,
        base -> Text,
        extension -> Nullable<Text>,
        country -> Text,
        status -> Text,
        range_id -> Nullable<BigInt>,
        location_id -> Nullable<BigInt>,
        platform_id -> Nullable<BigInt>,
        number_type -> Nullable<Text>,
        description -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        reserved_reason -> Nullable<Text>,
        reserved_for -> Nullable<Text>,
        reserved_by -> Nullable<Text>,
        reserved_until -> Nullable<Timestamp>,
        quarantine_since -> Nullable<Timestamp>,
        quarantine_until -> Nullable<Timestamp>,
        quarantine_reason -> Nullable<Text>,
        previous_assignee -> Nullable<Text>,
        assigned_kind -> Nullable<Text>,
        assigned_id -> Nullable<Text>,
        assigned_name -> Nullable<Text>,
        assigned_at -> Nullable<Timestamp>,
        assigned_by -> Nullable<Text>,
        provisioning_state -> Nullable<Text>,
        provisioning_error -> Nullable<Text>,
        assigned_rule_id -> Nullable<BigInt>,
        tag_names -> Nullable<Text>,
    }
}

diesel::table! {
    number_tags (number_id, tag_id) {
        number_id -> BigInt,
        tag_id -> BigInt,
        status -> Text,
        e164 -> Text,
    }
}

diesel::table! {
    admins (id) {
        id -> BigInt,
        username -> Text,
        username_key -> Text,
        password_hash -> Text,
        role -> Text,
        scope_locations -> Text,
        scope_tags -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        credential_version -> BigInt,
    }
}

diesel::table! {
    login_attempts (username_key, client) {
        username_key -> Text,
        client -> Text,
        failures -> Integer,
        claims -> BigInt,
        locked_until -> Nullable<Timestamp>,
        locked_by -> Nullable<BigInt>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        role -> Text,
        scope_locations -> Text,
        scope_tags -> Text,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_by -> Text,
        last_used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Text,
        actor_name -> Text,
        action -> Text,
        entity_kind -> Text,
        entity_id -> Text,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        request_id -> Nullable<Text>,
        source -> Text,
        change_set_id -> Nullable<Text>,
    }
}

diesel::table! {
    services (id) {
        id -> BigInt,
        name -> Text,
        name_key -> Text,
        kind -> Text,
        platform_id -> Nullable<BigInt>,
        external_id -> Nullable<Text>,
        description -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    directory_users (id) {
        id -> Text,
        upn -> Text,
        upn_key -> Text,
        display_name -> Text,
        mail -> Nullable<Text>,
        department -> Nullable<Text>,
        job_title -> Nullable<Text>,
        office_location -> Nullable<Text>,
        usage_location -> Nullable<Text>,
        city -> Nullable<Text>,
        country -> Nullable<Text>,
        account_enabled -> Bool,
        deleted -> Bool,
        last_synced_at -> Timestamp,
        platform_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    directory_groups (id) {
        id -> Text,
        display_name -> Text,
        mail -> Nullable<Text>,
        description -> Nullable<Text>,
        deleted -> Bool,
        last_synced_at -> Timestamp,
        platform_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (actor, key) {
        actor -> Text,
        key -> Text,
        method -> Text,
        path -> Text,
        body_hash -> Text,
        status -> Integer,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    import_plans (id) {
        id -> Text,
        status -> Text,
        kind -> Text,
        source_change_set -> Nullable<Text>,
        created_by -> Text,
        created_by_name -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        summary -> Text,
        file_errors -> Text,
        error_count -> BigInt,
        row_count -> BigInt,
        change_set_id -> Nullable<Text>,
        applied_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    import_plan_rows (plan_id, line) {
        plan_id -> Text,
        line -> BigInt,
        number -> Text,
        expected_version -> Nullable<BigInt>,
        changes -> Text,
        errors -> Text,
    }
}

diesel::table! {
    platform_sync (platform_id) {
        platform_id -> BigInt,
        users_delta_link -> Nullable<Text>,
        groups_delta_link -> Nullable<Text>,
        requested_at -> Nullable<Timestamp>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        duration_ms -> Nullable<BigInt>,
        full_sync -> Bool,
        users_changed -> BigInt,
        users_removed -> BigInt,
        groups_changed -> BigInt,
        memberships -> BigInt,
        error -> Nullable<Text>,
        teams_numbers_at -> Nullable<Timestamp>,
        teams_numbers -> BigInt,
    }
}

diesel::table! {
    teams_numbers (platform_id, e164) {
        platform_id -> BigInt,
        e164 -> Text,
        number_type -> Nullable<Text>,
        assignment_target_id -> Nullable<Text>,
        assignment_status -> Nullable<Text>,
        activation_state -> Nullable<Text>,
        location_id -> Nullable<Text>,
        iso_country_code -> Nullable<Text>,
    }
}

diesel::table! {
    provisioning_jobs (id) {
        id -> BigInt,
        platform_id -> BigInt,
        number_id -> BigInt,
        e164 -> Text,
        action -> Text,
        target_kind -> Nullable<Text>,
        target_id -> Nullable<Text>,
        target_name -> Nullable<Text>,
        number_type -> Nullable<Text>,
        emergency_location_id -> Nullable<Text>,
        previous_target_id -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        run_after -> Timestamp,
        lease_holder -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        operation -> Nullable<Text>,
        last_error -> Nullable<Text>,
        created_by -> Text,
        change_set_id -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rules (id) {
        id -> BigInt,
        name -> Text,
        name_key -> Text,
        priority -> BigInt,
        enabled -> Bool,
        condition_json -> Text,
        action_json -> Text,
        leaver_policy -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rule_runs (id) {
        id -> BigInt,
        run_trigger -> Text,
        status -> Text,
        requested_by -> Text,
        holder -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        users_evaluated -> BigInt,
        assigned -> BigInt,
        unassigned -> BigInt,
        skipped -> BigInt,
        errors -> BigInt,
        items_not_shown -> BigInt,
        change_set_id -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    rule_run_rules (run_id, rule_id) {
        run_id -> BigInt,
        rule_id -> BigInt,
        rule_name -> Text,
        matched -> BigInt,
        assigned -> BigInt,
        unassigned -> BigInt,
        skipped -> BigInt,
        errors -> BigInt,
    }
}

diesel::table! {
    rule_run_items (run_id, seq) {
        run_id -> BigInt,
        seq -> BigInt,
        user_id -> Text,
        upn -> Text,
        rule_id -> Nullable<BigInt>,
        kind -> Text,
        number -> Nullable<Text>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    rule_pending (user_id) {
        user_id -> Text,
        stamp -> BigInt,
    }
}

diesel::joinable!(group_members -> directory_groups (group_id));
diesel::joinable!(group_members -> directory_users (user_id));
diesel::joinable!(number_tags -> numbers (number_id));
diesel::joinable!(number_tags -> tags (tag_id));
diesel::joinable!(range_tags -> ranges (range_id));
diesel::joinable!(range_tags -> tags (tag_id));
diesel::joinable!(numbers -> locations (location_id));
diesel::joinable!(numbers -> ranges (range_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    locations,
    platforms,
    tags,
    ranges,
    range_tags,
    numbers,
    number_tags,
    admins,
    api_tokens,
    audit_log,
    import_plans,
    import_plan_rows,
    platform_sync,
    teams_numbers,
    provisioning_jobs,
    directory_users,
    directory_groups,
    group_members,
    rules,
    rule_runs,
    rule_run_rules,
    rule_run_items,
    rule_pending,
);
