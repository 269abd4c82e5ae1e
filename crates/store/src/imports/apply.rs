//! Applying a stored plan: one transaction, all or nothing, under one change set.
//!
//! Every write goes through the store's audited operations (`numbers::create_many`,
//! `lifecycle::apply`, `numbers::delete`) or, for field updates in bulk, writes the same
//! audit records itself ([`update_many`]). Each write is guarded by the version the row
//! was planned against: a number that moved refuses the whole plan as `plan_stale`
//! rather than overwrite what someone else did.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::{NumberType, Permit, PhoneNumber, PlanStatus, Scope, Source, Tag, Target};
use serde_json::{Value, json};

use super::{
    Applied, Change, Plan, PlanRow, Summary,
    rows::{for_rows, get, set_applied},
    utc,
};
use crate::{
    Conn, PlanRefusal, StoreError, StoreResult, audit,
    lifecycle::{self, Request},
    numbers::{self, NewNumber, Number},
    schema::tags,
};

/// At most this many numbers are named in a `plan_stale` refusal.
const STALE_NAMED: usize = 10;

/// A 409 refusal of the apply.
fn conflict(reason: PlanRefusal, message: String, details: Value) -> StoreError {
    StoreError::PlanRefused {
        reason,
        message,
        details,
    }
}

/// The refusal of a plan whose numbers moved since planning, naming `numbers` of `total`.
fn stale(numbers: &[String], total: usize) -> StoreError {
    conflict(
        PlanRefusal::Stale,
        format!(
            "the estate changed since the plan was made: {}{}; make a new plan",
            numbers.join(", "),
            if total > numbers.len() {
                format!(" and {} more", total - numbers.len())
            } else {
                String::new()
            }
        ),
        json!({ "numbers": numbers, "count": total }),
    )
}

/// A row's changes split by how they are applied: whether it creates the number, its
/// field updates, and its transitions and deletion in order.
fn changes_of(changes: &[Change]) -> (bool, Vec<&Change>, Vec<&Change>) {
    let create = changes.iter().any(|c| matches!(c, Change::Create));
    let updates = changes
        .iter()
        .filter(|c| matches!(c, Change::Update { .. }))
        .collect();
    let steps = changes
        .iter()
        .filter(|c| !matches!(c, Change::Update { .. } | Change::Create))
        .collect();
    (create, updates, steps)
}

