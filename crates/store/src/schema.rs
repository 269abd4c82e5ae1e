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
    }
}

diesel::table! {
    platforms (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        created_at -> Timestamp,
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
    }
}

diesel::table! {
    number_tags (number_id, tag_id) {
        number_id -> BigInt,
        tag_id -> BigInt,
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
);
