//! Installation-wide settings kept in the database, so every instance agrees on them.

use diesel::prelude::*;

use crate::{Conn, StoreResult, dialect, schema::settings};

/// The key under which the JWT signing secret is kept.
pub const JWT_SIGNING_KEY: &str = "jwt_signing_key";

/// Reads a setting.
pub fn get(conn: &mut Conn, key: &str) -> StoreResult<Option<String>> {
    Ok(settings::table
        .find(key)
        .select(settings::value)
        .first(conn)
        .optional()?)
}

/// Returns the setting, storing `make()` first if it is absent; when several instances
/// race, the first insert wins and every instance reads the same value.
pub fn get_or_init(
    conn: &mut Conn,
    key: &str,
    make: impl FnOnce() -> String,
) -> StoreResult<String> {
    if let Some(v) = get(conn, key)? {
        return Ok(v);
    }
    dialect::insert_setting_if_absent(conn, key, &make(), crate::now())?;
    get(conn, key)?.ok_or_else(|| crate::StoreError::Internal(format!("setting {key} vanished")))
}
