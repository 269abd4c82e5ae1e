//! Installation-wide settings kept in the database, so every instance agrees on them.

use diesel::prelude::*;

use crate::{Conn, StoreResult, dialect, schema::settings};

/// The key under which the salt of the JWT signing key is kept. The salt is not secret:
/// the signing key is derived from it and the server's `TELESTATE_SECRET_KEY`, so a copy
/// of the database alone cannot mint login tokens. Deleting it rotates the signing key
/// (every login session ends) without changing the secret.
pub const JWT_KEY_SALT: &str = "jwt_key_salt";

/// The JWT signing key: derived from `secret` and the installation's salt (created on
/// first use). Every instance with the same secret over the same database derives the
/// same key.
pub fn jwt_signing_key(
    conn: &mut Conn,
    secret: &crate::secrets::SecretKey,
) -> StoreResult<Vec<u8>> {
    let salt = get_or_init(conn, JWT_KEY_SALT, crate::secrets::new_salt)?;
    Ok(secret.derive("telestate jwt signing key v1", &salt))
}

/// The key under which the salt of the platform-secret sealing key is kept. Not secret
/// either: the key is derived from it and `TELESTATE_SECRET_KEY`. Unlike the JWT salt,
/// deleting it (or changing the secret key) makes every sealed platform secret
/// unreadable: they must then be set again.
pub const PLATFORM_SECRETS_SALT: &str = "platform_secrets_salt";

/// The [`Sealer`](crate::secrets::Sealer) of platform secrets: its key derived from
/// `secret` and the installation's salt (created on first use), so every instance and
/// worker with the same secret over the same database opens what another sealed.
pub fn sealer(
    conn: &mut Conn,
    secret: &crate::secrets::SecretKey,
) -> StoreResult<crate::secrets::Sealer> {
    let salt = get_or_init(conn, PLATFORM_SECRETS_SALT, crate::secrets::new_salt)?;
    crate::secrets::Sealer::new(&secret.derive(crate::secrets::SEALER_LABEL, &salt))
}

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

/// Key of the global quarantine period, in days.
pub(crate) const DEFAULT_QUARANTINE_DAYS: &str = "default_quarantine_days";
/// Key of the default reservation lifetime, in days (absent: reservations do not expire).
pub(crate) const RESERVATION_DEFAULT_DAYS: &str = "reservation_default_days";

/// Key of the interval of scheduled full rule evaluations, in minutes (absent: none).
pub(crate) const RULES_EVALUATION_MINUTES: &str = "rules_evaluation_minutes";
/// Longest interval of scheduled rule evaluations: a week.
pub const MAX_RULES_EVALUATION_MINUTES: i64 = 10_080;

/// The lifecycle settings; defaults apply until an admin changes them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lifecycle {
    /// Days a number rests after unassignment (90 unless changed).
    pub default_quarantine_days: i64,
    /// Days a reservation lasts when the request gives no expiry; `None`: until released.
    pub reservation_default_days: Option<i64>,
    /// Per-location quarantine periods that override the default.
    pub location_quarantine_days: Vec<(i64, i64)>,
    /// Minutes between scheduled full evaluations of every rule over every user; `None`:
    /// only after delta syncs and by hand.
    pub rules_evaluation_minutes: Option<i64>,
}

/// Reads the lifecycle settings.
pub fn lifecycle(conn: &mut Conn) -> StoreResult<Lifecycle> {
    use crate::schema::locations;
    let q = get(conn, DEFAULT_QUARANTINE_DAYS)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(90);
    let r = get(conn, RESERVATION_DEFAULT_DAYS)?.and_then(|v| v.parse().ok());
    let rules = get(conn, RULES_EVALUATION_MINUTES)?.and_then(|v| v.parse().ok());
    let overrides: Vec<(i64, Option<i32>)> = locations::table
        .filter(locations::quarantine_days.is_not_null())
        .order(locations::id)
        .select((locations::id, locations::quarantine_days))
        .load(conn)?;
    Ok(Lifecycle {
        default_quarantine_days: q,
        reservation_default_days: r,
        location_quarantine_days: overrides
            .into_iter()
            .filter_map(|(id, d)| d.map(|d| (id, i64::from(d))))
            .collect(),
        rules_evaluation_minutes: rules,
    })
}

