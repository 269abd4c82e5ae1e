//! Admin accounts: local users with argon2 password hashes, a role and a scope.
//!
//! Failed logins are counted per account; after [`LOCK_AFTER`] in a row the account is
//! locked for a period that doubles with each further failure, in the database, so every
//! instance enforces it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use domain::{Actor, ActorKind, Permit, Principal, Role, Scope, Source, Tag};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    page::{self, Page},
    schema::{admins, locations},
    secrets,
};

/// Consecutive failures before an account locks.
pub(crate) const LOCK_AFTER: i32 = 5;
/// The first lock period; it doubles per further failure, up to [`MAX_LOCK_SECONDS`].
pub(crate) const BASE_LOCK_SECONDS: i64 = 30;
/// The longest lock period.
pub(crate) const MAX_LOCK_SECONDS: i64 = 900;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admins)]
struct AdminRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    scope_locations: String,
    scope_tags: String,
    failed_logins: i32,
    locked_until: Option<NaiveDateTime>,
    last_login_at: Option<NaiveDateTime>,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// An admin account as shown (never with its hash).
#[derive(Debug, Clone, Serialize)]
pub struct Admin {
    /// Row id, exposed as a string.
    pub id: i64,
    /// Login name as entered.
    pub username: String,
    /// The grant's level.
    pub role: Role,
    /// Location ids the grant covers (empty: all).
    pub scope_locations: Vec<String>,
    /// Tag keys the grant covers (empty: all).
    pub scope_tags: Vec<String>,
    /// Last successful login.
    #[serde(serialize_with = "crate::utc::ser_opt")]
    pub last_login_at: Option<NaiveDateTime>,
    /// Locked against logins until then.
    #[serde(serialize_with = "crate::utc::ser_opt")]
    pub locked_until: Option<NaiveDateTime>,
    /// Increases on every change.
    pub version: i64,
    /// When it was created.
    #[serde(serialize_with = "crate::utc::ser")]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[serde(serialize_with = "crate::utc::ser")]
    pub updated_at: NaiveDateTime,
}

