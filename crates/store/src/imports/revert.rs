//! Reverting a change set: its audit records, read back, become a plan that restores
//! every number it touched to its state before it; the plan is applied like an import's.
//!
//! A revert trusts the audit snapshots only where the number has not moved since: a
//! number whose version is not the one the change set left is a row error, never
//! overwritten.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use domain::{NumberStatus, Permit, Scope, Tag, snapshot::NumberSnapshot};

use super::{
    Change, Plan, PlanRow, RowError, Summary,
    plan::{Desired, Errors, Refs, check_scope, plan_number, tally, transitions},
    rows::{RowSink, finish_plan, start_plan},
};
use crate::{
    Conn, Db, StoreError, StoreResult, audit,
    numbers::{self, Number},
};

/// A snapshot from an audit record's JSON (`None` where the record has no such side); one
/// that cannot be read is a row error, never a guess.
fn read_snapshot(json: Option<&str>, errors: &mut Errors) -> Option<NumberSnapshot> {
    match NumberSnapshot::from_json(json?) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.add(None, e.to_string());
            None
        }
    }
}

/// What restoring a snapshot means, as a [`Desired`].
fn desired_from_snapshot(b: &NumberSnapshot, errors: &mut Errors) -> Desired {
    // A number may hold more tags than one request may send (its range's and its own).
    let tags = match Tag::parse_stored_set(&b.tags) {
        Ok(t) => t,
        Err(e) => {
            errors.add(Some("tags"), e.to_string());
            Vec::new()
        }
    };
    let reservation = b.reservation.as_ref();
    Desired {
        description: Some(b.description.clone()),
        tags: Some(tags),
        location: Some(b.location_id),
        platform: Some(b.platform_id),
        number_type: Some(b.number_type),
        wanted: domain::import_plan::Wanted {
            status: Some(b.status),
            target: b.assignment.as_ref().map(|a| a.target()),
            // A revert restores a whole state, not a file's cells.
            assigned_to: None,
            reserved_reason: Some(reservation.map(|r| r.reason.clone())),
            reserved_for: Some(reservation.and_then(|r| r.reserved_for.clone())),
            reserved_until: Some(reservation.and_then(|r| r.expires_at)),
            quarantined_until: Some(b.quarantine.as_ref().map(|q| q.until)),
            quarantine_reason: b.quarantine.as_ref().and_then(|q| q.reason.clone()),
        },
    }
}

/// Builds the inverse of change set `change_set` as a plan: every number it touched goes
/// back to its state before the change set. A number that changed since (its version is
/// not the one the change set left) becomes a row error.
///
/// Like [`plan_csv`](super::plan_csv), it reads outside any write transaction and stores
/// the plan in short ones.
pub fn revert(
    db: &Db,
    permit: &Permit,
    change_set: &str,
    now: NaiveDateTime,
    ttl: Duration,
    max_errors: usize,
) -> StoreResult<Plan> {
    let records = db.read(|conn| {
        let records = audit::change_set_all(conn, change_set)?;
        if records.is_empty() {
            return Err(StoreError::not_found("change set", change_set));
        }
        // Scoped callers may revert only change sets they can see something of.
        if !permit.scope().is_unrestricted() {
            audit::change_set(conn, permit, change_set, None, Some(1))?;
        }
        Ok(records)
    })?;
    let started = std::time::Instant::now();
    let id = start_plan(db, permit, "revert", Some(change_set), now)?;
    let mut sink = RowSink::new(db, &id, max_errors);
    let outcome = db.read(|conn| revert_rows(conn, &mut sink, permit, &records, now));
    finish_plan(db, &id, outcome, (now, started), ttl)
}

/// A change set read per number: the numbers in the order they first appear, each with
/// its state before its first record and after its last; records of anything else are
/// file errors.
struct Spans {
    order: Vec<String>,
    span: HashMap<String, (Option<String>, Option<String>)>,
    file_errors: Vec<RowError>,
}

impl Spans {
    fn of(records: &[audit::AuditRow]) -> Spans {
        let mut spans = Spans {
            order: Vec::new(),
            span: HashMap::new(),
            file_errors: Vec::new(),
        };
        for (i, r) in records.iter().enumerate() {
            if r.entity_kind != "number" {
                spans.file_errors.push(RowError {
                    line: i as u64 + 1,
                    column: None,
                    reason: format!(
                        "record {} ({} of {} {}) cannot be reverted; only number changes can",
                        r.id, r.action, r.entity_kind, r.entity_id
                    ),
                });
                continue;
            }
            match spans.span.get_mut(&r.entity_id) {
                Some(s) => s.1 = r.after_json.clone(),
                None => {
                    spans.order.push(r.entity_id.clone());
                    spans.span.insert(
                        r.entity_id.clone(),
                        (r.before_json.clone(), r.after_json.clone()),
                    );
                }
            }
        }
        spans
    }
}

