//! Status transitions of numbers (SPEC §2): reserve, assign/reassign, unassign,
//! quarantine, release — and pool allocation and the scheduled releases.
//!
//! Every transition reads the number (within scope), asks [`domain::lifecycle::decide`],
//! then writes with `UPDATE … WHERE id = ? AND status = ? AND version = ?`. If that touches
//! no row, someone changed the number in between: without `If-Match` the transition is
//! decided again on the fresh state, with `If-Match` it is a 412. Either way no two
//! callers can both succeed on the same state, on SQLite or PostgreSQL.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use domain::{
    Action, NumberStatus, NumberType, Overrides, Permit, ProvisioningState, Refusal, Scope, Source,
    Transition, snapshot::NumberSnapshot,
};
use serde_json::json;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    dialect,
    numbers::{self, Number},
    schema::numbers as n,
    scope::ScopeFilter,
    settings,
};

/// Longest reason or reserved-for text.
pub(crate) const MAX_REASON_CHARS: usize = 500;
/// How often a transition is re-decided when concurrent changes keep winning.
const ATTEMPTS: usize = 5;

/// Whom a number is assigned to, resolved and checked by the caller (domain's one
/// `{kind, id, name}` record).
pub use domain::Target;

/// A requested transition with its parameters.
#[derive(Debug, Clone)]
pub enum Request {
    /// Hold an available number.
    Reserve {
        reason: String,
        reserved_for: Option<String>,
        expires_at: Option<NaiveDateTime>,
    },
    /// Assign to a target; with `reassign`, also take it from its current holder.
    Assign {
        target: Target,
        override_reservation: bool,
        override_quarantine: bool,
        reassign: bool,
    },
    /// Take it back: into quarantine for `quarantine_days` (default from settings), or
    /// straight to available with 0 days (override permission).
    Unassign {
        quarantine_days: Option<i64>,
        reason: Option<String>,
    },
    /// Rest an available number until `until` (default from settings).
    Quarantine {
        reason: String,
        until: Option<NaiveDateTime>,
    },
    /// Back to available from reserved or quarantined.
    Release { reason: Option<String> },
}

impl Request {
    fn transition(&self) -> Transition {
        match self {
            Request::Reserve { .. } => Transition::Reserve,
            Request::Assign { .. } => Transition::Assign,
            Request::Unassign { .. } => Transition::Unassign,
            Request::Quarantine { .. } => Transition::Quarantine,
            Request::Release { .. } => Transition::Release,
        }
    }

    fn overrides(&self, permit: &Permit) -> Overrides {
        let permitted = permit.role().may(Action::Override);
        match self {
            Request::Assign {
                override_reservation,
                override_quarantine,
                reassign,
                ..
            } => Overrides {
                reservation: *override_reservation,
                quarantine: *override_quarantine,
                permitted,
                reassign: *reassign,
            },
            Request::Unassign {
                quarantine_days: Some(0),
                ..
            } => Overrides {
                quarantine: true,
                permitted,
                ..Default::default()
            },
            // Releasing a quarantine before it ends skips it: that is the override.
            Request::Release { .. } => Overrides {
                quarantine: true,
                permitted,
                ..Default::default()
            },
            _ => Overrides {
                permitted,
                ..Default::default()
            },
        }
    }
}