impl TryFrom<AdminRow> for Admin {
    type Error = StoreError;
    fn try_from(r: AdminRow) -> StoreResult<Admin> {
        Ok(Admin {
            id: r.id,
            username: r.username,
            role: crate::error::stored("admins.role", &r.role)?,
            scope_locations: serde_json::from_str(&r.scope_locations).unwrap_or_default(),
            scope_tags: serde_json::from_str(&r.scope_tags).unwrap_or_default(),
            last_login_at: r.last_login_at,
            locked_until: r.locked_until,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl Admin {
    /// The principal this account acts as.
    pub fn principal(&self) -> StoreResult<Principal> {
        Ok(Principal {
            actor: Actor {
                kind: ActorKind::Admin,
                id: self.id.to_string(),
                name: self.username.clone(),
            },
            role: self.role,
            scope: Scope {
                locations: self.scope_locations.clone(),
                tags: self.scope_tags.clone(),
            },
        })
    }
}

/// Checks a grant's scope: locations must exist, tags must be valid, owners take none.
/// Returns the scope with tag keys normalised. Shared by admin accounts and API tokens.
pub(crate) fn check_scope(
    conn: &mut Conn,
    role: Role,
    locations_in: &[String],
    tags_in: &[String],
) -> StoreResult<Scope> {
    if role == Role::Owner && !(locations_in.is_empty() && tags_in.is_empty()) {
        return Err(StoreError::invalid(
            "owner_scoped",
            "scope",
            "owners are never scoped; choose admin or a lower role for a scoped grant",
        ));
    }
    let mut loc_ids = Vec::new();
    for (i, l) in locations_in.iter().enumerate() {
        let id: i64 = l.trim().parse().map_err(|_| {
            StoreError::invalid(
                "unknown_location",
                format!("scope.locations[{i}]"),
                format!("'{l}' is not a location id"),
            )
        })?;
        let n: i64 = locations::table
            .filter(locations::id.eq(id))
            .count()
            .get_result(conn)?;
        if n == 0 {
            return Err(StoreError::invalid(
                "unknown_location",
                format!("scope.locations[{i}]"),
                format!("location {id} does not exist"),
            ));
        }
        if !loc_ids.contains(&id.to_string()) {
            loc_ids.push(id.to_string());
        }
    }
    let tags = Tag::parse_set(tags_in)
        .map_err(|e| StoreError::invalid("invalid_tag", "scope.tags", e.to_string()))?;
    Ok(Scope {
        locations: loc_ids,
        tags: tags.iter().map(|t| t.key().to_string()).collect(),
    })
}

fn require_govern(permit: &Permit) -> StoreResult<()> {
    if permit.role() == Role::Owner {
        Ok(())
    } else {
        Err(StoreError::Forbidden {
            code: "forbidden",
            message: "only owners manage admin accounts and tokens".into(),
        })
    }
}

/// An account to create; the password is hashed by [`secrets::hash_password`] beforehand,
/// outside the transaction, because argon2 is deliberately slow.
#[derive(Debug, Clone)]
pub struct NewAdmin {
    /// Login name.
    pub username: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Location ids (strings) of the scope.
    pub scope_locations: Vec<String>,
    /// Tags of the scope.
    pub scope_tags: Vec<String>,
}

fn check_username(username: &str) -> StoreResult<String> {
    domain::username::check(username)
        .map(str::to_string)
        .map_err(|e| StoreError::invalid("invalid_username", "username", e.to_string()))
}

fn load(conn: &mut Conn, id: i64) -> StoreResult<AdminRow> {
    admins::table
        .find(id)
        .select(AdminRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("admin", id))
}

/// How many accounts exist (first start creates the owner when there are none).
pub fn count(conn: &mut Conn) -> StoreResult<i64> {
    Ok(admins::table.count().get_result(conn)?)
}

/// Creates an account.
pub fn create(conn: &mut Conn, permit: &Permit, new: NewAdmin) -> StoreResult<Admin> {
    require_govern(permit)?;
    let username = check_username(&new.username)?;
    let scope = check_scope(conn, new.role, &new.scope_locations, &new.scope_tags)?;
    let key = username.to_lowercase();
    let taken: i64 = admins::table
        .filter(admins::username_key.eq(&key))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(StoreError::Conflict {
            code: "username_taken",
            message: format!("the username '{username}' is taken"),
            details: serde_json::json!({"field": "username"}),
        });
    }
    let now = crate::now();
    diesel::insert_into(admins::table)
        .values((
            admins::username.eq(&username),
            admins::username_key.eq(&key),
            admins::password_hash.eq(&new.password_hash),
            admins::role.eq(new.role.as_str()),
            admins::scope_locations.eq(serde_json::to_string(&scope.locations).unwrap_or_default()),
            admins::scope_tags.eq(serde_json::to_string(&scope.tags).unwrap_or_default()),
            admins::created_at.eq(now),
            admins::updated_at.eq(now),
        ))
        .execute(conn)?;
    let row: AdminRow = admins::table
        .filter(admins::username_key.eq(&key))
        .select(AdminRow::as_select())
        .first(conn)?;
    let created = Admin::try_from(row)?;
    let eid = created.id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "admin.create",
            entity_kind: "admin",
            entity_id: &eid,
            before: None,
            after: audit::snapshot(&created),
        },
    )?;
    Ok(created)
}

/// One account.
pub fn get(conn: &mut Conn, id: i64) -> StoreResult<Admin> {
    load(conn, id).and_then(Admin::try_from)
}

/// Accounts ordered by id.
pub fn list(conn: &mut Conn, cursor: Option<&str>, limit: Option<i64>) -> StoreResult<Page<Admin>> {
    let limit = page::limit(limit)?;
    let mut q = admins::table
        .select(AdminRow::as_select())
        .order(admins::id.asc())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(admins::id.gt(page::decode_id(c)?));
    }
    let rows = q
        .limit(limit + 1)
        .load(conn)?
        .into_iter()
        .map(Admin::try_from)
        .collect::<StoreResult<Vec<Admin>>>()?;
    Ok(page::finish(rows, limit, |a| a.id.to_string()))
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    /// New role.
    pub role: Option<Role>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New scope locations.
    pub scope_locations: Option<Vec<String>>,
    /// New scope tags.
    pub scope_tags: Option<Vec<String>>,
}

fn owners(conn: &mut Conn) -> StoreResult<i64> {
    Ok(admins::table
        .filter(admins::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)?)
}

