//! Reconciliation: where Teams' number assignments (the snapshot the worker lists into
//! `teams_numbers`) and the inventory disagree, and the two ways to settle it — adopt
//! Teams' state into the inventory, or push the inventory's state to Teams as jobs.
//!
//! Numbers with a provisioning job in flight (`pending`) are not drift: Teams is about to
//! change. Drift spans the whole platform, including numbers the inventory lacks, so
//! only unscoped callers may read or settle it (the API checks that).

use std::collections::{HashMap, HashSet};

use diesel::{
    prelude::*,
    sql_types::{BigInt, Nullable, Text},
};
use domain::{NumberType, Permit, PhoneNumber, Target, TargetKind};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult, audit,
    lifecycle::{self, Request},
    numbers::{self, NewNumber},
    page::{self, Page},
    schema::{directory_users, numbers as n, provisioning_jobs as j, services},
};

/// How Teams and the inventory disagree about a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Teams has the number; the inventory does not.
    NotInInventory,
    /// Assigned in Teams, not in the inventory.
    AssignedInTeamsOnly,
    /// Assigned in the inventory, not in Teams (or Teams lacks the number).
    AssignedInInventoryOnly,
    /// Assigned in both, to different targets.
    DifferentTarget,
    /// The inventory has the number on another platform: neither side's state is taken
    /// until a person moves it (its platform is part of the inventory's truth).
    OtherPlatform,
    /// The inventory has the number in the same state as Teams but on no platform, so
    /// its changes would never reach Teams; adopting puts it on this platform.
    NoPlatform,
}