fn check_text(field: &str, value: &str, required: bool) -> StoreResult<()> {
    if required && value.trim().is_empty() {
        return Err(StoreError::invalid("invalid_field", field, "is required"));
    }
    if value.chars().count() > MAX_REASON_CHARS {
        return Err(StoreError::invalid(
            "invalid_field",
            field,
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_future(field: &str, at: Option<NaiveDateTime>, now: NaiveDateTime) -> StoreResult<()> {
    match at {
        Some(t) if t <= now => Err(StoreError::invalid(
            "invalid_field",
            field,
            "must be in the future",
        )),
        _ => Ok(()),
    }
}

/// The 409/403 for a refused transition, saying why and what would allow it.
fn refusal(r: Refusal, t: Transition, n: &Number) -> StoreError {
    let verb = t.verb();
    let e164 = &n.number;
    let (message, details) = match r {
        Refusal::Reserved => {
            let res = n.reservation.as_ref();
            (
                format!(
                    "{e164} is reserved{}{}; an admin may {verb} it with override_reservation, or release it first",
                    res.map(|r| format!(" ({})", r.reason)).unwrap_or_default(),
                    res.and_then(|r| r.expires_at)
                        .map(|e| format!(" until {}", e.and_utc().to_rfc3339()))
                        .unwrap_or_default()
                ),
                json!({ "status": "reserved", "reservation": res }),
            )
        }
        Refusal::Quarantined => {
            let q = n.quarantine.as_ref();
            let until = q
                .map(|q| q.until.and_utc().to_rfc3339())
                .unwrap_or_default();
            let allow = if t == Transition::Release {
                "an admin may release it early"
            } else {
                "an admin may assign it now with override_quarantine"
            };
            (
                format!("{e164} is quarantined until {until}; it frees then, or {allow}"),
                json!({ "status": "quarantined", "available_from": until, "quarantine": q }),
            )
        }
        Refusal::Assigned => (
            format!(
                "{e164} is assigned to {}; {}",
                n.assignment
                    .as_ref()
                    .map(|a| a.name.as_str())
                    .unwrap_or("someone"),
                if t == Transition::Assign {
                    "send reassign: true to move it to another target, or unassign it first"
                } else {
                    "unassign it first"
                }
            ),
            json!({ "status": "assigned", "assignment": n.assignment }),
        ),
        Refusal::NotAssigned => (
            format!("{e164} is {}, not assigned", n.status),
            json!({ "status": n.status }),
        ),
        Refusal::NotAvailable => (
            format!(
                "{e164} is {}; only an available number can be {verb}d",
                n.status
            ),
            json!({ "status": n.status }),
        ),
        Refusal::NotHeld => (
            format!(
                "{e164} is {}; only a reserved or quarantined number can be released",
                n.status
            ),
            json!({ "status": n.status }),
        ),
        Refusal::OverrideForbidden => {
            return StoreError::Forbidden {
                code: "override_forbidden",
                message: format!(
                    "overriding a reservation or quarantine needs the admin role (to {verb} {e164})"
                ),
            };
        }
    };
    StoreError::Conflict {
        code: r.code(),
        message,
        details,
    }
}

fn provisioning_state(conn: &mut Conn, platform_id: Option<i64>) -> StoreResult<ProvisioningState> {
    Ok(if crate::jobs::platform_provisions(conn, platform_id)? {
        ProvisioningState::Pending
    } else {
        ProvisioningState::NotRequired
    })
}

fn quarantine_days_for(conn: &mut Conn, location_id: Option<i64>) -> StoreResult<i64> {
    if let Some(loc) = location_id {
        let days: Option<Option<i32>> = crate::schema::locations::table
            .find(loc)
            .select(crate::schema::locations::quarantine_days)
            .first(conn)
            .optional()?;
        if let Some(Some(d)) = days {
            return Ok(d.into());
        }
    }
    Ok(settings::lifecycle(conn)?.default_quarantine_days)
}

/// Whether a transition's platform must still be told (a provisioning job), or already
/// holds the new state (adopting Teams' state into the inventory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provision {
    /// Write a job, and mark the assignment `pending` on a provisioned platform.
    Jobs,
    /// No job; the assignment is `provisioned` already.
    AlreadyDone,
}

/// Applies a transition to one number and records it; returns the number after.
pub fn apply(
    conn: &mut Conn,
    permit: &Permit,
    e164: &str,
    request: Request,
    if_match: Option<i64>,
) -> StoreResult<Number> {
    apply_with(conn, permit, e164, request, if_match, Provision::Jobs)
}

/// [`apply`] for a change the platform already made (drift adoption): no job is
/// written, and an assignment on a provisioned platform is `provisioned` at once.
pub(crate) fn apply_adopted(
    conn: &mut Conn,
    permit: &Permit,
    e164: &str,
    request: Request,
) -> StoreResult<Number> {
    apply_with(conn, permit, e164, request, None, Provision::AlreadyDone)
}

fn apply_with(
    conn: &mut Conn,
    permit: &Permit,
    e164: &str,
    request: Request,
    if_match: Option<i64>,
    provision: Provision,
) -> StoreResult<Number> {
    let now = crate::now();
    match &request {
        Request::Reserve {
            reason,
            reserved_for,
            expires_at,
        } => {
            check_text("reason", reason, true)?;
            check_text("reserved_for", reserved_for.as_deref().unwrap_or(""), false)?;
            check_future("expires_at", *expires_at, now)?;
        }
        Request::Quarantine { reason, until } => {
            check_text("reason", reason, true)?;
            check_future("until", *until, now)?;
        }
        Request::Unassign {
            quarantine_days,
            reason,
        } => {
            if quarantine_days.is_some_and(|d| !(0..=3650).contains(&d)) {
                return Err(StoreError::invalid(
                    "invalid_field",
                    "quarantine_days",
                    "must be between 0 and 3650",
                ));
            }
            check_text("reason", reason.as_deref().unwrap_or(""), false)?;
        }
        Request::Release { reason } => {
            check_text("reason", reason.as_deref().unwrap_or(""), false)?
        }
        Request::Assign { .. } => {}
    }
    let scope = permit.scope().clone();
    for _ in 0..ATTEMPTS {
        let before = numbers::get(conn, &scope, e164)?;
        if let Some(v) = if_match.filter(|v| *v != before.version) {
            return Err(StoreError::Stale {
                expected: v,
                current: before.version,
            });
        }
        match transition_row(conn, permit, &before, &request, now, provision)? {
            Some(after) => return Ok(after),
            // Lost a race: with If-Match that is a stale version; without, decide again.
            None if if_match.is_some() => {
                let current = numbers::get(conn, &scope, e164)?;
                return Err(StoreError::Stale {
                    expected: before.version,
                    current: current.version,
                });
            }
            None => continue,
        }
    }
    Err(StoreError::conflict(
        "concurrent_change",
        format!("{e164} kept changing under this request; retry"),
    ))
}

/// The row of `before`, only while it still has the status and version read: the
/// conditional half of every transition's `UPDATE` (see the module docs).
macro_rules! unchanged_row {
    ($before:expr) => {
        n::table
            .filter(n::id.eq($before.id))
            .filter(n::status.eq($before.status.as_str()))
            .filter(n::version.eq($before.version))
    };
}

/// Bumps the version and stamps the change: part of every transition's `SET`.
macro_rules! bump {
    ($before:expr, $now:expr) => {
        (n::version.eq($before.version + 1), n::updated_at.eq($now))
    };
}

macro_rules! clear_reservation {
    () => {
        (
            n::reserved_reason.eq(None::<String>),
            n::reserved_for.eq(None::<String>),
            n::reserved_by.eq(None::<String>),
            n::reserved_until.eq(None::<NaiveDateTime>),
        )
    };
}

macro_rules! clear_quarantine {
    () => {
        (
            n::quarantine_since.eq(None::<NaiveDateTime>),
            n::quarantine_until.eq(None::<NaiveDateTime>),
            n::quarantine_reason.eq(None::<String>),
        )
    };
}

macro_rules! clear_assignment {
    () => {
        (
            n::assigned_kind.eq(None::<String>),
            n::assigned_id.eq(None::<String>),
            n::assigned_name.eq(None::<String>),
            n::assigned_at.eq(None::<NaiveDateTime>),
            n::assigned_by.eq(None::<String>),
            n::provisioning_state.eq(None::<String>),
            n::provisioning_error.eq(None::<String>),
            n::assigned_rule_id.eq(None::<i64>),
        )
    };
}

/// Decides and writes one transition on a number read as `before`. `Ok(None)` means the
/// conditional update matched nothing because the number changed concurrently.
fn transition_row(
    conn: &mut Conn,
    permit: &Permit,
    before: &Number,
    request: &Request,
    now: NaiveDateTime,
    provision: Provision,
) -> StoreResult<Option<Number>> {
    let t = request.transition();
    if let (Request::Assign { target: who, .. }, Some(a)) = (request, &before.assignment)
        && a.kind == who.kind
        && a.id == who.id
    {
        // Already assigned to exactly this target: nothing to change or audit.
        return Ok(Some(before.clone()));
    }
    let status = before.status;
    let quarantine_over = before.quarantine.as_ref().is_some_and(|q| q.until <= now);
    domain::lifecycle::decide(t, status, request.overrides(permit), quarantine_over)
        .map_err(|r| refusal(r, t, before))?;
    let actor = &permit.actor().name;
    let mut verb = t.verb();
    let updated = match request {
        Request::Reserve {
            reason,
            reserved_for,
            expires_at,
        } => reserve(conn, before, actor, now, reason, reserved_for, *expires_at)?,
        Request::Assign { target: who, .. } => {
            if before.assignment.is_some() {
                verb = "reassign";
            }
            assign(conn, before, actor, now, who, provision)?
        }
        Request::Unassign {
            quarantine_days,
            reason,
        } => unassign(conn, before, now, *quarantine_days, reason)?,
        Request::Quarantine { reason, until } => quarantine(conn, before, now, reason, *until)?,
        Request::Release { .. } => diesel::update(unchanged_row!(before))
            .set((
                bump!(before, now),
                n::status.eq(NumberStatus::Available.as_str()),
                clear_reservation!(),
                clear_quarantine!(),
            ))
            .execute(conn)?,
    };
    if updated == 0 {
        return Ok(None);
    }
    // Transitions never change tags: the row alone is read back.
    let after = numbers::reload_row(conn, before)?;
    record_transition(conn, permit, before, &after, request, verb)?;
    if provision == Provision::Jobs {
        crate::jobs::enqueue(conn, permit, before, &after)?;
    }
    Ok(Some(after))
}

/// Writes a reservation; the number of rows changed (0 when another change won).
fn reserve(
    conn: &mut Conn,
    before: &Number,
    actor: &str,
    now: NaiveDateTime,
    reason: &str,
    reserved_for: &Option<String>,
    expires_at: Option<NaiveDateTime>,
) -> StoreResult<usize> {
    let expires = match expires_at {
        Some(e) => Some(e),
        None => settings::lifecycle(conn)?
            .reservation_default_days
            .map(|d| now + Duration::days(d)),
    };
    Ok(diesel::update(unchanged_row!(before))
        .set((
            bump!(before, now),
            n::status.eq(NumberStatus::Reserved.as_str()),
            n::reserved_reason.eq(reason.trim()),
            n::reserved_for.eq(reserved_for
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())),
            n::reserved_by.eq(actor),
            n::reserved_until.eq(expires),
        ))
        .execute(conn)?)
}

/// Writes an assignment to `who`; the number of rows changed.
fn assign(
    conn: &mut Conn,
    before: &Number,
    actor: &str,
    now: NaiveDateTime,
    who: &Target,
    provision: Provision,
) -> StoreResult<usize> {
    let state = match provisioning_state(conn, before.platform_id)? {
        ProvisioningState::Pending if provision == Provision::AlreadyDone => {
            ProvisioningState::Provisioned
        }
        state => state,
    };
    Ok(diesel::update(unchanged_row!(before))
        .set((
            bump!(before, now),
            n::status.eq(NumberStatus::Assigned.as_str()),
            (
                n::assigned_kind.eq(who.kind.as_str()),
                n::assigned_id.eq(&who.id),
                n::assigned_name.eq(&who.name),
            ),
            (
                n::assigned_at.eq(now),
                n::assigned_by.eq(actor),
                n::provisioning_state.eq(state.as_str()),
                n::provisioning_error.eq(None::<String>),
                // Whoever assigns, the number is no longer the rule's; a rule's allocation
                // writes its id right after, in the same transaction (`allocate_for_rule`).
                n::assigned_rule_id.eq(None::<i64>),
            ),
            clear_reservation!(),
            clear_quarantine!(),
            n::previous_assignee.eq(None::<String>),
        ))
        .execute(conn)?)
}

/// Takes an assignment back, into quarantine or (with 0 days) straight to available,
/// remembering the previous assignee; the number of rows changed.
fn unassign(
    conn: &mut Conn,
    before: &Number,
    now: NaiveDateTime,
    quarantine_days: Option<i64>,
    reason: &Option<String>,
) -> StoreResult<usize> {
    let days = match quarantine_days {
        Some(d) => d,
        None => quarantine_days_for(conn, before.location_id)?,
    };
    let previous = before
        .assignment
        .as_ref()
        .map(|a| serde_json::to_string(&a.target()).unwrap_or_default());
    let written = if days == 0 {
        diesel::update(unchanged_row!(before))
            .set((
                bump!(before, now),
                n::status.eq(NumberStatus::Available.as_str()),
                clear_assignment!(),
                clear_quarantine!(),
                n::previous_assignee.eq(previous),
            ))
            .execute(conn)?
    } else {
        diesel::update(unchanged_row!(before))
            .set((
                bump!(before, now),
                n::status.eq(NumberStatus::Quarantined.as_str()),
                clear_assignment!(),
                (
                    n::quarantine_since.eq(Some(now)),
                    n::quarantine_until.eq(Some(now + Duration::days(days))),
                ),
                n::quarantine_reason.eq(reason.clone().or_else(|| Some("unassigned".into()))),
                n::previous_assignee.eq(previous),
            ))
            .execute(conn)?
    };
    Ok(written)
}

/// Puts a number into quarantine until `until` (default: the location's or global
/// quarantine days from now); the number of rows changed.
fn quarantine(
    conn: &mut Conn,
    before: &Number,
    now: NaiveDateTime,
    reason: &str,
    until: Option<NaiveDateTime>,
) -> StoreResult<usize> {
    let until = match until {
        Some(u) => u,
        None => now + Duration::days(quarantine_days_for(conn, before.location_id)?),
    };
    Ok(diesel::update(unchanged_row!(before))
        .set((
            bump!(before, now),
            n::status.eq(NumberStatus::Quarantined.as_str()),
            (
                n::quarantine_since.eq(Some(now)),
                n::quarantine_until.eq(Some(until)),
            ),
            n::quarantine_reason.eq(Some(reason.trim())),
        ))
        .execute(conn)?)
}

/// `before` as [`dialect::assign_rows`] leaves it once `row` is written at `now`: what a
/// read of the row would give, field for field (the statement's `SET` list and this must
/// change together; `assign_rows_reports_exactly_the_rows_it_wrote` and
/// `a_bulk_allocations_audited_after_state_is_what_a_read_gives` compare them).
pub(crate) fn assigned(row: &dialect::AssignRow, before: &Number, now: NaiveDateTime) -> Number {
    Number {
        status: NumberStatus::Assigned,
        version: row.version + 1,
        updated_at: now,
        reservation: None,
        quarantine: None,
        assignment: Some(domain::snapshot::Assignment {
            kind: row.kind,
            id: row.target_id.to_string(),
            name: row.target_name.to_string(),
            assigned_at: now,
            assigned_by: row.by.to_string(),
            provisioning_state: row.state,
            provisioning_error: None,
        }),
        ..before.clone()
    }
}

/// Assigns many numbers as Teams already has them (drift adoption): for each `(before,
/// target)`, the status table is asked as for an assign with every override (adopting
/// is the explicit instruction), and the rows are written in bulk — one statement per
/// chunk on PostgreSQL — each guarded by the version read, with no provisioning job and
/// the assignment `provisioned`. Audited as `number.assign` / `number.reassign` in one
/// statement per chunk. Returns the numbers it did not write (refused, or changed
/// since read), for the caller to take one by one.
pub(crate) fn adopt_assignments(
    conn: &mut Conn,
    permit: &Permit,
    items: &[(Number, Target)],
    now: NaiveDateTime,
) -> StoreResult<Vec<String>> {
    let overrides = Overrides {
        reservation: true,
        quarantine: true,
        reassign: true,
        permitted: permit.role().may(Action::Override),
    };
    let mut left = Vec::new();
    // The rows to write, and beside each the number as read.
    let mut befores = Vec::with_capacity(items.len());
    let mut rows = Vec::with_capacity(items.len());
    for (before, target) in items {
        let quarantine_over = before.quarantine.as_ref().is_some_and(|q| q.until <= now);
        match domain::lifecycle::decide(
            Transition::Assign,
            before.status,
            overrides,
            quarantine_over,
        ) {
            Ok(_) => {
                befores.push(before);
                rows.push(dialect::AssignRow {
                    id: before.id,
                    version: before.version,
                    kind: target.kind,
                    target_id: &target.id,
                    target_name: &target.name,
                    by: &permit.actor().name,
                    state: ProvisioningState::Provisioned,
                    rule_id: None,
                });
            }
            Err(_) => left.push(before.number.clone()),
        }
    }
    let written = dialect::assign_rows(conn, &rows, now)?;
    let mut records = Vec::with_capacity(rows.len());
    for (before, row) in befores.into_iter().zip(&rows) {
        if written.contains(&before.id) {
            let verb = if before.assignment.is_some() {
                "number.reassign"
            } else {
                "number.assign"
            };
            records.push((verb, before, assigned(row, before, now)));
        } else {
            left.push(before.number.clone());
        }
    }
    let changes = records
        .iter()
        .map(|(verb, before, after)| audit::TextChange {
            action: verb,
            entity_kind: "number",
            entity_id: &before.number,
            before: Some(before.snapshot().to_text()),
            after: Some(after.snapshot().to_text()),
        })
        .collect();
    audit::record_many_text(conn, permit, changes)?;
    Ok(left)
}

/// The audit record of a transition, `number.<verb>`, with the request's reason (if any)
/// added to the after-state.
fn record_transition(
    conn: &mut Conn,
    permit: &Permit,
    before: &Number,
    after: &Number,
    request: &Request,
    verb: &str,
) -> StoreResult<()> {
    let after_json = NumberSnapshot {
        reason: reason_of(request),
        ..after.snapshot()
    };
    let action = format!("number.{verb}");
    audit::record(
        conn,
        permit,
        Change {
            action: &action,
            entity_kind: "number",
            entity_id: &before.number,
            before: Some(before.snapshot().to_json()),
            after: Some(after_json.to_json()),
        },
    )
}

fn reason_of(r: &Request) -> Option<String> {
    match r {
        Request::Unassign { reason, .. } | Request::Release { reason } => reason.clone(),
        _ => None,
    }
}

/// Which numbers an allocation may take; every field narrows the pool.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    /// Tag keys; a number must carry all of them.
    pub tags: Vec<String>,
    /// Site.
    pub location_id: Option<i64>,
    /// Range.
    pub range_id: Option<i64>,
    /// Platform.
    pub platform_id: Option<i64>,
    /// Number type.
    pub number_type: Option<NumberType>,
    /// ISO country (checked upper-case letters by the caller).
    pub country: Option<String>,
}

/// The pool as an SQL condition on `numbers`. Only integers, closed-vocabulary words and
/// a checked two-letter country are inlined, never free text.
fn pool_condition(
    conn: &mut Conn,
    pool: &Pool,
    scope: &ScopeFilter,
) -> StoreResult<Option<String>> {
    let mut parts = vec!["numbers.status = 'available'".to_string()];
    if let Some(v) = pool.location_id {
        parts.push(format!("numbers.location_id = {v}"));
    }
    if let Some(v) = pool.range_id {
        parts.push(format!("numbers.range_id = {v}"));
    }
    if let Some(v) = pool.platform_id {
        parts.push(format!("numbers.platform_id = {v}"));
    }
    if let Some(v) = pool.number_type {
        parts.push(format!("numbers.number_type = '{}'", v.as_str()));
    }
    if let Some(c) = &pool.country {
        if !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(StoreError::invalid(
                "invalid_field",
                "pool.country",
                "must be an ISO 3166-1 alpha-2 code",
            ));
        }
        parts.push(format!("numbers.country = '{c}'"));
    }
    if !pool.tags.is_empty() {
        let ids = crate::tags::ids_for_keys(conn, &pool.tags)?;
        if ids.len() < pool.tags.len() {
            return Ok(None);
        }
        for id in ids {
            parts.push(format!("EXISTS (SELECT 1 FROM number_tags nt WHERE nt.number_id = numbers.id AND nt.tag_id = {id})"));
        }
    }
    if let Some(c) = scope.condition("numbers") {
        parts.push(c);
    }
    Ok(Some(parts.join(" AND ")))
}