/// The id of a location or platform as a plan shows it.
fn id_of(v: &Value) -> Option<i64> {
    v.get("id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// The fields an `update` list sets, in the shape [`numbers`] takes them.
#[derive(Default)]
struct Fields {
    description: Option<String>,
    tags: Option<Vec<Tag>>,
    location: Option<Option<i64>>,
    platform: Option<Option<i64>>,
    number_type: Option<Option<NumberType>>,
}

/// The fields a row's `update`s set; a stored plan that does not read is an internal error.
fn fields_of(updates: &[&Change]) -> StoreResult<Fields> {
    let mut f = Fields::default();
    let bad = |field: &str| StoreError::Internal(format!("stored plan has a bad {field} update"));
    for c in updates {
        let Change::Update { field, new, .. } = c else {
            continue;
        };
        match field.as_str() {
            "description" => {
                f.description = Some(new.as_str().ok_or_else(|| bad(field))?.to_string())
            }
            "tags" => {
                let names: Vec<String> =
                    serde_json::from_value(new.clone()).map_err(|_| bad(field))?;
                f.tags = Some(Tag::parse_stored_set(&names).map_err(|_| bad(field))?);
            }
            "location" => f.location = Some(id_of(new)),
            "platform" => f.platform = Some(id_of(new)),
            "number_type" => {
                f.number_type = Some(match new.as_str() {
                    Some(t) => Some(t.parse().map_err(|_| bad(field))?),
                    None => None,
                })
            }
            _ => return Err(bad(field)),
        }
    }
    Ok(f)
}

/// The lifecycle request a transition step makes; `None` for the other changes.
fn request_of(step: &Change) -> Option<Request> {
    let target = |t: &Target| t.clone();
    Some(match step {
        Change::Assign {
            target: t,
            override_reservation,
            override_quarantine,
        } => Request::Assign {
            target: target(t),
            override_reservation: *override_reservation,
            override_quarantine: *override_quarantine,
            reassign: false,
        },
        // The plan showed the move from `previous`; applying it is the explicit reassign.
        Change::Reassign { target: t, .. } => Request::Assign {
            target: target(t),
            override_reservation: false,
            override_quarantine: false,
            reassign: true,
        },
        Change::Unassign {
            quarantine_days, ..
        } => Request::Unassign {
            quarantine_days: *quarantine_days,
            reason: Some("import".into()),
        },
        Change::Reserve {
            reason,
            reserved_for,
            until,
        } => Request::Reserve {
            reason: reason.clone(),
            reserved_for: reserved_for.clone(),
            expires_at: until.map(|u| u.naive_utc()),
        },
        Change::Release => Request::Release {
            reason: Some("import".into()),
        },
        Change::Quarantine { reason, until } => Request::Quarantine {
            reason: reason.clone(),
            until: until.map(|u| u.naive_utc()),
        },
        Change::Create | Change::Delete | Change::Update { .. } => return None,
    })
}

/// Applies a plan in the caller's transaction; every change is audited under one new
/// change set (source `import`). Refused with 409 `plan_has_errors`, `plan_expired`,
/// `plan_already_applied` or `plan_stale` (naming up to ten numbers that changed).
pub fn apply(conn: &mut Conn, permit: &Permit, id: &str) -> StoreResult<Applied> {
    let now = crate::now();
    let plan = get(conn, permit, id, now)?;
    applicable(&plan)?;
    unmoved(conn, id)?;
    let change_set_id = audit::new_change_set_id();
    let permit = permit
        .clone()
        .with_change_set(change_set_id.clone())
        .with_source(Source::Import);
    let scope = permit.scope().clone();
    let mut summary = Summary::default();
    // A page of rows at a time (each number is on one row only, so pages are
    // independent): creations, field updates in bulk, then transitions and deletions.
    for_rows(conn, id, |conn, rows| {
        apply_rows(conn, &permit, &scope, rows, now, &mut summary)
    })?;
    summary.rows = plan.summary.rows;
    summary.unchanged = plan.summary.unchanged;
    set_applied(conn, id, &change_set_id, now)?;
    Ok(Applied {
        id: id.to_string(),
        status: PlanStatus::Applied,
        change_set_id,
        applied: summary,
    })
}

/// Refuses a plan that is not `planned`, or has errors.
fn applicable(plan: &Plan) -> StoreResult<()> {
    let id = &plan.id;
    match plan.status {
        PlanStatus::Applied => {
            return Err(conflict(
                PlanRefusal::AlreadyApplied,
                format!(
                    "plan {id} was applied already (change set {})",
                    plan.change_set_id.clone().unwrap_or_default()
                ),
                json!({ "change_set_id": plan.change_set_id }),
            ));
        }
        PlanStatus::Expired => {
            return Err(conflict(
                PlanRefusal::Expired,
                format!(
                    "plan {id} expired at {}; make a new plan",
                    utc(plan.expires_at).to_rfc3339()
                ),
                json!({ "expires_at": utc(plan.expires_at).to_rfc3339() }),
            ));
        }
        PlanStatus::Planning => {
            return Err(conflict(
                PlanRefusal::NotReady,
                format!("plan {id} is still being made; apply it once it is planned"),
                json!({ "status": "planning" }),
            ));
        }
        PlanStatus::Failed => {
            return Err(conflict(
                PlanRefusal::Stale,
                format!(
                    "plan {id} was refused before because the estate changed under it; make a new plan"
                ),
                json!({ "numbers": [], "count": 0 }),
            ));
        }
        PlanStatus::Planned => {}
    }
    if plan.error_count > 0 {
        return Err(conflict(
            PlanRefusal::HasErrors,
            format!(
                "plan {id} has {} error(s); fix the file and plan again",
                plan.error_count
            ),
            json!({ "errors": plan.error_count }),
        ));
    }
    Ok(())
}

/// Refuses the plan as stale when any of its numbers moved since planning: versions
/// only, a page of rows at a time, before anything is written.
fn unmoved(conn: &mut Conn, id: &str) -> StoreResult<()> {
    use crate::schema::numbers as n;
    let mut changed: Vec<String> = Vec::new();
    let mut total_changed = 0;
    for_rows(conn, id, |conn, rows| {
        let e164s: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
        let mut now_at: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for chunk in e164s.chunks(5000) {
            now_at.extend(
                n::table
                    .filter(n::e164.eq_any(chunk))
                    .select((n::e164, n::version))
                    .load::<(String, i64)>(conn)?,
            );
        }
        for r in rows {
            if now_at.get(&r.number).copied() != r.expected_version {
                total_changed += 1;
                if changed.len() < STALE_NAMED {
                    changed.push(r.number.clone());
                }
            }
        }
        Ok(())
    })?;
    if total_changed > 0 {
        return Err(stale(&changed, total_changed));
    }
    Ok(())
}

/// Applies one page of a plan's rows (see [`apply`]).
fn apply_rows(
    conn: &mut Conn,
    permit: &Permit,
    scope: &Scope,
    rows: &[PlanRow],
    now: NaiveDateTime,
    summary: &mut Summary,
) -> StoreResult<()> {
    // The version each number is at as the apply proceeds.
    let mut versions: HashMap<String, i64> = HashMap::new();
    create_rows(conn, permit, rows, &mut versions)?;
    edit_rows(conn, permit, scope, rows, now, &mut versions)?;
    step_rows(conn, permit, rows, &versions, summary)
}

/// Creations, in batches, through `numbers::create_many`.
fn create_rows(
    conn: &mut Conn,
    permit: &Permit,
    rows: &[PlanRow],
    versions: &mut HashMap<String, i64>,
) -> StoreResult<()> {
    let mut creates = Vec::new();
    for r in rows {
        let (create, updates, _) = changes_of(&r.changes);
        if !create {
            continue;
        }
        let f = fields_of(&updates)?;
        let number = PhoneNumber::parse(&r.number)
            .map_err(|e| StoreError::Internal(format!("stored plan number {}: {e}", r.number)))?;
        creates.push(NewNumber {
            number,
            location_id: f.location.flatten(),
            tags: f.tags.unwrap_or_default(),
            description: f.description.unwrap_or_default(),
            platform_id: f.platform.flatten(),
            number_type: f.number_type.flatten(),
        });
        versions.insert(r.number.clone(), 1);
    }
    if !creates.is_empty() {
        numbers::create_many(conn, permit, creates)?;
    }
    Ok(())
}

/// Field updates of existing numbers, in bulk ([`update_many`]).
fn edit_rows(
    conn: &mut Conn,
    permit: &Permit,
    scope: &Scope,
    rows: &[PlanRow],
    now: NaiveDateTime,
    versions: &mut HashMap<String, i64>,
) -> StoreResult<()> {
    let edited: Vec<String> = rows
        .iter()
        .filter(|r| {
            let (create, updates, _) = changes_of(&r.changes);
            !create && !updates.is_empty()
        })
        .map(|r| r.number.clone())
        .collect();
    if edited.is_empty() {
        return Ok(());
    }
    let mut current: HashMap<String, Number> = numbers::by_e164(conn, &edited)?
        .into_iter()
        .map(|n| (n.number.clone(), n))
        .collect();
    let mut edits = Vec::with_capacity(edited.len());
    for r in rows {
        let (create, updates, _) = changes_of(&r.changes);
        if create || updates.is_empty() {
            continue;
        }
        let before = current
            .remove(&r.number)
            .ok_or_else(|| stale(std::slice::from_ref(&r.number), 1))?;
        edits.push((before, fields_of(&updates)?));
    }
    update_many(conn, permit, scope, edits, now, versions)
}

/// Transitions and deletions, one number at a time through the lifecycle; counts every
/// row as done.
fn step_rows(
    conn: &mut Conn,
    permit: &Permit,
    rows: &[PlanRow],
    versions: &HashMap<String, i64>,
    summary: &mut Summary,
) -> StoreResult<()> {
    for r in rows {
        let (_, _, steps) = changes_of(&r.changes);
        let mut version = versions
            .get(&r.number)
            .copied()
            .or(r.expected_version)
            .unwrap_or(1);
        for step in steps {
            if let Change::Delete = step {
                numbers::delete(conn, permit, &r.number, Some(version))
                    .map_err(|e| moved(e, &r.number))?;
                continue;
            }
            let Some(request) = request_of(step) else {
                continue;
            };
            let after = lifecycle::apply(conn, permit, &r.number, request, Some(version))
                .map_err(|e| moved(e, &r.number))?;
            version = after.version;
        }
        summary.count(&r.changes);
    }
    Ok(())
}

/// A lifecycle write refused on its version guard refuses the plan as stale.
fn moved(e: StoreError, number: &String) -> StoreError {
    match e {
        StoreError::Stale { .. } => stale(std::slice::from_ref(number), 1),
        other => other,
    }
}

/// Writes many numbers' field updates: one `UPDATE … FROM (VALUES …)` per 500 numbers,
/// each row guarded by its version (a mismatch refuses the whole plan as stale), tags
/// replaced in bulk, and one `number.update` record per number.
fn update_many(
    conn: &mut Conn,
    permit: &Permit,
    scope: &Scope,
    edits: Vec<(Number, Fields)>,
    now: NaiveDateTime,
    versions: &mut HashMap<String, i64>,
) -> StoreResult<()> {
    if edits.is_empty() {
        return Ok(());
    }
    let wanted_tags = lock_refs(conn, &edits)?;
    let tag_ids = tag_ids(conn, &wanted_tags)?;
    let afters = edits
        .iter()
        .map(|(before, f)| edited(scope, before, f, &tag_ids, now))
        .collect::<StoreResult<Vec<Number>>>()?;
    write_fields(conn, &edits, &afters, now)?;
    relink_tags(conn, &edits, &tag_ids)?;
    let records: Vec<audit::TextChange> = edits
        .iter()
        .zip(&afters)
        .map(|((before, _), after)| audit::TextChange {
            action: "number.update",
            entity_kind: "number",
            entity_id: &before.number,
            before: Some(before.snapshot().to_text()),
            after: Some(after.snapshot().to_text()),
        })
        .collect();
    audit::record_many_text(conn, permit, records)?;
    for a in afters {
        versions.insert(a.number, a.version);
    }
    Ok(())
}

/// Checks that the locations and platforms the edits name exist (and, on PostgreSQL,
/// keeps them: FOR SHARE), once per distinct id; returns the tags they name, each once
/// (the first spelling wins).
fn lock_refs(conn: &mut Conn, edits: &[(Number, Fields)]) -> StoreResult<Vec<Tag>> {
    let mut locs = HashSet::new();
    let mut plats = HashSet::new();
    let mut wanted_tags: Vec<Tag> = Vec::new();
    let mut tag_keys_seen = HashSet::new();
    for (_, f) in edits {
        if let Some(Some(l)) = f.location {
            locs.insert(l);
        }
        if let Some(Some(p)) = f.platform {
            plats.insert(p);
        }
        for t in f.tags.iter().flatten() {
            if tag_keys_seen.insert(t.key().to_string()) {
                wanted_tags.push(t.clone());
            }
        }
    }
    for (ids, table, what) in [
        (&locs, crate::dialect::RefTable::Locations, "location"),
        (&plats, crate::dialect::RefTable::Platforms, "platform"),
    ] {
        for id in ids {
            if !crate::dialect::lock_ref(conn, table, *id)? {
                return Err(StoreError::invalid(
                    "unknown_location",
                    what,
                    format!("{what} {id} no longer exists; make a new plan"),
                ));
            }
        }
    }
    Ok(wanted_tags)
}

/// Tag ids and the names they are stored under, by key, creating the tags that do not
/// exist yet.
fn tag_ids(conn: &mut Conn, wanted_tags: &[Tag]) -> StoreResult<HashMap<String, (i64, String)>> {
    if wanted_tags.is_empty() {
        return Ok(HashMap::new());
    }
    crate::tags::ensure(conn, wanted_tags)?;
    let keys: Vec<&str> = wanted_tags.iter().map(Tag::key).collect();
    let mut found = HashMap::new();
    for chunk in keys.chunks(5000) {
        let rows: Vec<(String, i64, String)> = tags::table
            .filter(tags::key.eq_any(chunk))
            .select((tags::key, tags::id, tags::name))
            .load(conn)?;
        for (k, i, n) in rows {
            found.insert(k, (i, n));
        }
    }
    Ok(found)
}

/// The number after its field updates, refused when it lies (or would lie) outside the
/// caller's scope.
fn edited(
    scope: &Scope,
    before: &Number,
    f: &Fields,
    tag_ids: &HashMap<String, (i64, String)>,
    now: NaiveDateTime,
) -> StoreResult<Number> {
    let mut after = before.clone();
    if let Some(d) = &f.description {
        after.description = d.clone();
    }
    if let Some(l) = f.location {
        after.location_id = l;
    }
    if let Some(p) = f.platform {
        after.platform_id = p;
    }
    if let Some(t) = f.number_type {
        after.number_type = t;
    }
    if let Some(t) = &f.tags {
        let mut names: Vec<(String, String)> = t
            .iter()
            .filter_map(|t| {
                tag_ids
                    .get(t.key())
                    .map(|(_, n)| (t.key().to_string(), n.clone()))
            })
            .collect();
        names.sort();
        after.tags = names.into_iter().map(|(_, n)| n).collect();
    }
    after.version = before.version + 1;
    after.updated_at = now;
    let loc = after.location_id.map(|l| l.to_string());
    let keys: Vec<String> = after.tags.iter().map(|t| t.to_lowercase()).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let before_keys: Vec<String> = before.tags.iter().map(|t| t.to_lowercase()).collect();
    let before_refs: Vec<&str> = before_keys.iter().map(String::as_str).collect();
    let before_loc = before.location_id.map(|l| l.to_string());
    if !scope.admits(before_loc.as_deref(), &before_refs)
        || !scope.admits(loc.as_deref(), &key_refs)
    {
        return Err(StoreError::Forbidden {
            code: "out_of_scope",
            message: format!("{} lies outside your scope, or would", before.number),
        });
    }
    Ok(after)
}

/// Writes the new fields, 500 numbers a statement, each guarded by its version; a number
/// that moved refuses the plan as stale, naming the ones that did.
fn write_fields(
    conn: &mut Conn,
    edits: &[(Number, Fields)],
    afters: &[Number],
    now: NaiveDateTime,
) -> StoreResult<()> {
    for (c, chunk) in afters.chunks(500).enumerate() {
        let fields: Vec<crate::dialect::FieldRow<'_>> = chunk
            .iter()
            .zip(&edits[c * 500..])
            .map(|(a, (b, _))| crate::dialect::FieldRow {
                details: a.location_id != b.location_id
                    || a.platform_id != b.platform_id
                    || a.number_type != b.number_type,
                id: a.id,
                version: a.version - 1,
                description: &a.description,
                location_id: a.location_id,
                platform_id: a.platform_id,
                number_type: a.number_type.map(NumberType::as_str),
            })
            .collect();
        let updated = crate::dialect::update_number_fields(conn, &fields, now)?;
        if updated != chunk.len() {
            let ids: Vec<i64> = chunk.iter().map(|a| a.id).collect();
            let now_at: HashMap<i64, i64> = crate::schema::numbers::table
                .filter(crate::schema::numbers::id.eq_any(&ids))
                .select((crate::schema::numbers::id, crate::schema::numbers::version))
                .load::<(i64, i64)>(conn)?
                .into_iter()
                .collect();
            let moved: Vec<String> = chunk
                .iter()
                .filter(|a| now_at.get(&a.id) != Some(&a.version))
                .map(|a| a.number.clone())
                .collect();
            let total = moved.len();
            return Err(stale(&moved[..total.min(STALE_NAMED)], total));
        }
    }
    Ok(())
}

/// Replaces the tag links of every number whose tags change.
fn relink_tags(
    conn: &mut Conn,
    edits: &[(Number, Fields)],
    tag_ids: &HashMap<String, (i64, String)>,
) -> StoreResult<()> {
    let retagged: Vec<(i64, Vec<i64>)> = edits
        .iter()
        .filter_map(|(b, f)| {
            f.tags.as_ref().map(|t| {
                (
                    b.id,
                    t.iter()
                        .filter_map(|t| tag_ids.get(t.key()).map(|(i, _)| *i))
                        .collect(),
                )
            })
        })
        .collect();
    crate::tags::replace_for_numbers(conn, &retagged)
}