/// Edits an account; the last owner cannot be demoted.
pub fn update(conn: &mut Conn, permit: &Permit, id: i64, change: AdminPatch) -> StoreResult<Admin> {
    require_govern(permit)?;
    let before = get(conn, id)?;
    let role = change.role.unwrap_or(before.role);
    if before.role == Role::Owner && role != Role::Owner && owners(conn)? <= 1 {
        return Err(StoreError::conflict(
            "last_owner",
            "this is the last owner; make another account owner first",
        ));
    }
    let locs = change
        .scope_locations
        .clone()
        .unwrap_or_else(|| before.scope_locations.clone());
    let tags = change
        .scope_tags
        .clone()
        .unwrap_or_else(|| before.scope_tags.clone());
    let (locs, tags) =
        if role == Role::Owner && change.scope_locations.is_none() && change.scope_tags.is_none() {
            (vec![], vec![])
        } else {
            (locs, tags)
        };
    let scope = check_scope(conn, role, &locs, &tags)?;
    let now = crate::now();
    diesel::update(admins::table.find(id))
        .set((
            admins::role.eq(role.as_str()),
            admins::scope_locations.eq(serde_json::to_string(&scope.locations).unwrap_or_default()),
            admins::scope_tags.eq(serde_json::to_string(&scope.tags).unwrap_or_default()),
            admins::version.eq(before.version + 1),
            admins::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(hash) = &change.password_hash {
        diesel::update(admins::table.find(id))
            .set((
                admins::password_hash.eq(hash),
                admins::failed_logins.eq(0),
                admins::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
    }
    let after = get(conn, id)?;
    let eid = id.to_string();
    let mut after_json = audit::snapshot(&after);
    if let (Some(serde_json::Value::Object(m)), true) =
        (after_json.as_mut(), change.password_hash.is_some())
    {
        m.insert("password_changed".into(), true.into());
    }
    audit::record(
        conn,
        permit,
        Change {
            action: "admin.update",
            entity_kind: "admin",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: after_json,
        },
    )?;
    Ok(after)
}

/// Deletes an account; nobody deletes themselves, and the last owner stays.
pub fn delete(conn: &mut Conn, permit: &Permit, id: i64) -> StoreResult<()> {
    require_govern(permit)?;
    let before = get(conn, id)?;
    if permit.actor().kind == ActorKind::Admin && permit.actor().id == id.to_string() {
        return Err(StoreError::conflict(
            "cannot_delete_self",
            "you cannot delete your own account",
        ));
    }
    if before.role == Role::Owner && owners(conn)? <= 1 {
        return Err(StoreError::conflict(
            "last_owner",
            "this is the last owner; make another account owner first",
        ));
    }
    diesel::delete(admins::table.find(id)).execute(conn)?;
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "admin.delete",
            entity_kind: "admin",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: None,
        },
    )
}

/// The outcome of a password check.
#[derive(Debug)]
pub enum Login {
    /// The password matched; here is the account.
    Ok(Admin),
    /// Wrong username or password (deliberately not told apart).
    Failed,
    /// Too many failures; try again after this instant.
    Locked(NaiveDateTime),
}

/// Checks a username and password, records the outcome (counters, lock, audit), and
/// says whether the caller may have a token. Runs the slow hash outside any transaction.
pub fn login(
    db: &crate::Db,
    username: &str,
    password: &str,
    request_id: Option<&str>,
) -> StoreResult<Login> {
    let key = username.trim().to_lowercase();
    let row: Option<AdminRow> = db.read(|c| {
        Ok(admins::table
            .filter(admins::username_key.eq(&key))
            .select(AdminRow::as_select())
            .first(c)
            .optional()?)
    })?;
    let now = crate::now();
    let Some(row) = row else {
        secrets::verify_password(password, secrets::decoy_hash());
        db.write(|c| {
            record_login(
                c,
                None,
                username,
                "auth.login_failed",
                request_id,
                serde_json::json!({"reason": "unknown_username"}),
            )
        })?;
        return Ok(Login::Failed);
    };
    if let Some(until) = row.locked_until.filter(|u| *u > now) {
        db.write(|c| {
            record_login(
                c,
                Some(&row),
                username,
                "auth.login_refused",
                request_id,
                serde_json::json!({"reason": "locked", "locked_until": until}),
            )
        })?;
        return Ok(Login::Locked(until));
    }
    if !secrets::verify_password(password, &row.password_hash) {
        let failures = row.failed_logins + 1;
        let lock = (failures >= LOCK_AFTER).then(|| {
            let exp = (failures - LOCK_AFTER).min(10) as u32;
            now + Duration::seconds((BASE_LOCK_SECONDS * 2i64.pow(exp)).min(MAX_LOCK_SECONDS))
        });
        db.write(|c| {
            diesel::update(admins::table.find(row.id)).set((admins::failed_logins.eq(admins::failed_logins + 1), admins::locked_until.eq(lock))).execute(c)?;
            record_login(c, Some(&row), username, "auth.login_failed", request_id, serde_json::json!({"reason": "wrong_password", "failed_logins": failures, "locked_until": lock}))
        })?;
        return Ok(match lock {
            Some(until) => Login::Locked(until),
            None => Login::Failed,
        });
    }
    db.write(|c| {
        diesel::update(admins::table.find(row.id))
            .set((
                admins::failed_logins.eq(0),
                admins::locked_until.eq(None::<NaiveDateTime>),
                admins::last_login_at.eq(Some(now)),
            ))
            .execute(c)?;
        record_login(
            c,
            Some(&row),
            username,
            "auth.login",
            request_id,
            serde_json::json!({}),
        )
    })?;
    Ok(Login::Ok(db.read(|c| get(c, row.id))?))
}

fn record_login(
    conn: &mut Conn,
    row: Option<&AdminRow>,
    username: &str,
    action: &str,
    request_id: Option<&str>,
    after: serde_json::Value,
) -> StoreResult<()> {
    let actor = match row {
        Some(r) => Actor {
            kind: ActorKind::Admin,
            id: r.id.to_string(),
            name: r.username.clone(),
        },
        None => Actor {
            kind: ActorKind::System,
            id: "anonymous".into(),
            name: username.chars().take(100).collect(),
        },
    };
    let eid = row.map(|r| r.id.to_string()).unwrap_or_default();
    audit::record_as(
        conn,
        &actor,
        Source::Api,
        request_id,
        None,
        Change {
            action,
            entity_kind: "auth",
            entity_id: &eid,
            before: None,
            after: Some(after),
        },
    )
}
