//! Admin accounts: local users with argon2 password hashes, a role and a scope.
//!
//! Password guesses are counted per (username, client address) in `login_attempts`, in
//! the database, so every instance enforces the same limit. A request *claims* its guess
//! with a conditional update before the password is checked, so however many requests
//! arrive at once, at most `max_failures` passwords are checked before the pair locks
//! (for 30 s, doubling per further failure up to 15 min). Unknown usernames get rows and
//! locks too, so no answer tells whether an account exists; and a lock holds for one
//! client address only, so nobody can lock an owner out from elsewhere.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use domain::{Actor, ActorKind, Permit, Principal, Role, Scope, Source, Tag};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    page::{self, Page},
    schema::{admins, locations, login_attempts},
    secrets,
};

/// Password checks per (username, client address) before it locks, unless configured.
pub const DEFAULT_MAX_FAILURES: i32 = 5;
/// The first lock period; it doubles per further failure, up to [`MAX_LOCK_SECONDS`].
pub(crate) const BASE_LOCK_SECONDS: i64 = 30;
/// The longest lock period; as long a quiet spell (no guess, no lock) starts a new window.
pub(crate) const MAX_LOCK_SECONDS: i64 = 900;
/// `login_attempts` rows untouched this long are forgotten.
const ATTEMPTS_KEPT_HOURS: i64 = 24;
/// Conditional claims tried before a request gives up on a contended pair (each failed
/// try means another request claimed a guess; the limit is reached within a few).
const CLAIM_TRIES: usize = 32;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admins)]
struct AdminRow {
    id: i64,
    username: String,
    password_hash: String,
    role: String,
    scope_locations: String,
    scope_tags: String,
    locked_until: Option<NaiveDateTime>,
    last_login_at: Option<NaiveDateTime>,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    credential_version: i64,
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
    /// Carried in login tokens; raised when the password, role or scope changes, which
    /// ends every session issued before.
    pub credential_version: i64,
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
            credential_version: r.credential_version,
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
    /// The version the caller saw (`If-Match`); a different current version is 412.
    pub expected_version: Option<i64>,
}

fn owners(conn: &mut Conn) -> StoreResult<i64> {
    Ok(admins::table
        .filter(admins::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)?)
}

/// Times an edit without `If-Match` is decided again after a concurrent edit won.
const UPDATE_TRIES: usize = 3;

/// Edits an account; the last owner cannot be demoted. The write is conditional on the
/// version read (`WHERE version = ?`), so a concurrent edit is never overwritten: with
/// `expected_version` it answers 412, without it the edit is decided again on the fresh
/// row. A new password, role or scope raises the credential version, which ends the
/// account's sessions; a new password also lifts its login locks.
pub fn update(conn: &mut Conn, permit: &Permit, id: i64, change: AdminPatch) -> StoreResult<Admin> {
    require_govern(permit)?;
    for _ in 0..UPDATE_TRIES {
        let before = get(conn, id)?;
        if let Some(expected) = change.expected_version
            && expected != before.version
        {
            return Err(StoreError::Stale {
                expected,
                current: before.version,
            });
        }
        if let Some(after) = update_from(conn, permit, &before, &change)? {
            return Ok(after);
        }
        if let Some(expected) = change.expected_version {
            let current = get(conn, id)?.version;
            return Err(StoreError::Stale { expected, current });
        }
    }
    Err(StoreError::conflict(
        "concurrent_change",
        "the account kept changing while this edit was made; retry",
    ))
}