/// Up to `limit` available numbers of `pool` after `after` (E.164), in E.164 order,
/// as `(id, e164)`: the numbers successive [`allocate`] calls would take, in that order
/// (a rule preview walks a pool this way). Unscoped: a rule's pool is the whole pool.
pub(crate) fn available_in_pool(
    conn: &mut Conn,
    pool: &Pool,
    after: &str,
    limit: i64,
) -> StoreResult<Vec<(i64, String)>> {
    let scope = ScopeFilter::resolve(conn, &Scope::unrestricted())?;
    match pool_condition(conn, pool, &scope)? {
        Some(condition) => available_where(conn, &condition, after, limit, false),
        None => Ok(Vec::new()),
    }
}

/// Up to `limit` numbers matching `condition` (a [`pool_condition`]) after `after`, in
/// E.164 order, as `(id, e164)`. With `lock`, on PostgreSQL, the rows are locked for the
/// caller's transaction and rows another transaction holds are skipped, as [`allocate`]
/// does with its one candidate.
fn available_where(
    conn: &mut Conn,
    condition: &str,
    after: &str,
    limit: i64,
    lock: bool,
) -> StoreResult<Vec<(i64, String)>> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        e164: String,
    }
    let lock = match conn {
        crate::AnyConnection::Postgresql(_) if lock => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "SELECT id, e164 FROM numbers WHERE {condition} AND e164 > $1 ORDER BY e164 LIMIT {limit}{lock}"
    );
    let rows: Vec<Row> = diesel::sql_query(sql)
        .bind::<diesel::sql_types::Text, _>(after)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.id, r.e164)).collect())
}