/// Plans the revert of every number in the change set, storing the rows as it goes.
fn revert_rows(
    conn: &mut Conn,
    sink: &mut RowSink<'_>,
    permit: &Permit,
    records: &[audit::AuditRow],
    now: NaiveDateTime,
) -> StoreResult<(Summary, Vec<RowError>)> {
    let mut summary = Summary::default();
    let mut spans = Spans::of(records);
    summary.errors += spans.file_errors.len() as u64;
    summary.errors_not_shown += sink.keep_file_errors(&mut spans.file_errors);
    let refs = Refs::load(conn, permit.scope())?;
    let current: HashMap<String, Number> = numbers::by_e164(conn, &spans.order)?
        .into_iter()
        .map(|n| (n.number.clone(), n))
        .collect();
    for (i, e164) in spans.order.iter().enumerate() {
        let line = i as u64 + 1;
        let mut errors = Errors::new(line);
        let (before, after) = &spans.span[e164];
        let before = read_snapshot(before.as_deref(), &mut errors);
        let after = read_snapshot(after.as_deref(), &mut errors);
        let now_n = current.get(e164);
        if !reachable(permit.scope(), now_n, after.as_ref().or(before.as_ref())) {
            // Out of scope looks absent: not even a row error names it.
            continue;
        }
        if errors.list.is_empty() {
            check_unmoved(e164, after.as_ref(), now_n, &mut errors);
        }
        let mut changes = Vec::new();
        if errors.list.is_empty() {
            changes = match &before {
                None => undo_create(permit, now_n, now, &mut errors),
                Some(b) => {
                    let d = desired_from_snapshot(b, &mut errors);
                    if errors.list.is_empty() {
                        plan_number(&refs, permit, now_n, &d, now, &mut errors)
                    } else {
                        Vec::new()
                    }
                }
            };
        }
        if !errors.list.is_empty() {
            changes.clear();
        }
        let row = PlanRow {
            line,
            number: e164.clone(),
            expected_version: now_n.map(|n| n.version),
            changes,
            errors: errors.list,
        };
        tally(&mut summary, sink, &row)?;
    }
    sink.flush()?;
    Ok((summary, spans.file_errors))
}

/// Whether a scoped caller may see the number: where it is now, or (deleted since) where
/// the change set left it.
fn reachable(scope: &Scope, now_n: Option<&Number>, snapshot: Option<&NumberSnapshot>) -> bool {
    if scope.is_unrestricted() {
        return true;
    }
    let (location, tags) = match (now_n, snapshot) {
        (Some(n), _) => (n.location_id, &n.tags),
        (None, Some(s)) => (s.location_id, &s.tags),
        (None, None) => return true,
    };
    let keys: Vec<String> = tags.iter().map(|t| t.to_lowercase()).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    scope.admits(location.map(|l| l.to_string()).as_deref(), &keys)
}

/// A number is reverted only as the change set left it: same version, still there (or
/// still absent).
fn check_unmoved(
    e164: &str,
    after: Option<&NumberSnapshot>,
    now_n: Option<&Number>,
    errors: &mut Errors,
) {
    match (after, now_n) {
        (Some(a), Some(n)) if a.version == n.version => {}
        (None, None) => {}
        (Some(a), Some(n)) => errors.add(
            None,
            format!(
                "{e164} changed since the change set (it left version {}, it is now at {})",
                a.version, n.version
            ),
        ),
        (Some(_), None) => errors.add(None, format!("{e164} was deleted since the change set")),
        (None, Some(_)) => errors.add(
            None,
            format!("{e164} was created again since the change set"),
        ),
    }
}

/// Reverting a creation: the number goes, after it is brought back to available.
fn undo_create(
    permit: &Permit,
    now_n: Option<&Number>,
    now: NaiveDateTime,
    errors: &mut Errors,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let Some(n) = now_n else {
        return changes;
    };
    let mut d = Desired::default();
    if !check_scope(permit.scope(), Some(n), &d, errors) {
        return changes;
    }
    if n.status != NumberStatus::Available {
        d.wanted.status = Some(NumberStatus::Available);
        transitions(permit, Some(n), &d.wanted, now, &mut changes, errors);
    }
    changes.push(Change::Delete);
    changes
}