impl DriftKind {
    fn parse(s: &str) -> StoreResult<DriftKind> {
        Ok(match s {
            "not_in_inventory" => DriftKind::NotInInventory,
            "assigned_in_teams_only" => DriftKind::AssignedInTeamsOnly,
            "assigned_in_inventory_only" => DriftKind::AssignedInInventoryOnly,
            "different_target" => DriftKind::DifferentTarget,
            "other_platform" => DriftKind::OtherPlatform,
            "no_platform" => DriftKind::NoPlatform,
            other => {
                return Err(StoreError::Internal(format!(
                    "unknown drift kind {other:?}"
                )));
            }
        })
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The number, E.164.
    pub number: String,
    /// How they disagree.
    pub kind: DriftKind,
    /// The inventory's status (`None`: not in the inventory).
    pub inventory_status: Option<String>,
    /// The inventory's platform for the number (`None`: none, or not in the inventory).
    pub inventory_platform_id: Option<i64>,
    /// The inventory's assignee.
    pub inventory_target: Option<Target>,
    /// The object id Teams assigns it to.
    pub teams_target_id: Option<String>,
    /// Teams' `assignmentStatus`.
    pub teams_status: Option<String>,
    /// Teams' number type, in the inventory's words.
    pub teams_number_type: Option<String>,
}

#[derive(QueryableByName)]
struct DriftRow {
    #[diesel(sql_type = Text)]
    e164: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    platform_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    assigned_kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    assigned_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    assigned_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    teams_target: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    teams_status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    teams_type: Option<String>,
}

/// The differences between Teams and the inventory on `platform_id` after `after` (an
/// E.164 cursor), in E.164 order, at most `limit`.
fn query(conn: &mut Conn, platform_id: i64, after: &str, limit: i64) -> StoreResult<Vec<Drift>> {
    // The inventory's target as Teams names it: a user's object id, a service's
    // external id (joined by text, so no cast can fail on either backend).
    // A number the inventory keeps on no platform is compared as if on this one (and
    // is drift even when in step: its changes would never reach Teams); one on another
    // platform is drift of its own kind, whatever its state.
    let differs = "COALESCE(CASE WHEN nn.assigned_kind = 'user' THEN nn.assigned_id \
                   ELSE sv.external_id END, '') <> t.assignment_target_id";
    let sql = format!(
        "SELECT * FROM (\
           SELECT t.e164 AS e164, \
             CASE WHEN nn.id IS NULL THEN 'not_in_inventory' \
                  WHEN nn.platform_id IS NOT NULL AND nn.platform_id <> $1 THEN 'other_platform' \
                  WHEN t.assignment_target_id IS NULL AND nn.status = 'assigned' THEN 'assigned_in_inventory_only' \
                  WHEN t.assignment_target_id IS NOT NULL AND nn.status <> 'assigned' THEN 'assigned_in_teams_only' \
                  WHEN t.assignment_target_id IS NOT NULL AND {differs} THEN 'different_target' \
                  ELSE 'no_platform' END AS kind, \
             nn.status AS status, nn.platform_id AS platform_id, nn.assigned_kind AS assigned_kind, \
             nn.assigned_id AS assigned_id, nn.assigned_name AS assigned_name, \
             t.assignment_target_id AS teams_target, \
             t.assignment_status AS teams_status, t.number_type AS teams_type \
           FROM teams_numbers t \
           LEFT JOIN numbers nn ON nn.e164 = t.e164 \
           LEFT JOIN services sv ON nn.assigned_kind = 'service' AND CAST(sv.id AS TEXT) = nn.assigned_id \
           WHERE t.platform_id = $1 \
             AND (nn.provisioning_state IS NULL OR nn.provisioning_state <> 'pending') \
             AND (nn.id IS NULL OR nn.platform_id IS NULL OR nn.platform_id <> $1 \
               OR (t.assignment_target_id IS NOT NULL AND (nn.status <> 'assigned' OR {differs})) \
               OR (t.assignment_target_id IS NULL AND nn.status = 'assigned')) \
           UNION ALL \
           SELECT nn.e164, 'assigned_in_inventory_only', nn.status, nn.platform_id, nn.assigned_kind, \
             nn.assigned_id, nn.assigned_name, NULL, NULL, NULL \
           FROM numbers nn \
           WHERE nn.platform_id = $1 AND nn.status = 'assigned' \
             AND (nn.provisioning_state IS NULL OR nn.provisioning_state <> 'pending') \
             AND NOT EXISTS (SELECT 1 FROM teams_numbers t WHERE t.platform_id = $1 AND t.e164 = nn.e164)\
         ) d WHERE d.e164 > $2 ORDER BY d.e164 LIMIT {limit}"
    );
    let rows: Vec<DriftRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(platform_id)
        .bind::<Text, _>(after)
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let inventory_target = match (&r.assigned_kind, r.assigned_id, r.assigned_name) {
                (Some(k), Some(id), Some(name)) => Some(Target {
                    kind: k.parse().map_err(|_| {
                        StoreError::Internal(format!("numbers.assigned_kind holds {k:?}"))
                    })?,
                    id,
                    name,
                }),
                _ => None,
            };
            Ok(Drift {
                number: r.e164,
                kind: DriftKind::parse(&r.kind)?,
                inventory_status: r.status,
                inventory_platform_id: r.platform_id,
                inventory_target,
                teams_target_id: r.teams_target,
                teams_status: r.teams_status,
                teams_number_type: r.teams_type,
            })
        })
        .collect()
}

/// A page of the platform's drift, in E.164 order.
pub fn list(
    conn: &mut Conn,
    platform_id: i64,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<Drift>> {
    let limit = page::limit(limit)?;
    let after = match cursor {
        Some(c) => page::decode(c)?,
        None => String::new(),
    };
    let rows = query(conn, platform_id, &after, limit + 1)?;
    Ok(page::finish(rows, limit, |d| d.number.clone()))
}

/// Rows per read of a platform's drift when settling it.
const SELECT_PAGE: i64 = 50_000;

/// The drift of the given numbers (all of the platform's when `numbers` is `None`).
fn selected(
    conn: &mut Conn,
    platform_id: i64,
    numbers: Option<&[String]>,
) -> StoreResult<Vec<Drift>> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        // Each page re-reads what sorts after its cursor: few, large pages.
        let batch = query(conn, platform_id, &after, SELECT_PAGE)?;
        let done = batch.len() < SELECT_PAGE as usize;
        if let Some(last) = batch.last() {
            after = last.number.clone();
        }
        all.extend(batch);
        if done {
            break;
        }
    }
    if let Some(wanted) = numbers {
        let wanted: std::collections::HashSet<&str> = wanted.iter().map(String::as_str).collect();
        all.retain(|d| wanted.contains(d.number.as_str()));
    }
    Ok(all)
}