/// One try of [`update`] against `before`; `None` when a concurrent edit changed the row.
fn update_from(
    conn: &mut Conn,
    permit: &Permit,
    before: &Admin,
    change: &AdminPatch,
) -> StoreResult<Option<Admin>> {
    let id = before.id;
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
    let credentials_change = change.password_hash.is_some()
        || role != before.role
        || scope.locations != before.scope_locations
        || scope.tags != before.scope_tags;
    let now = crate::now();
    let written = diesel::update(
        admins::table
            .filter(admins::id.eq(id))
            .filter(admins::version.eq(before.version)),
    )
    .set((
        admins::role.eq(role.as_str()),
        admins::scope_locations.eq(serde_json::to_string(&scope.locations).unwrap_or_default()),
        admins::scope_tags.eq(serde_json::to_string(&scope.tags).unwrap_or_default()),
        admins::version.eq(before.version + 1),
        admins::credential_version.eq(admins::credential_version + i64::from(credentials_change)),
        admins::updated_at.eq(now),
    ))
    .execute(conn)?;
    if written == 0 {
        return Ok(None);
    }
    // The guarded update above holds the row (PostgreSQL) or the writer lock (SQLite).
    if let Some(hash) = &change.password_hash {
        diesel::update(admins::table.find(id))
            .set((
                admins::password_hash.eq(hash),
                admins::failed_logins.eq(0),
                admins::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        let key: String = admins::table
            .find(id)
            .select(admins::username_key)
            .first(conn)?;
        diesel::delete(login_attempts::table.filter(login_attempts::username_key.eq(key)))
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
            before: audit::snapshot(before),
            after: after_json,
        },
    )?;
    Ok(Some(after))
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
    /// Too many failures from this client for this username; try again after this instant.
    Locked(NaiveDateTime),
}

/// Who is trying to log in, and from where.
#[derive(Debug, Clone)]
pub struct LoginAttempt<'a> {
    /// The username as typed.
    pub username: &'a str,
    /// The client's address as the server sees it (the lock applies per address).
    pub client: &'a str,
    /// The request, for the audit trail.
    pub request_id: Option<&'a str>,
    /// Password checks per (username, client) before it locks.
    pub max_failures: i32,
}

/// What [`begin_login`] decided.
#[derive(Debug)]
pub enum Begin {
    /// Locked for this client; no password is checked. Try again after this instant.
    Refused(NaiveDateTime),
    /// A guess is claimed: check the password ([`PendingLogin::verify`]), then
    /// [`finish_login`].
    Check(Box<PendingLogin>),
}

/// A claimed guess, waiting for its password check.
pub struct PendingLogin {
    key: String,
    client: String,
    /// The username as typed (bounded), for the audit record of an unknown user.
    username: String,
    request_id: Option<String>,
    row: Option<AdminRow>,
    claim: i64,
    failures: i32,
    lock: Option<NaiveDateTime>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("claim", &self.claim)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    /// Checks the password: argon2, deliberately slow (run it on a blocking thread and
    /// bound how many run at once). An unknown username is checked against a decoy hash,
    /// so it costs the same.
    pub fn verify(&self, password: &str) -> bool {
        match &self.row {
            Some(row) => secrets::verify_password(password, &row.password_hash),
            None => {
                secrets::verify_password(password, secrets::decoy_hash());
                false
            }
        }
    }
}

/// The state of one (username, client) pair as a claim reads it.
#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = login_attempts)]
struct Attempts {
    failures: i32,
    claims: i64,
    locked_until: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

/// What a claim decides, from the pair's state alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Refused(NaiveDateTime),
    Granted {
        claim: i64,
        failures: i32,
        lock: Option<NaiveDateTime>,
    },
}

/// The lock after `over` failures beyond the limit: 30 s, doubling, at most 15 min.
fn lock_period(over: i32) -> Duration {
    let exp = over.clamp(0, 10) as u32;
    Duration::seconds((BASE_LOCK_SECONDS * 2i64.pow(exp)).min(MAX_LOCK_SECONDS))
}

/// Decides a claim. Every granted guess counts as a failure until it is proven right, so
/// the guess that reaches the limit sets the lock before its password is even checked.
fn decide(a: &Attempts, now: NaiveDateTime, max_failures: i32) -> Claim {
    if let Some(until) = a.locked_until.filter(|u| *u > now) {
        return Claim::Refused(until);
    }
    let last = a.locked_until.map_or(a.updated_at, |u| u.max(a.updated_at));
    let prior = if now - last >= Duration::seconds(MAX_LOCK_SECONDS) {
        0
    } else {
        a.failures
    };
    let failures = prior.saturating_add(1);
    let lock = (failures >= max_failures).then(|| now + lock_period(failures - max_failures));
    Claim::Granted {
        claim: a.claims + 1,
        failures,
        lock,
    }
}