/// One allocation of [`allocate_many`]: a number of a rule's pool for a target.
#[derive(Debug)]
pub(crate) struct Allocation<'a> {
    /// The rule's permit (unscoped: a rule's pool is the whole pool).
    pub(crate) permit: &'a Permit,
    /// The rule; allocations of one rule share its pool.
    pub(crate) rule_id: i64,
    /// The rule's pool.
    pub(crate) pool: &'a Pool,
    /// Who gets the number.
    pub(crate) target: Target,
}

/// What became of one allocation of [`allocate_many`].
#[derive(Debug)]
pub(crate) enum Allocated {
    /// The number assigned, as written.
    Number(Box<Number>),
    /// No available number was left in the pool.
    Exhausted,
    /// The allocation was refused (the pool kept changing under it).
    Refused(StoreError),
}

/// Longest list of candidates read from a pool at once.
const CANDIDATES_MAX: usize = 5000;

/// [`allocate_for_rule`] for many targets at once, in the caller's transaction, with the
/// same outcome as calling it for each in turn: each allocation takes the lowest
/// available number of its pool that no earlier one took. The candidates are read a
/// pool at a time (as many as the pool's allocations, topped up when pools that share
/// numbers took some), then written in bulk, guarded by the versions read, audited and
/// given their provisioning jobs per rule in a few statements. An allocation whose number
/// changed meanwhile (a concurrent writer on PostgreSQL) is retried alone through
/// [`allocate_for_rule`].
pub(crate) fn allocate_many(
    conn: &mut Conn,
    items: &[Allocation<'_>],
) -> StoreResult<Vec<Allocated>> {
    struct Source {
        condition: Option<String>,
        queue: std::collections::VecDeque<(i64, String)>,
        after: String,
        exhausted: bool,
        wanted: usize,
    }
    let scope = ScopeFilter::resolve(conn, &Scope::unrestricted())?;
    let mut sources: HashMap<i64, Source> = HashMap::new();
    for item in items {
        match sources.get_mut(&item.rule_id) {
            Some(s) => s.wanted += 1,
            None => {
                let condition = pool_condition(conn, item.pool, &scope)?;
                sources.insert(
                    item.rule_id,
                    Source {
                        exhausted: condition.is_none(),
                        condition,
                        queue: Default::default(),
                        after: String::new(),
                        wanted: 1,
                    },
                );
            }
        }
    }
    // The candidate each allocation takes, in order, as sequential allocations would.
    let mut taken: HashSet<i64> = HashSet::new();
    let mut picks: Vec<Option<(i64, String)>> = Vec::with_capacity(items.len());
    for item in items {
        let s = sources
            .get_mut(&item.rule_id)
            .expect("every rule has its source");
        let pick = loop {
            if let Some(c) = std::iter::from_fn(|| s.queue.pop_front()).find(|c| taken.insert(c.0))
            {
                break Some(c);
            }
            let Some(condition) = s.condition.as_deref().filter(|_| !s.exhausted) else {
                break None;
            };
            let want = (s.wanted + 16).min(CANDIDATES_MAX);
            let got = available_where(conn, condition, &s.after, want as i64, true)?;
            s.exhausted = got.len() < want;
            if let Some((_, last)) = got.last() {
                s.after = last.clone();
            }
            s.queue.extend(got);
        };
        s.wanted -= 1;
        picks.push(pick);
    }
    let now = crate::now();
    let e164s: Vec<String> = picks.iter().flatten().map(|(_, e)| e.clone()).collect();
    let before: HashMap<i64, Number> = numbers::by_e164(conn, &e164s)?
        .into_iter()
        .map(|n| (n.id, n))
        .collect();
    let mut states: HashMap<Option<i64>, ProvisioningState> = HashMap::new();
    let mut rows = Vec::with_capacity(items.len());
    for (item, pick) in items.iter().zip(&picks) {
        let Some(b) = pick.as_ref().and_then(|(id, _)| before.get(id)) else {
            continue;
        };
        if b.status != NumberStatus::Available {
            continue;
        }
        let state = match states.get(&b.platform_id) {
            Some(s) => *s,
            None => {
                let s = provisioning_state(conn, b.platform_id)?;
                states.insert(b.platform_id, s);
                s
            }
        };
        rows.push(dialect::AssignRow {
            id: b.id,
            version: b.version,
            kind: item.target.kind,
            target_id: &item.target.id,
            target_name: &item.target.name,
            by: &item.permit.actor().name,
            state,
            rule_id: Some(item.rule_id),
        });
    }
    let done = dialect::assign_rows(conn, &rows, now)?;
    // What was written, as a read would give it (each id is picked once).
    let after: HashMap<i64, Number> = rows
        .iter()
        .filter(|r| done.contains(&r.id))
        .map(|r| (r.id, assigned(r, &before[&r.id], now)))
        .collect();
    let mut out = Vec::with_capacity(items.len());
    // Per rule, in order: (before, after) of what was written.
    let mut written: Vec<(i64, Vec<(&Number, &Number)>)> = Vec::new();
    let mut retry = Vec::new();
    for (k, (item, pick)) in items.iter().zip(&picks).enumerate() {
        let Some((id, _)) = pick else {
            out.push(Some(Allocated::Exhausted));
            continue;
        };
        match (before.get(id), after.get(id)) {
            (Some(b), Some(a)) => {
                match written.iter_mut().find(|(r, _)| *r == item.rule_id) {
                    Some((_, pairs)) => pairs.push((b, a)),
                    None => written.push((item.rule_id, vec![(b, a)])),
                }
                out.push(Some(Allocated::Number(Box::new(a.clone()))));
            }
            _ => {
                retry.push(k);
                out.push(None);
            }
        }
    }
    for (rule_id, pairs) in &written {
        let permit = items
            .iter()
            .find(|i| i.rule_id == *rule_id)
            .map(|i| i.permit)
            .expect("a written allocation has its item");
        let changes = pairs
            .iter()
            .map(|(b, a)| audit::TextChange {
                action: "number.assign",
                entity_kind: "number",
                entity_id: &b.number,
                before: Some(b.snapshot().to_text()),
                after: Some(a.snapshot().to_text()),
            })
            .collect();
        audit::record_many_text(conn, permit, changes)?;
        let assigned: Vec<&Number> = pairs.iter().map(|(_, a)| *a).collect();
        crate::jobs::enqueue_assigned(conn, permit, &assigned)?;
    }
    for k in retry {
        let item = &items[k];
        out[k] = Some(
            match allocate_for_rule(
                conn,
                item.permit,
                item.pool,
                item.target.clone(),
                item.rule_id,
            ) {
                Ok(n) => Allocated::Number(Box::new(n)),
                Err(StoreError::Conflict {
                    code: "pool_exhausted",
                    ..
                }) => Allocated::Exhausted,
                Err(e @ (StoreError::Conflict { .. } | StoreError::Stale { .. })) => {
                    Allocated::Refused(e)
                }
                Err(e) => return Err(e),
            },
        );
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every allocation has its outcome"))
        .collect())
}

/// Assigns the lowest available number of the pool to `target`, in the caller's
/// transaction; 409 `pool_exhausted` when none is left.
///
/// On PostgreSQL the candidate is locked with `FOR UPDATE SKIP LOCKED`, so concurrent
/// allocations take different numbers without waiting for each other; on SQLite writers
/// are serialised anyway. The conditional update remains the final guard.
pub fn allocate(
    conn: &mut Conn,
    permit: &Permit,
    pool: &Pool,
    target: Target,
) -> StoreResult<Number> {
    let scope = ScopeFilter::resolve(conn, permit.scope())?;
    let Some(condition) = pool_condition(conn, pool, &scope)? else {
        return Err(StoreError::conflict(
            "pool_exhausted",
            "no available number matches the pool (a tag in it is not in use)",
        ));
    };
    let now = crate::now();
    for _ in 0..ATTEMPTS * 4 {
        let Some(row) = dialect::lowest_available(conn, &condition)? else {
            return Err(StoreError::Conflict {
                code: "pool_exhausted",
                message: "no available number is left in the pool".into(),
                details: json!({ "pool": format!("{pool:?}") }),
            });
        };
        let before = numbers::with_tags(conn, row)?;
        let request = Request::Assign {
            target: target.clone(),
            override_reservation: false,
            override_quarantine: false,
            reassign: false,
        };
        if let Some(after) = transition_row(conn, permit, &before, &request, now, Provision::Jobs)?
        {
            return Ok(after);
        }
    }
    Err(StoreError::conflict(
        "concurrent_change",
        "the pool kept changing under this request; retry",
    ))
}

/// [`allocate`] for a rule: the number is marked as the rule's (`assigned_rule_id`), so
/// that rule's leaver policy may take it back later and nothing else's will.
pub(crate) fn allocate_for_rule(
    conn: &mut Conn,
    permit: &Permit,
    pool: &Pool,
    target: Target,
    rule_id: i64,
) -> StoreResult<Number> {
    let after = allocate(conn, permit, pool, target)?;
    // Same transaction and the version the allocation wrote: nothing can come between.
    diesel::update(
        n::table
            .filter(n::id.eq(after.id))
            .filter(n::version.eq(after.version)),
    )
    .set(n::assigned_rule_id.eq(Some(rule_id)))
    .execute(conn)?;
    Ok(after)
}

/// Releases reservations and quarantines whose time has come, at most `limit` of each;
/// returns how many were released. Audited with source `scheduler`.
pub(crate) fn release_expired(conn: &mut Conn, limit: i64) -> StoreResult<usize> {
    let now = crate::now();
    let permit = Permit::system("scheduler", Source::Scheduler);
    let due: Vec<String> = n::table
        .filter(
            n::status
                .eq(NumberStatus::Reserved.as_str())
                .and(n::reserved_until.le(now))
                .or(n::status
                    .eq(NumberStatus::Quarantined.as_str())
                    .and(n::quarantine_until.le(now))),
        )
        .order(n::e164)
        .select(n::e164)
        .limit(limit)
        .load(conn)?;
    let mut released = 0;
    for e164 in due {
        let before = numbers::get(conn, &Scope::unrestricted(), &e164)?;
        let reason = if before.status == NumberStatus::Reserved {
            "reservation expired"
        } else {
            "quarantine ended"
        };
        if transition_row(
            conn,
            &permit,
            &before,
            &Request::Release {
                reason: Some(reason.into()),
            },
            now,
            Provision::Jobs,
        )?
        .is_some()
        {
            released += 1;
        }
    }
    Ok(released)
}