/// The listed numbers `selected` found no drift for (in step, a job in flight, or
/// unknown to both sides), each once, as skipped: a number the caller sent is answered.
fn not_drifted(numbers: Option<&[String]>, drifted: &[Drift]) -> Vec<Skipped> {
    let Some(listed) = numbers else {
        return Vec::new();
    };
    let found: std::collections::HashSet<&str> =
        drifted.iter().map(|d| d.number.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    listed
        .iter()
        .filter(|n| !found.contains(n.as_str()) && seen.insert(n.as_str()))
        .map(|n| Skipped {
            number: n.clone(),
            reason: "no drift on this platform (in step, a provisioning job in flight, or neither side has it)".into(),
        })
        .collect()
}

/// A number that was not settled, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The number.
    pub number: String,
    /// Why.
    pub reason: String,
}

/// What settling drift did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The change set its changes are recorded under (revertible like an import's).
    pub change_set_id: String,
    /// Numbers changed (adopt) or jobs written (push).
    pub done: usize,
    /// Numbers left as they were.
    pub skipped: Vec<Skipped>,
}

fn number_type_of(word: Option<&str>) -> Option<NumberType> {
    word.and_then(|w| w.parse().ok())
}

/// Takes Teams' state into the inventory for the given drifted numbers (all when
/// `numbers` is `None`), in the caller's transaction, as one change set: a number Teams
/// has and the inventory lacks is created on the platform (and assigned if Teams assigns
/// it); one the inventory keeps on no platform is put on this one (and then settled like
/// the rest); one on another platform is skipped, with the reason; an assignment only Teams has is made (overriding a reservation or quarantine —
/// adopting is the explicit instruction to do so); a different target is reassigned;
/// an assignment only the inventory has is unassigned into quarantine. No provisioning
/// job is written: Teams already holds this state. A Teams target that is neither a
/// synced user nor a service with that external id is skipped, with the reason.
pub fn adopt(
    conn: &mut Conn,
    permit: &Permit,
    platform_id: i64,
    numbers: Option<&[String]>,
) -> StoreResult<Settled> {
    let change_set_id = audit::new_change_set_id();
    let permit = permit.clone().with_change_set(change_set_id.clone());
    let drift = selected(conn, platform_id, numbers)?;
    let wanted: Vec<String> = drift
        .iter()
        .filter_map(|d| d.teams_target_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let targets = teams_targets(conn, &wanted)?;
    let mut done = 0;
    let mut skipped = not_drifted(numbers, &drift);
    let mut create = Vec::new();
    let mut assign: Vec<(String, Target)> = Vec::new();
    let mut unassign = Vec::new();
    let mut parsed = parse_all(
        drift
            .iter()
            .map(|d| (d.kind == DriftKind::NotInInventory).then_some(d.number.as_str())),
    )?
    .into_iter();
    let mut place = Vec::new();
    for d in drift {
        let number = parsed.next().flatten();
        if d.kind == DriftKind::OtherPlatform {
            skipped.push(other_platform(&d));
            continue;
        }
        let target = match &d.teams_target_id {
            Some(id) => match targets.get(id) {
                Some(t) => Some(t.clone()),
                None => {
                    skipped.push(Skipped {
                        number: d.number.clone(),
                        reason: format!(
                            "Teams assigns it to {id}, which is neither a synced user nor a service with that external id"
                        ),
                    });
                    continue;
                }
            },
            None => None,
        };
        if d.kind == DriftKind::NotInInventory {
            let Some(number) = number else {
                skipped.push(Skipped {
                    number: d.number.clone(),
                    reason: "not a valid E.164 number".into(),
                });
                continue;
            };
            let number = NewNumber {
                number,
                location_id: None,
                tags: Vec::new(),
                description: String::new(),
                platform_id: Some(platform_id),
                number_type: number_type_of(d.teams_number_type.as_deref()),
            };
            // Created as Teams holds it: assigned in the same insert when Teams assigns it.
            create.push((number, target));
            done += 1;
            continue;
        }
        if d.inventory_platform_id.is_none() {
            place.push(d.number.clone());
        }
        if d.kind == DriftKind::NoPlatform {
            done += 1;
            continue;
        }
        match target {
            Some(t) => assign.push((d.number, t)),
            None => unassign.push(d.number),
        }
    }
    for chunk in create.chunks(numbers::MAX_BATCH) {
        numbers::create_adopted(conn, &permit, chunk.to_vec())?;
    }
    for chunk in place.chunks(1000) {
        place_on(conn, &permit, chunk, platform_id)?;
    }
    let now = crate::now();
    for chunk in assign.chunks(1000) {
        let e164s: Vec<String> = chunk.iter().map(|(e, _)| e.clone()).collect();
        let mut befores: HashMap<String, numbers::Number> = numbers::by_e164(conn, &e164s)?
            .into_iter()
            .map(|n| (n.number.clone(), n))
            .collect();
        let items: Vec<(numbers::Number, Target)> = chunk
            .iter()
            .filter_map(|(e, t)| befores.remove(e).map(|b| (b, t.clone())))
            .collect();
        let left = lifecycle::adopt_assignments(conn, &permit, &items, now)?;
        done += items.len() - left.len();
        // Refused or changed since read: one by one, as any transition.
        for e164 in left {
            let target = chunk
                .iter()
                .find(|(e, _)| *e == e164)
                .map(|(_, t)| t.clone());
            if let Some(target) = target {
                let request = Request::Assign {
                    target,
                    override_reservation: true,
                    override_quarantine: true,
                    reassign: true,
                };
                lifecycle::apply_adopted(conn, &permit, &e164, request)?;
                done += 1;
            }
        }
    }
    for e164 in unassign {
        let request = Request::Unassign {
            quarantine_days: None,
            reason: Some("adopted from Teams, where it is not assigned".into()),
        };
        lifecycle::apply_adopted(conn, &permit, &e164, request)?;
        done += 1;
    }
    Ok(Settled {
        change_set_id,
        done,
        skipped,
    })
}

/// Why a number the inventory keeps on another platform is left alone.
fn other_platform(d: &Drift) -> Skipped {
    Skipped {
        number: d.number.clone(),
        reason: format!(
            "the inventory has it on platform {}; set its platform to this one first",
            d.inventory_platform_id.unwrap_or_default()
        ),
    }
}

/// Puts numbers the inventory keeps on no platform on `platform_id`, as Teams has them
/// there: one statement per call, each row guarded by having no platform still, audited
/// as `number.update` with before and after.
fn place_on(
    conn: &mut Conn,
    permit: &Permit,
    e164s: &[String],
    platform_id: i64,
) -> StoreResult<()> {
    let befores = numbers::by_e164(conn, e164s)?;
    let ids: Vec<i64> = befores.iter().map(|b| b.id).collect();
    let now = crate::now();
    diesel::update(
        n::table
            .filter(n::id.eq_any(&ids))
            .filter(n::platform_id.is_null()),
    )
    .set((
        n::platform_id.eq(platform_id),
        n::version.eq(n::version + 1),
        n::updated_at.eq(now),
    ))
    .execute(conn)?;
    let afters: HashMap<String, numbers::Number> = numbers::by_e164(conn, e164s)?
        .into_iter()
        .map(|a| (a.number.clone(), a))
        .collect();
    let records = befores
        .iter()
        .filter_map(|b| {
            let a = afters.get(&b.number)?;
            (b.platform_id.is_none() && a.platform_id == Some(platform_id)).then(|| {
                audit::TextChange {
                    action: "number.update",
                    entity_kind: "number",
                    entity_id: &b.number,
                    before: Some(b.snapshot().to_text()),
                    after: Some(a.snapshot().to_text()),
                }
            })
        })
        .collect();
    audit::record_many_text(conn, permit, records)
}

/// Each given number parsed (`None` where none was given or it is not valid), on as many
/// threads as there are cores: libphonenumber takes some 50 µs a number, seconds for the
/// tens of thousands a day-one adoption creates.
fn parse_all<'a>(
    numbers: impl Iterator<Item = Option<&'a str>>,
) -> StoreResult<Vec<Option<PhoneNumber>>> {
    let numbers: Vec<Option<&str>> = numbers.collect();
    let parse = |part: &[Option<&str>]| -> Vec<Option<PhoneNumber>> {
        part.iter()
            .map(|n| n.and_then(|n| PhoneNumber::parse(n).ok()))
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || numbers.len() < 2_000 {
        return Ok(parse(&numbers));
    }
    let per = numbers.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = numbers
            .chunks(per)
            .map(|part| s.spawn(move || parse(part)))
            .collect();
        let mut all = Vec::with_capacity(numbers.len());
        for part in parts {
            all.extend(
                part.join()
                    .map_err(|_| StoreError::Internal("parsing a number panicked".into()))?,
            );
        }
        Ok(all)
    })
}