/// Claims one guess for (key, client), atomically: the write only lands if no other
/// request claimed one since this one read the pair.
fn claim(db: &crate::Db, key: &str, client: &str, max_failures: i32) -> StoreResult<Claim> {
    for _ in 0..CLAIM_TRIES {
        let now = crate::now();
        let (decided, created) = db.write(|c| {
            let created = diesel::sql_query(
                "INSERT INTO login_attempts (username_key, client, failures, claims, updated_at) \
                 VALUES ($1, $2, 0, 0, $3) ON CONFLICT (username_key, client) DO NOTHING",
            )
            .bind::<Text, _>(key)
            .bind::<Text, _>(client)
            .bind::<Timestamp, _>(now)
            .execute(c)?
                > 0;
            let pair = login_attempts::table
                .find((key, client))
                .select(Attempts::as_select())
                .first(c)?;
            let decided = decide(&pair, now, max_failures);
            if let Claim::Granted {
                claim,
                failures,
                lock,
            } = decided
            {
                let written = diesel::update(
                    login_attempts::table
                        .find((key, client))
                        .filter(login_attempts::claims.eq(pair.claims)),
                )
                .set((
                    login_attempts::failures.eq(failures),
                    login_attempts::claims.eq(claim),
                    login_attempts::locked_until.eq(lock),
                    login_attempts::locked_by.eq(lock.map(|_| claim)),
                    login_attempts::updated_at.eq(now),
                ))
                .execute(c)?;
                if written == 0 {
                    return Ok((None, created));
                }
            }
            Ok((Some(decided), created))
        })?;
        if created {
            forget_old_attempts(db, now);
        }
        if let Some(d) = decided {
            return Ok(d);
        }
    }
    // Only reachable when the pair is hammered far beyond its limit: refuse briefly.
    Ok(Claim::Refused(crate::now() + Duration::seconds(1)))
}

/// Drops pairs nobody touched for a day (best effort: a failure only postpones it).
fn forget_old_attempts(db: &crate::Db, now: NaiveDateTime) {
    let before = now - Duration::hours(ATTEMPTS_KEPT_HOURS);
    let purged = db.write(|c| {
        Ok(diesel::delete(
            login_attempts::table
                .filter(login_attempts::updated_at.lt(before))
                .filter(
                    login_attempts::locked_until
                        .is_null()
                        .or(login_attempts::locked_until.lt(before)),
                ),
        )
        .execute(c)?)
    });
    if let Err(e) = purged {
        tracing::debug!(error = %e, "could not forget old login attempts");
    }
}

/// Bounds a typed username for keys and the audit trail.
fn bounded(username: &str) -> String {
    username.trim().chars().take(200).collect()
}

/// Claims a guess for this username from this client; no password is checked yet.
/// A locked pair is refused without a database write or an audit record.
pub fn begin_login(db: &crate::Db, attempt: &LoginAttempt<'_>) -> StoreResult<Begin> {
    let username = bounded(attempt.username);
    let key = username.to_lowercase();
    let client: String = attempt.client.chars().take(100).collect();
    let (claim, failures, lock) = match claim(db, &key, &client, attempt.max_failures.max(1))? {
        Claim::Refused(until) => return Ok(Begin::Refused(until)),
        Claim::Granted {
            claim,
            failures,
            lock,
        } => (claim, failures, lock),
    };
    let row: Option<AdminRow> = db.read(|c| {
        Ok(admins::table
            .filter(admins::username_key.eq(&key))
            .select(AdminRow::as_select())
            .first(c)
            .optional()?)
    })?;
    Ok(Begin::Check(Box::new(PendingLogin {
        key,
        client,
        username,
        request_id: attempt.request_id.map(str::to_string),
        row,
        claim,
        failures,
        lock,
    })))
}