/// Changes to the lifecycle settings; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct LifecyclePatch {
    /// New global quarantine period.
    pub default_quarantine_days: Option<i64>,
    /// New default reservation lifetime, or `Some(None)` for none.
    pub reservation_default_days: Option<Option<i64>>,
    /// Per-location periods to set (`Some`) or remove (`None`).
    pub location_quarantine_days: Vec<(i64, Option<i64>)>,
    /// New interval of scheduled rule evaluations, or `Some(None)` for none.
    pub rules_evaluation_minutes: Option<Option<i64>>,
}

/// Applies and audits a change to the lifecycle settings.
pub fn update_lifecycle(
    conn: &mut Conn,
    permit: &domain::Permit,
    change: LifecyclePatch,
) -> StoreResult<Lifecycle> {
    use crate::schema::locations;
    if !permit.scope().is_unrestricted() {
        return Err(crate::StoreError::Forbidden {
            code: "out_of_scope",
            message: "settings apply to the whole estate; a grant limited to locations or tags cannot change them".into(),
        });
    }
    let before = lifecycle(conn)?;
    let now = crate::now();
    let days_ok = |field: String, d: i64| {
        if (0..=3650).contains(&d) {
            Ok(())
        } else {
            Err(crate::StoreError::invalid(
                "invalid_field",
                field,
                "must be between 0 and 3650 days",
            ))
        }
    };
    if let Some(d) = change.default_quarantine_days {
        days_ok(DEFAULT_QUARANTINE_DAYS.into(), d)?;
        dialect::put_setting(conn, DEFAULT_QUARANTINE_DAYS, &d.to_string(), now)?;
    }
    match change.reservation_default_days {
        Some(Some(d)) => {
            days_ok(RESERVATION_DEFAULT_DAYS.into(), d)?;
            if d == 0 {
                return Err(crate::StoreError::invalid(
                    "invalid_field",
                    RESERVATION_DEFAULT_DAYS,
                    "must be at least 1 day, or null for no expiry",
                ));
            }
            dialect::put_setting(conn, RESERVATION_DEFAULT_DAYS, &d.to_string(), now)?;
        }
        Some(None) => {
            diesel::delete(settings::table.find(RESERVATION_DEFAULT_DAYS)).execute(conn)?;
        }
        None => {}
    }
    match change.rules_evaluation_minutes {
        Some(Some(m)) => {
            if !(1..=MAX_RULES_EVALUATION_MINUTES).contains(&m) {
                return Err(crate::StoreError::invalid(
                    "invalid_field",
                    RULES_EVALUATION_MINUTES,
                    format!(
                        "must be between 1 and {MAX_RULES_EVALUATION_MINUTES} minutes, or null for no schedule"
                    ),
                ));
            }
            dialect::put_setting(conn, RULES_EVALUATION_MINUTES, &m.to_string(), now)?;
        }
        Some(None) => {
            diesel::delete(settings::table.find(RULES_EVALUATION_MINUTES)).execute(conn)?;
        }
        None => {}
    }
    for (location_id, days) in &change.location_quarantine_days {
        let field = format!("location_quarantine_days.{location_id}");
        if let Some(d) = days {
            days_ok(field.clone(), *d)?;
        }
        let n = diesel::update(locations::table.find(*location_id))
            .set(locations::quarantine_days.eq(days.map(|d| d as i32)))
            .execute(conn)?;
        if n == 0 {
            return Err(crate::StoreError::invalid(
                "unknown_location",
                field,
                format!("location {location_id} does not exist"),
            ));
        }
    }
    let after = lifecycle(conn)?;
    crate::audit::record(
        conn,
        permit,
        crate::audit::Change {
            action: "settings.update",
            entity_kind: "settings",
            entity_id: "lifecycle",
            before: crate::audit::snapshot(&before),
            after: crate::audit::snapshot(&after),
        },
    )?;
    Ok(after)
}