/// Whom Teams' object ids name in the inventory, in bulk: synced users (not deleted) by
/// object id, else services by external id.
fn teams_targets(conn: &mut Conn, ids: &[String]) -> StoreResult<HashMap<String, Target>> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let users: Vec<(String, String)> = directory_users::table
            .filter(directory_users::id.eq_any(chunk))
            .filter(directory_users::deleted.eq(false))
            .select((directory_users::id, directory_users::upn))
            .load(conn)?;
        for (id, upn) in users {
            found.insert(
                id.clone(),
                Target {
                    kind: TargetKind::User,
                    id,
                    name: upn,
                },
            );
        }
        let services: Vec<(i64, String, Option<String>)> = services::table
            .filter(services::external_id.eq_any(chunk))
            .select((services::id, services::name, services::external_id))
            .load(conn)?;
        for (id, name, external) in services {
            if let Some(external) = external {
                found.entry(external).or_insert(Target {
                    kind: TargetKind::Service,
                    id: id.to_string(),
                    name,
                });
            }
        }
    }
    Ok(found)
}

/// Writes a provisioning job for each given drifted number (all when `numbers` is
/// `None`) that tells Teams the inventory's state: assign to the inventory's target, or
/// unassign when the inventory has it free. Numbers the inventory lacks are skipped (it
/// has no state to push). Audited as `provisioning_job.push`, one change set.
pub fn push(
    conn: &mut Conn,
    permit: &Permit,
    platform_id: i64,
    numbers: Option<&[String]>,
) -> StoreResult<Settled> {
    let change_set_id = audit::new_change_set_id();
    let permit = permit.clone().with_change_set(change_set_id.clone());
    let mut done = 0;
    let drifted = selected(conn, platform_id, numbers)?;
    let mut skipped = not_drifted(numbers, &drifted);
    for d in drifted {
        if d.kind == DriftKind::NotInInventory {
            skipped.push(Skipped {
                number: d.number,
                reason: "the inventory does not have this number; adopt it instead".into(),
            });
            continue;
        }
        if d.kind == DriftKind::OtherPlatform {
            skipped.push(other_platform(&d));
            continue;
        }
        if d.inventory_platform_id.is_none() {
            skipped.push(Skipped {
                number: d.number,
                reason: "the inventory has it on no platform, so no job can carry it; adopt it, or set its platform, first".into(),
            });
            continue;
        }
        let number = numbers::get(conn, &domain::Scope::unrestricted(), &d.number)?;
        crate::jobs::enqueue_current(conn, &permit, &number, platform_id)?;
        if number.assignment.is_some() {
            diesel::update(n::table.filter(n::id.eq(number.id)))
                .set((
                    n::provisioning_state.eq(domain::ProvisioningState::Pending.as_str()),
                    n::provisioning_error.eq(None::<String>),
                ))
                .execute(conn)?;
        }
        let job: i64 = j::table
            .filter(j::number_id.eq(number.id))
            .select(diesel::dsl::max(j::id))
            .first::<Option<i64>>(conn)?
            .unwrap_or_default();
        audit::record(
            conn,
            &permit,
            audit::Change {
                action: "provisioning_job.push",
                entity_kind: "provisioning_job",
                entity_id: &job.to_string(),
                before: None,
                after: Some(serde_json::json!({
                    "number": number.number,
                    "drift": d.kind,
                    "platform_id": platform_id.to_string(),
                })),
            },
        )?;
        done += 1;
    }
    Ok(Settled {
        change_set_id,
        done,
        skipped,
    })
}