/// Records the outcome of a checked guess. A right password forgets the failures claimed
/// up to it — unless a guess claimed after it locked the pair meanwhile (that lock
/// stands) — and is audited as `auth.login`. Wrong ones are aggregated: one `auth.login_failed` record for the first
/// failure of a window and one when the pair locks, each with the count so far.
pub fn finish_login(db: &crate::Db, pending: PendingLogin, matched: bool) -> StoreResult<Login> {
    let now = crate::now();
    let rid = pending.request_id.as_deref();
    if let (true, Some(row)) = (matched, &pending.row) {
        let found = db.write(|c| {
            // Forgets the failures up to this guess; guesses claimed after it still count
            // (one statement, so no claim slips between reading and writing).
            // (Parameters appear in order: SQLite numbers `$n` by first appearance.)
            diesel::sql_query(
                "UPDATE login_attempts SET failures = CAST(claims - $1 AS INTEGER), \
                 locked_until = NULL, locked_by = NULL \
                 WHERE username_key = $2 AND client = $3 \
                 AND (locked_until IS NULL OR locked_by = $1)",
            )
            .bind::<BigInt, _>(pending.claim)
            .bind::<Text, _>(&pending.key)
            .bind::<Text, _>(&pending.client)
            .execute(c)?;
            let touched = diesel::update(admins::table.find(row.id))
                .set(admins::last_login_at.eq(Some(now)))
                .execute(c)?;
            if touched == 0 {
                // Deleted between the claim and now.
                return Ok(None);
            }
            record_login(
                c,
                Some(row),
                &pending.username,
                "auth.login",
                rid,
                serde_json::json!({
                    "client": pending.client,
                    "failed_before": pending.failures - 1,
                }),
            )?;
            Ok(Some(load(c, row.id)?))
        })?;
        return match found {
            Some(r) => Ok(Login::Ok(Admin::try_from(r)?)),
            None => Ok(Login::Failed),
        };
    }
    if pending.failures == 1 || pending.lock.is_some() {
        let reason = if pending.row.is_some() {
            "wrong_password"
        } else {
            "unknown_username"
        };
        db.write(|c| {
            if let (Some(until), Some(row)) = (pending.lock, &pending.row) {
                // For the account's record: some address is locked out until then.
                diesel::update(
                    admins::table.find(row.id).filter(
                        admins::locked_until
                            .is_null()
                            .or(admins::locked_until.lt(until)),
                    ),
                )
                .set(admins::locked_until.eq(Some(until)))
                .execute(c)?;
            }
            record_login(
                c,
                pending.row.as_ref(),
                &pending.username,
                "auth.login_failed",
                rid,
                serde_json::json!({
                    "reason": reason,
                    "client": pending.client,
                    "failed_logins": pending.failures,
                    "locked_until": pending.lock,
                }),
            )
        })?;
    }
    Ok(match pending.lock {
        Some(until) => Login::Locked(until),
        None => Login::Failed,
    })
}

/// Claims, checks and records one login in a row, on the calling thread (the CLI and
/// tests; the API runs the steps itself to bound the hashing).
pub fn login(db: &crate::Db, attempt: &LoginAttempt<'_>, password: &str) -> StoreResult<Login> {
    match begin_login(db, attempt)? {
        Begin::Refused(until) => Ok(Login::Locked(until)),
        Begin::Check(pending) => {
            let matched = pending.verify(password);
            finish_login(db, *pending, matched)
        }
    }
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

/// Whether a login session for this account and credential version still holds: the
/// account exists and none of its password, role or scope changed since.
pub fn session_holds(conn: &mut Conn, id: i64, credential_version: i64) -> StoreResult<bool> {
    let current: Option<i64> = admins::table
        .find(id)
        .select(admins::credential_version)
        .first(conn)
        .optional()?;
    Ok(current == Some(credential_version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(seconds: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t + Duration::seconds(seconds))
            .expect("a valid time")
    }

    fn pair(failures: i32, locked_until: Option<NaiveDateTime>, updated_at: i64) -> Attempts {
        Attempts {
            failures,
            claims: 7,
            locked_until,
            updated_at: at(updated_at),
        }
    }

    #[test]
    fn claims_count_guesses_lock_at_the_limit_and_double_after() {
        let now = at(100);
        let cases = [
            // (failures, locked until, last touched) → decision
            (
                pair(0, None, 90),
                Claim::Granted {
                    claim: 8,
                    failures: 1,
                    lock: None,
                },
            ),
            (
                pair(3, None, 90),
                Claim::Granted {
                    claim: 8,
                    failures: 4,
                    lock: None,
                },
            ),
            (
                pair(4, None, 90),
                Claim::Granted {
                    claim: 8,
                    failures: 5,
                    lock: Some(at(130)),
                },
            ),
            (pair(5, Some(at(130)), 90), Claim::Refused(at(130))),
            (
                pair(5, Some(at(99)), 69),
                Claim::Granted {
                    claim: 8,
                    failures: 6,
                    lock: Some(at(160)),
                },
            ),
            (
                pair(30, Some(at(99)), 69),
                Claim::Granted {
                    claim: 8,
                    failures: 31,
                    lock: Some(at(1000)),
                },
            ),
            // A quiet spell as long as the longest lock starts a new window.
            (
                pair(4, None, 100 - 900),
                Claim::Granted {
                    claim: 8,
                    failures: 1,
                    lock: None,
                },
            ),
            (
                pair(9, Some(at(100 - 900)), 100 - 930),
                Claim::Granted {
                    claim: 8,
                    failures: 1,
                    lock: None,
                },
            ),
        ];
        for (state, want) in cases {
            assert_eq!(decide(&state, now, 5), want, "{state:?}");
        }
    }
}
