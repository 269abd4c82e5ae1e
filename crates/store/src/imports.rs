//! Bulk change as plan → apply: CSV imports and change-set reverts.
//!
//! [`plan_csv`] reads a file (see [`domain::csv_import`]), compares every line with the
//! number it names and stores a plan: per line the changes (create, field updates,
//! transitions) and the errors. Nothing else changes. [`apply`] then runs a plan by id in
//! the caller's one transaction — every row through the store's audited writes, all under
//! one change-set id — or refuses it (409) when it has errors, expired, was applied, or
//! when any number in it changed since it was planned. [`revert`] builds the inverse of a
//! change set as a plan of the same kind, applied the same way.
//!
//! How a line's cells become changes (SPEC §2 decides what is allowed):
//! - a column absent from the file leaves that field alone; an empty cell clears it;
//!   `country` and `range` are derived, so they are only checked (a different value is an
//!   error, never a silent change);
//! - `status` is the state the number should end in; an empty cell keeps the current one.
//!   The plan lists the transition that gets it there: available → `reserve`, `assign`,
//!   `quarantine`; reserved/quarantined → `release` (an early release is the admin
//!   override); assigned → `unassign` (to available: `quarantine_days` 0, the override;
//!   to quarantined: the default period, or the days until `quarantined_until`), to
//!   another assignee → `reassign`; reserved/quarantined → assigned is `assign` with the
//!   reservation/quarantine override (imports need the admin role, which holds it).
//!   Changing the details of a reservation, or the end of a quarantine, is `release`
//!   followed by `reserve`/`quarantine`. Any other move (reserved ↔ quarantined,
//!   assigned → reserved) is refused by `domain::lifecycle::decide` and becomes a row
//!   error with its reason;
//! - the assignee, reservation and quarantine columns describe their status only; they
//!   are ignored on a line whose target status is another one;
//! - a number outside the caller's scope, or a change that would move one out of it, is a
//!   row error; a number absent from the file is never touched.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDateTime, Timelike, Utc};
use diesel::prelude::*;
use domain::{
    Action, NumberStatus, NumberType, Overrides, Permit, PhoneNumber, PlanKind, PlanStatus,
    ProvisioningState, Refusal, Scope, Source, Tag, Transition,
    csv_import::{Cell, Column, ImportRow, Reader, Record},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Conn, Db, StoreError, StoreResult, audit,
    error::{PlanRefusal, stored},
    lifecycle::{self, Request},
    numbers::{self, NewNumber, Number},
    page::{self, Page},
    schema::{import_plan_rows, import_plans, locations, number_tags, platforms, ranges, tags},
};

/// How many file lines are compared with the inventory at a time.
const CHUNK: usize = 5_000;
/// At most this many numbers are named in a `plan_stale` refusal.
const STALE_NAMED: usize = 10;
/// Plan rows stored per (short) write transaction while planning.
const SINK_ROWS: usize = 5_000;
/// Applied plans are kept this long for `GET /api/v1/imports/{id}`; the audit keeps
/// their changes for good.
pub const APPLIED_KEPT_DAYS: i64 = 30;

/// A problem on one line (or with the whole file), as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The line (the header is line 1; for a revert, the row's position).
    pub line: u64,
    /// The column, when the problem is in one cell.
    pub column: Option<String>,
    /// What is wrong and what would fix it.
    pub reason: String,
}

/// An assignee as a plan names it: the store's one target record.
pub use crate::lifecycle::Target as TargetRef;

/// One planned change of a number. Field updates come first, then transitions in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Add the number (its fields follow as `update`s from `null`).
    Create,
    /// Remove the number (reverting its creation).
    Delete,
    /// Set a field: `description`, `tags`, `location`, `platform` or `number_type`.
    /// Locations and platforms are `{id, name}`.
    Update {
        /// The field.
        field: String,
        /// Its value now.
        old: Value,
        /// Its value after.
        new: Value,
    },
    /// available (or, with the override, reserved / quarantined) → assigned.
    Assign {
        /// To whom.
        target: TargetRef,
        /// Assigning a reserved number.
        #[serde(default)]
        override_reservation: bool,
        /// Assigning a quarantined number before its quarantine ends.
        #[serde(default)]
        override_quarantine: bool,
    },
    /// assigned → assigned to someone else.
    Reassign {
        /// The assignee now.
        previous: TargetRef,
        /// The assignee after.
        target: TargetRef,
    },
    /// assigned → quarantined, or available with `quarantine_days` 0.
    Unassign {
        /// The assignee now.
        previous: TargetRef,
        /// Days of quarantine; `null` for the configured period.
        quarantine_days: Option<i64>,
    },
    /// available → reserved.
    Reserve {
        /// Why.
        reason: String,
        /// For whom.
        reserved_for: Option<String>,
        /// Until when; `null` for the configured default.
        until: Option<DateTime<Utc>>,
    },
    /// reserved / quarantined → available.
    Release,
    /// available → quarantined.
    Quarantine {
        /// Why.
        reason: String,
        /// Until when; `null` for the configured period.
        until: Option<DateTime<Utc>>,
    },
}

/// Counts of a plan: lines read and what they would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Data lines read (for a revert: numbers in the change set).
    pub rows: u64,
    /// Lines that change nothing.
    pub unchanged: u64,
    /// Numbers created.
    pub creates: u64,
    /// Existing numbers with field updates.
    pub updates: u64,
    /// Assignments.
    pub assigns: u64,
    /// Reassignments.
    pub reassigns: u64,
    /// Unassignments.
    pub unassigns: u64,
    /// Reservations.
    pub reserves: u64,
    /// Releases.
    pub releases: u64,
    /// Quarantines.
    pub quarantines: u64,
    /// Numbers deleted (reverts of creations).
    pub deletes: u64,
    /// Errors, file-level ones included.
    pub errors: u64,
}

impl Summary {
    fn count(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            self.unchanged += 1;
        }
        let mut created = false;
        let mut updated = false;
        for c in changes {
            match c {
                Change::Create => {
                    created = true;
                    self.creates += 1;
                }
                Change::Delete => self.deletes += 1,
                Change::Update { .. } => updated = true,
                Change::Assign { .. } => self.assigns += 1,
                Change::Reassign { .. } => self.reassigns += 1,
                Change::Unassign { .. } => self.unassigns += 1,
                Change::Reserve { .. } => self.reserves += 1,
                Change::Release => self.releases += 1,
                Change::Quarantine { .. } => self.quarantines += 1,
            }
        }
        if updated && !created {
            self.updates += 1;
        }
    }
}

/// A stored plan and, once applied, its outcome.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Random id (32 hex digits).
    pub id: String,
    /// Where it is; `expired` once `expires_at` has passed unapplied.
    pub status: PlanStatus,
    /// An import or a revert.
    pub kind: PlanKind,
    /// For a revert: the change set it undoes.
    pub source_change_set: Option<String>,
    /// Who planned it (`kind:id`).
    pub created_by: String,
    /// Their name.
    pub created_by_name: String,
    /// When it was planned.
    pub created_at: NaiveDateTime,
    /// After this it can no longer be applied.
    pub expires_at: NaiveDateTime,
    /// Counts.
    pub summary: Summary,
    /// Problems with the file as a whole.
    pub file_errors: Vec<RowError>,
    /// All errors, file-level and per row.
    pub error_count: i64,
    /// Data lines read.
    pub row_count: i64,
    /// The change set its apply recorded.
    pub change_set_id: Option<String>,
    /// When it was applied.
    pub applied_at: Option<NaiveDateTime>,
}

/// One line of a plan: only lines with changes or errors are kept.
#[derive(Debug, Clone)]
pub struct PlanRow {
    /// The line.
    pub line: u64,
    /// The number (canonical E.164, or the cell as written when it did not parse).
    pub number: String,
    /// The number's version when planned (`None` for a create).
    pub expected_version: Option<i64>,
    /// What applying would do.
    pub changes: Vec<Change>,
    /// Why it cannot.
    pub errors: Vec<RowError>,
}

/// What applying a plan did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The plan.
    pub id: String,
    /// Always applied.
    pub status: PlanStatus,
    /// The change set every audit record of the apply carries.
    pub change_set_id: String,
    /// What was done.
    pub applied: Summary,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = import_plans)]
struct PlanRecord {
    id: String,
    status: String,
    kind: String,
    source_change_set: Option<String>,
    created_by: String,
    created_by_name: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    summary: String,
    file_errors: String,
    error_count: i64,
    row_count: i64,
    change_set_id: Option<String>,
    applied_at: Option<NaiveDateTime>,
}

impl PlanRecord {
    fn into_plan(self, now: NaiveDateTime) -> StoreResult<Plan> {
        let status = match stored("import_plans.status", &self.status)? {
            PlanStatus::Planned if now > self.expires_at => PlanStatus::Expired,
            s => s,
        };
        Ok(Plan {
            id: self.id,
            status,
            kind: stored("import_plans.kind", &self.kind)?,
            source_change_set: self.source_change_set,
            created_by: self.created_by,
            created_by_name: self.created_by_name,
            created_at: self.created_at,
            expires_at: self.expires_at,
            summary: serde_json::from_str(&self.summary).unwrap_or_default(),
            file_errors: serde_json::from_str(&self.file_errors).unwrap_or_default(),
            error_count: self.error_count,
            row_count: self.row_count,
            change_set_id: self.change_set_id,
            applied_at: self.applied_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = import_plan_rows)]
struct RowRecord {
    line: i64,
    number: String,
    expected_version: Option<i64>,
    changes: String,
    errors: String,
}

impl RowRecord {
    fn into_row(self) -> StoreResult<PlanRow> {
        Ok(PlanRow {
            line: self.line as u64,
            number: self.number,
            expected_version: self.expected_version,
            changes: serde_json::from_str(&self.changes)
                .map_err(|e| StoreError::Internal(format!("stored plan row: {e}")))?,
            errors: serde_json::from_str(&self.errors).unwrap_or_default(),
        })
    }
}

fn actor_key(permit: &Permit) -> String {
    format!("{}:{}", permit.actor().kind.as_str(), permit.actor().id)
}

fn new_plan_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Instants are compared to the second: a spreadsheet may round what the export wrote.
fn same_instant(a: Option<NaiveDateTime>, b: Option<NaiveDateTime>) -> bool {
    let s = |t: Option<NaiveDateTime>| t.and_then(|t| t.with_nanosecond(0));
    s(a) == s(b)
}

/// A location or platform as a plan shows it.
fn named(id: i64, name: &str) -> Value {
    json!({ "id": id.to_string(), "name": name })
}

/// Names and ids of the small reference tables, loaded once per plan.
struct Refs {
    locations: HashMap<i64, String>,
    location_keys: HashMap<String, i64>,
    platforms: HashMap<i64, String>,
    platform_keys: HashMap<String, i64>,
    ranges: HashMap<i64, (Option<String>, String, String)>,
    targets: HashMap<(String, String), Result<TargetRef, String>>,
}

impl Refs {
    fn load(conn: &mut Conn) -> StoreResult<Refs> {
        let locs: Vec<(i64, String)> = locations::table
            .select((locations::id, locations::name))
            .load(conn)?;
        let plats: Vec<(i64, String)> = platforms::table
            .select((platforms::id, platforms::name))
            .load(conn)?;
        let rs: Vec<(i64, Option<String>, String, String)> = ranges::table
            .select((
                ranges::id,
                ranges::name,
                ranges::start_number,
                ranges::end_number,
            ))
            .load(conn)?;
        Ok(Refs {
            location_keys: locs.iter().map(|(i, n)| (n.to_lowercase(), *i)).collect(),
            locations: locs.into_iter().collect(),
            platform_keys: plats.iter().map(|(i, n)| (n.to_lowercase(), *i)).collect(),
            platforms: plats.into_iter().collect(),
            ranges: rs.into_iter().map(|(i, n, s, e)| (i, (n, s, e))).collect(),
            targets: HashMap::new(),
        })
    }

    fn location(&self, id: Option<i64>) -> Value {
        match id {
            Some(i) => named(i, self.locations.get(&i).map(String::as_str).unwrap_or("")),
            None => Value::Null,
        }
    }

    fn platform(&self, id: Option<i64>) -> Value {
        match id {
            Some(i) => named(i, self.platforms.get(&i).map(String::as_str).unwrap_or("")),
            None => Value::Null,
        }
    }

    /// A location or platform by id or (case-insensitive) name.
    fn find(ids: &HashMap<i64, String>, keys: &HashMap<String, i64>, v: &str) -> Option<i64> {
        v.parse::<i64>()
            .ok()
            .filter(|i| ids.contains_key(i))
            .or_else(|| keys.get(&v.to_lowercase()).copied())
    }

    fn range_matches(&self, id: Option<i64>, cell: &str) -> bool {
        let Some((name, start, end)) = id.and_then(|i| self.ranges.get(&i)) else {
            return false;
        };
        name.as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(cell))
            || cell.parse::<i64>().ok() == id
            || cell
                .split_once('-')
                .is_some_and(|(a, b)| a.trim() == start && b.trim() == end)
    }

    /// Resolves an assignee by UPN or user id, service name or id; tries users first
    /// when the kind is not given. Answers are remembered for the plan.
    fn target(
        &mut self,
        conn: &mut Conn,
        kind: Option<&str>,
        value: &str,
    ) -> Result<TargetRef, String> {
        let key = (kind.unwrap_or("").to_string(), value.to_lowercase());
        if let Some(hit) = self.targets.get(&key) {
            return hit.clone();
        }
        let kinds: &[&str] = match kind {
            Some("user") => &["user"],
            Some("service") => &["service"],
            _ => &["user", "service"],
        };
        let mut answer = Err(String::new());
        for k in kinds {
            match crate::directory::resolve_target(conn, k, value) {
                Ok(t) => {
                    answer = Ok(t);
                    break;
                }
                Err(StoreError::Invalid { .. }) if kinds.len() > 1 => {
                    answer = Err(format!("no user or service '{value}' exists"));
                }
                Err(StoreError::Invalid { message, .. } | StoreError::Conflict { message, .. }) => {
                    answer = Err(message);
                    break;
                }
                Err(other) => return Err(other.to_string()),
            }
        }
        self.targets.insert(key, answer.clone());
        answer
    }
}

/// The parts of a number the planner compares, loaded without the columns it never reads
/// (timestamps of creation and assignment, who reserved or assigned): planning a million
/// lines reads a million numbers, and decoding less is most of what makes that fast.
type LightRow = (
    (
        i64,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ),
    (Option<String>, String, i64),
    (Option<String>, Option<String>, Option<NaiveDateTime>),
    (Option<NaiveDateTime>, Option<String>),
    (Option<String>, Option<String>, Option<String>),
);

/// Tag names by id, loaded once per plan (tags are few; numbers carry their ids).
struct TagNames(HashMap<i64, String>);

impl TagNames {
    fn load(conn: &mut Conn) -> StoreResult<TagNames> {
        Ok(TagNames(
            tags::table
                .select((tags::id, tags::name))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .collect(),
        ))
    }
}

/// Current numbers by E.164 for planning (see [`LightRow`]), tags included.
fn current_numbers(
    conn: &mut Conn,
    names: Option<&TagNames>,
    e164s: &[String],
) -> StoreResult<HashMap<String, Number>> {
    use crate::schema::numbers as n;
    let mut out = HashMap::with_capacity(e164s.len());
    for chunk in e164s.chunks(5000) {
        let (Some(low), Some(high)) = (chunk.iter().min(), chunk.iter().max()) else {
            continue;
        };
        // A file in E.164 order (an export is) asks for a run of neighbouring numbers: one
        // range scan of the index reads them ~6x faster than probing it once per number.
        // A scattered chunk would drag the whole estate in, so the scan stops a little past
        // the chunk's size, and then the numbers are probed one by one instead.
        let bound = chunk.len() * 2;
        let columns = (
            (
                n::id,
                n::e164,
                n::country,
                n::status,
                n::range_id,
                n::location_id,
                n::platform_id,
            ),
            (n::number_type, n::description, n::version),
            (n::reserved_reason, n::reserved_for, n::reserved_until),
            (n::quarantine_until, n::quarantine_reason),
            (n::assigned_kind, n::assigned_id, n::assigned_name),
        );
        let wanted: HashSet<&str> = chunk.iter().map(String::as_str).collect();
        let mut rows: Vec<LightRow> = n::table
            .filter(n::e164.between(low, high))
            .select(columns)
            .limit(bound as i64 + 1)
            .load(conn)?;
        if rows.len() > bound {
            rows = n::table
                .filter(n::e164.eq_any(chunk))
                .select(columns)
                .load(conn)?;
        }
        let rows: Vec<LightRow> = rows
            .into_iter()
            .filter(|r| wanted.contains(r.0.1.as_str()))
            .collect();
        let ids: Vec<i64> = rows.iter().map(|r| r.0.0).collect();
        let mut tag_ids: HashMap<i64, Vec<i64>> = HashMap::new();
        if names.is_some() {
            for (number, tag) in crate::tags::links_of(conn, &ids)? {
                tag_ids.entry(number).or_default().push(tag);
            }
        }
        for (
            (id, e164, country, status, range_id, location_id, platform_id),
            (number_type, description, version),
            (reserved_reason, reserved_for, reserved_until),
            (quarantine_until, quarantine_reason),
            (assigned_kind, assigned_id, assigned_name),
        ) in rows
        {
            let mut tags: Vec<String> = tag_ids
                .remove(&id)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| names.and_then(|n| n.0.get(t)).cloned())
                .collect();
            tags.sort_by_key(|t| t.to_lowercase());
            let never = NaiveDateTime::default();
            let number = Number {
                id,
                base: String::new(),
                extension: None,
                country,
                status: stored("numbers.status", &status)?,
                range_id,
                location_id,
                platform_id,
                number_type: number_type
                    .as_deref()
                    .map(|t| stored("numbers.number_type", t))
                    .transpose()?,
                description,
                tags,
                version,
                created_at: never,
                updated_at: never,
                reservation: reserved_reason.map(|reason| numbers::Reservation {
                    reason,
                    reserved_for,
                    reserved_by: String::new(),
                    expires_at: reserved_until,
                }),
                quarantine: quarantine_until.map(|until| numbers::Quarantine {
                    since: never,
                    until,
                    reason: quarantine_reason,
                    previous_assignee: None,
                }),
                assignment: match (assigned_kind, assigned_id) {
                    (Some(kind), Some(id)) => Some(numbers::Assignment {
                        kind: stored("numbers.assigned_kind", &kind)?,
                        id,
                        name: assigned_name.unwrap_or_default(),
                        assigned_at: never,
                        assigned_by: String::new(),
                        // Planning never reads it; the number's row keeps the real state.
                        provisioning_state: ProvisioningState::NotRequired,
                        provisioning_error: None,
                    }),
                    _ => None,
                },
                number: e164.clone(),
            };
            out.insert(e164, number);
        }
    }
    Ok(out)
}

/// What a line (or a revert) wants a number to become; `None` leaves a field alone.
#[derive(Debug, Default)]
struct Desired {
    description: Option<String>,
    tags: Option<Vec<Tag>>,
    location: Option<Option<i64>>,
    platform: Option<Option<i64>>,
    number_type: Option<Option<NumberType>>,
    status: Option<NumberStatus>,
    target: Option<TargetRef>,
    reserved_reason: Cell<String>,
    reserved_for: Cell<String>,
    reserved_until: Cell<NaiveDateTime>,
    quarantined_until: Cell<NaiveDateTime>,
    quarantine_reason: Option<String>,
}

/// Errors of one row, with their columns.
struct Errors {
    line: u64,
    list: Vec<RowError>,
}

impl Errors {
    fn new(line: u64) -> Errors {
        Errors {
            line,
            list: Vec::new(),
        }
    }

    fn add(&mut self, column: Option<&str>, reason: impl Into<String>) {
        self.list.push(RowError {
            line: self.line,
            column: column.map(str::to_string),
            reason: reason.into(),
        });
    }
}

fn status_of(n: &Number) -> NumberStatus {
    n.status
}

fn target_of(n: &Number) -> Option<TargetRef> {
    n.assignment.as_ref().map(|a| TargetRef {
        kind: a.kind,
        id: a.id.clone(),
        name: a.name.clone(),
    })
}

/// Why the status table refuses a move, for a row error.
fn refusal(t: Transition, from: NumberStatus, r: Refusal, n: Option<&Number>) -> String {
    let verb = t.verb();
    let why = match r {
        Refusal::Reserved => "it is reserved; release it first (status available)".to_string(),
        Refusal::Quarantined => format!(
            "it is quarantined{}; release it first (status available)",
            n.and_then(|n| n.quarantine.as_ref())
                .map(|q| format!(" until {}", utc(q.until).to_rfc3339()))
                .unwrap_or_default()
        ),
        Refusal::Assigned => {
            "it is assigned; unassign it first (status available or quarantined)".into()
        }
        Refusal::NotAssigned => "it is not assigned".into(),
        Refusal::NotAvailable => format!("only an available number can be {verb}d"),
        Refusal::NotHeld => "only a reserved or quarantined number can be released".into(),
        Refusal::OverrideForbidden => {
            "overriding a reservation or quarantine needs the admin role".into()
        }
    };
    format!(
        "cannot {verb} a {} number ({}): {why}",
        from.as_str(),
        r.code()
    )
}

/// Plans the field updates of an existing number, or a creation's fields.
fn field_changes(refs: &Refs, current: Option<&Number>, d: &Desired, out: &mut Vec<Change>) {
    let update = |field: &str, old: Value, new: Value| Change::Update {
        field: field.into(),
        old,
        new,
    };
    if let Some(v) = &d.description {
        let old = current.map(|n| n.description.as_str()).unwrap_or("");
        if v != old {
            out.push(update(
                "description",
                current.map(|n| json!(n.description)).unwrap_or(Value::Null),
                json!(v),
            ));
        }
    }
    if let Some(t) = &d.tags {
        let now: &[String] = current.map(|n| n.tags.as_slice()).unwrap_or(&[]);
        // Both lists are free of duplicate keys, so equal length and inclusion is equality.
        let same_key = |a: &str, key: &str| a.chars().flat_map(char::to_lowercase).eq(key.chars());
        let same =
            now.len() == t.len() && t.iter().all(|t| now.iter().any(|o| same_key(o, t.key())));
        if !same {
            out.push(update(
                "tags",
                current.map(|n| json!(n.tags)).unwrap_or(Value::Null),
                json!(t.iter().map(Tag::name).collect::<Vec<_>>()),
            ));
        }
    }
    if let Some(v) = d.location {
        let old = current.and_then(|n| n.location_id);
        if v != old {
            out.push(update("location", refs.location(old), refs.location(v)));
        }
    }
    if let Some(v) = d.platform {
        let old = current.and_then(|n| n.platform_id);
        if v != old {
            out.push(update("platform", refs.platform(old), refs.platform(v)));
        }
    }
    if let Some(v) = d.number_type {
        let old = current.and_then(|n| n.number_type);
        if v != old {
            out.push(update("number_type", json!(old), json!(v)));
        }
    }
}

/// Plans the transitions that take a number (or a new one, `available`) to the wanted
/// status; refusals of the status table become errors.
fn transitions(
    permit: &Permit,
    current: Option<&Number>,
    d: &Desired,
    now: NaiveDateTime,
    out: &mut Vec<Change>,
    errors: &mut Errors,
) {
    use NumberStatus::*;
    let from = current.map(status_of).unwrap_or(Available);
    let to = d.status.unwrap_or(from);
    let permitted = permit.role().may(Action::Override);
    let over = current
        .and_then(|n| n.quarantine.as_ref())
        .is_some_and(|q| q.until <= now);
    let check = |t: Transition, s: NumberStatus, o: Overrides, errors: &mut Errors| {
        let o = Overrides { permitted, ..o };
        match domain::lifecycle::decide(t, s, o, over) {
            Ok(()) => true,
            Err(r) => {
                errors.add(Some("status"), refusal(t, s, r, current));
                false
            }
        }
    };
    let previous = current.and_then(target_of);
    let future = |column: &str, at: Option<NaiveDateTime>, errors: &mut Errors| {
        if at.is_some_and(|t| t <= now) {
            errors.add(Some(column), "must be in the future");
            false
        } else {
            true
        }
    };
    let keep = |cell: &Cell<String>, now_value: Option<&String>| -> Option<String> {
        match cell {
            None => now_value.cloned(),
            Some(v) => v.clone(),
        }
    };
    match to {
        Available => match from {
            Available => {}
            Reserved => {
                if check(Transition::Release, from, Overrides::default(), errors) {
                    out.push(Change::Release);
                }
            }
            Quarantined => {
                let o = Overrides {
                    quarantine: true,
                    ..Default::default()
                };
                if check(Transition::Release, from, o, errors) {
                    out.push(Change::Release);
                }
            }
            Assigned => {
                let o = Overrides {
                    quarantine: true,
                    ..Default::default()
                };
                if check(Transition::Unassign, from, o, errors) {
                    if let Some(previous) = previous {
                        out.push(Change::Unassign {
                            previous,
                            quarantine_days: Some(0),
                        });
                    }
                }
            }
        },
        Reserved => {
            let res = current
                .and_then(|n| n.reservation.as_ref())
                .filter(|_| from == Reserved);
            let reason = keep(&d.reserved_reason, res.map(|r| &r.reason));
            let reserved_for = keep(&d.reserved_for, res.and_then(|r| r.reserved_for.as_ref()));
            let until = match d.reserved_until {
                None => res.and_then(|r| r.expires_at),
                Some(v) => v,
            };
            let Some(reason) = reason.filter(|r| !r.trim().is_empty()) else {
                errors.add(Some("reserved_reason"), "is required to reserve a number");
                return;
            };
            let reserve = Change::Reserve {
                reason: reason.clone(),
                reserved_for: reserved_for.clone(),
                until: until.map(utc),
            };
            match from {
                Available => {
                    if future("reserved_until", until, errors)
                        && check(Transition::Reserve, from, Overrides::default(), errors)
                    {
                        out.push(reserve);
                    }
                }
                Reserved => {
                    let unchanged = res.is_some_and(|r| {
                        r.reason == reason
                            && r.reserved_for == reserved_for
                            && same_instant(r.expires_at, until)
                    });
                    if !unchanged
                        && future("reserved_until", until, errors)
                        && check(Transition::Release, from, Overrides::default(), errors)
                    {
                        out.push(Change::Release);
                        out.push(reserve);
                    }
                }
                _ => {
                    check(Transition::Reserve, from, Overrides::default(), errors);
                }
            }
        }
        Assigned => {
            let target = d
                .target
                .clone()
                .or_else(|| previous.clone().filter(|_| from == Assigned));
            let Some(target) = target else {
                errors.add(Some("assigned_to"), "is required for status assigned");
                return;
            };
            match from {
                Available => out.push(Change::Assign {
                    target,
                    override_reservation: false,
                    override_quarantine: false,
                }),
                Reserved => {
                    let o = Overrides {
                        reservation: true,
                        ..Default::default()
                    };
                    if check(Transition::Assign, from, o, errors) {
                        out.push(Change::Assign {
                            target,
                            override_reservation: true,
                            override_quarantine: false,
                        });
                    }
                }
                Quarantined => {
                    let o = Overrides {
                        quarantine: !over,
                        ..Default::default()
                    };
                    if check(Transition::Assign, from, o, errors) {
                        out.push(Change::Assign {
                            target,
                            override_reservation: false,
                            override_quarantine: !over,
                        });
                    }
                }
                Assigned => {
                    if let Some(previous) = previous {
                        if previous.kind != target.kind || previous.id != target.id {
                            out.push(Change::Reassign { previous, target });
                        }
                    }
                }
            }
        }
        Quarantined => {
            let q = current
                .and_then(|n| n.quarantine.as_ref())
                .filter(|_| from == Quarantined);
            let until = match d.quarantined_until {
                None => q.map(|q| q.until),
                Some(v) => v,
            };
            let reason = d
                .quarantine_reason
                .clone()
                .unwrap_or_else(|| "import".to_string());
            match from {
                Available => {
                    if future("quarantined_until", until, errors)
                        && check(Transition::Quarantine, from, Overrides::default(), errors)
                    {
                        out.push(Change::Quarantine {
                            reason,
                            until: until.map(utc),
                        });
                    }
                }
                Assigned => {
                    if future("quarantined_until", until, errors)
                        && check(Transition::Unassign, from, Overrides::default(), errors)
                    {
                        // Unassigning quarantines for whole days from now.
                        let days = until.map(|u| {
                            let secs = (u - now).num_seconds().max(1);
                            ((secs + 86_399) / 86_400).clamp(1, 3650)
                        });
                        if let Some(previous) = previous {
                            out.push(Change::Unassign {
                                previous,
                                quarantine_days: days,
                            });
                        }
                    }
                }
                Quarantined => {
                    let changed = matches!(d.quarantined_until, Some(Some(u)) if !same_instant(q.map(|q| q.until), Some(u)));
                    if changed {
                        let o = Overrides {
                            quarantine: true,
                            ..Default::default()
                        };
                        if future("quarantined_until", until, errors)
                            && check(Transition::Release, from, o, errors)
                        {
                            out.push(Change::Release);
                            out.push(Change::Quarantine {
                                reason,
                                until: until.map(utc),
                            });
                        }
                    }
                }
                Reserved => {
                    check(Transition::Quarantine, from, Overrides::default(), errors);
                }
            }
        }
    }
}

/// Checks the number and the result against the caller's scope.
fn check_scope(scope: &Scope, current: Option<&Number>, d: &Desired, errors: &mut Errors) -> bool {
    if scope.is_unrestricted() {
        return true;
    }
    let admits = |loc: Option<i64>, keys: &[String]| {
        let loc = loc.map(|l| l.to_string());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        scope.admits(loc.as_deref(), &keys)
    };
    let keys_now: Vec<String> = current
        .map(|n| n.tags.iter().map(|t| t.to_lowercase()).collect())
        .unwrap_or_default();
    if let Some(n) = current {
        if !admits(n.location_id, &keys_now) {
            errors.add(None, format!("{} lies outside your scope", n.number));
            return false;
        }
    }
    let loc = d.location.unwrap_or(current.and_then(|n| n.location_id));
    let keys = match &d.tags {
        Some(t) => t.iter().map(|t| t.key().to_string()).collect(),
        None => keys_now,
    };
    if !admits(loc, &keys) {
        errors.add(
            None,
            "the result would lie outside your scope (location and tags)",
        );
        return false;
    }
    true
}

/// Plans one row against the number's current state.
fn plan_number(
    refs: &Refs,
    permit: &Permit,
    current: Option<&Number>,
    d: &Desired,
    now: NaiveDateTime,
    errors: &mut Errors,
) -> Vec<Change> {
    let mut out = Vec::new();
    if !check_scope(permit.scope(), current, d, errors) {
        return out;
    }
    if current.is_none() {
        out.push(Change::Create);
    }
    field_changes(refs, current, d, &mut out);
    transitions(permit, current, d, now, &mut out, errors);
    out
}

/// Turns a line's cells into what it wants, resolving names; errors name the column.
fn desired_from_line(
    conn: &mut Conn,
    refs: &mut Refs,
    row: &mut ImportRow,
    current: Option<&Number>,
    country: &str,
    errors: &mut Errors,
) -> StoreResult<Desired> {
    let mut d = Desired {
        description: row.description.take(),
        tags: row.tags.take(),
        number_type: row.number_type,
        status: row.status.flatten(),
        reserved_reason: row.reserved_reason.take(),
        reserved_for: row.reserved_for.take(),
        reserved_until: row.reserved_until,
        quarantined_until: row.quarantined_until,
        ..Default::default()
    };
    if let Some(Some(c)) = &row.country {
        if c != country {
            errors.add(
                Some("country"),
                format!("is derived from the number ({country}); leave it as it is or empty"),
            );
        }
    }
    if let Some(Some(r)) = &row.range {
        match current {
            Some(n) if refs.range_matches(n.range_id, r) => {}
            Some(_) => errors.add(
                Some("range"),
                format!(
                    "'{r}' is not the number's range; an import cannot move a number between ranges"
                ),
            ),
            None => errors.add(
                Some("range"),
                "a new number joins a range only when the range is created; leave range empty",
            ),
        }
    }
    for (column, cell, ids, keys, slot) in [
        (
            "location",
            &row.location,
            &refs.locations,
            &refs.location_keys,
            &mut d.location,
        ),
        (
            "platform",
            &row.platform,
            &refs.platforms,
            &refs.platform_keys,
            &mut d.platform,
        ),
    ] {
        match cell {
            None => {}
            Some(None) => *slot = Some(None),
            Some(Some(v)) => {
                match now_named(current, column, ids, v).or_else(|| Refs::find(ids, keys, v)) {
                    Some(id) => *slot = Some(Some(id)),
                    None => errors.add(
                        Some(column),
                        format!("no {column} '{v}' exists (give its name or id)"),
                    ),
                }
            }
        }
    }
    let from = current.map(status_of).unwrap_or(NumberStatus::Available);
    let to = d.status.unwrap_or(from);
    if to == NumberStatus::Assigned {
        let kind = row.assigned_to_kind.clone().flatten();
        match &row.assigned_to {
            // No column: keep the current assignee (transitions() asks for one if there is none).
            None => {}
            Some(None) => errors.add(Some("assigned_to"), "is required for status assigned"),
            Some(Some(v)) => {
                let same = current
                    .and_then(|n| n.assignment.as_ref())
                    .is_some_and(|a| {
                        kind.as_deref().is_none_or(|k| k == a.kind.as_str())
                            && (a.id == *v || a.name.eq_ignore_ascii_case(v))
                    });
                if same && from == NumberStatus::Assigned {
                    // Unchanged: no look-up needed.
                } else {
                    match refs.target(conn, kind.as_deref(), v) {
                        Ok(t) => d.target = Some(t),
                        Err(reason) => errors.add(Some("assigned_to"), reason),
                    }
                }
            }
        }
    }
    Ok(d)
}

/// The id of the number's current location or platform when the cell names it (the common
/// case of an unchanged cell: no look-up, no allocation).
fn now_named(
    current: Option<&Number>,
    column: &str,
    names: &HashMap<i64, String>,
    v: &str,
) -> Option<i64> {
    let id = match column {
        "location" => current?.location_id?,
        _ => current?.platform_id?,
    };
    names
        .get(&id)
        .filter(|n| n.eq_ignore_ascii_case(v))
        .map(|_| id)
}

/// Buffers a plan's rows and stores them in short transactions of their own, so that
/// planning a large file never holds the (SQLite) writer for long.
struct RowSink<'p> {
    db: &'p Db,
    plan_id: &'p str,
    buffer: Vec<(i64, String, Option<i64>, String, String)>,
}

impl<'p> RowSink<'p> {
    fn new(db: &'p Db, plan_id: &'p str) -> RowSink<'p> {
        RowSink {
            db,
            plan_id,
            buffer: Vec::new(),
        }
    }

    fn push(&mut self, row: &PlanRow) -> StoreResult<()> {
        self.buffer.push((
            row.line as i64,
            row.number.clone(),
            row.expected_version,
            serde_json::to_string(&row.changes).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&row.errors).unwrap_or_else(|_| "[]".into()),
        ));
        if self.buffer.len() >= SINK_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> StoreResult<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = self
            .buffer
            .drain(..)
            .map(|(l, n, v, c, e)| {
                (
                    import_plan_rows::plan_id.eq(self.plan_id),
                    import_plan_rows::line.eq(l),
                    import_plan_rows::number.eq(n),
                    import_plan_rows::expected_version.eq(v),
                    import_plan_rows::changes.eq(c),
                    import_plan_rows::errors.eq(e),
                )
            })
            .collect();
        self.db.write(|c| {
            for chunk in rows.chunks(1000) {
                crate::dialect::insert_batch!(c, import_plan_rows::table, chunk);
            }
            Ok(())
        })
    }
}

/// Forgets plans that were never applied and expired more than a day ago (with plans
/// whose planning was cut short), and applied plans after [`APPLIED_KEPT_DAYS`] — their
/// changes stay in the audit under the change set.
fn purge(conn: &mut Conn, now: NaiveDateTime) -> StoreResult<()> {
    let old: Vec<String> = import_plans::table
        .filter(
            import_plans::status
                .ne("applied")
                .and(import_plans::expires_at.lt(now - Duration::days(1)))
                .or(import_plans::applied_at.lt(now - Duration::days(APPLIED_KEPT_DAYS))),
        )
        .select(import_plans::id)
        .load(conn)?;
    for chunk in old.chunks(500) {
        discard(conn, chunk)?;
    }
    Ok(())
}

fn discard(conn: &mut Conn, ids: &[String]) -> StoreResult<()> {
    diesel::delete(import_plan_rows::table.filter(import_plan_rows::plan_id.eq_any(ids)))
        .execute(conn)?;
    diesel::delete(import_plans::table.filter(import_plans::id.eq_any(ids))).execute(conn)?;
    Ok(())
}

/// Stores a plan's header as `planning` (not applicable yet; `GET` shows it with the rows
/// stored so far), after forgetting old plans.
fn start_plan(
    db: &Db,
    permit: &Permit,
    kind: &str,
    source_change_set: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<String> {
    let id = new_plan_id();
    db.write(|conn| {
        purge(conn, now)?;
        diesel::insert_into(import_plans::table)
            .values((
                import_plans::id.eq(&id),
                import_plans::status.eq("planning"),
                import_plans::kind.eq(kind),
                import_plans::source_change_set.eq(source_change_set),
                import_plans::created_by.eq(actor_key(permit)),
                import_plans::created_by_name.eq(&permit.actor().name),
                import_plans::created_at.eq(now),
                import_plans::expires_at.eq(now),
                import_plans::summary
                    .eq(serde_json::to_string(&Summary::default()).unwrap_or_default()),
                import_plans::file_errors.eq("[]"),
                import_plans::error_count.eq(0_i64),
                import_plans::row_count.eq(0_i64),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    Ok(id)
}

/// Ends planning: with the counts and file errors the plan becomes `planned`, to be
/// applied within `ttl` of `now` plus the time planning took; when planning failed, its
/// rows and header are removed.
fn finish_plan(
    db: &Db,
    id: &str,
    outcome: StoreResult<(Summary, Vec<RowError>)>,
    (now, started): (NaiveDateTime, std::time::Instant),
    ttl: Duration,
) -> StoreResult<Plan> {
    let took = Duration::from_std(started.elapsed()).unwrap_or_default();
    match outcome {
        Ok((summary, file_errors)) => db.write(|conn| {
            diesel::update(import_plans::table.filter(import_plans::id.eq(id)))
                .set((
                    import_plans::status.eq("planned"),
                    import_plans::expires_at.eq(now + took + ttl),
                    import_plans::summary.eq(serde_json::to_string(&summary).unwrap_or_default()),
                    import_plans::file_errors
                        .eq(serde_json::to_string(&file_errors).unwrap_or_default()),
                    import_plans::error_count.eq(summary.errors as i64),
                    import_plans::row_count.eq(summary.rows as i64),
                ))
                .execute(conn)?;
            load(conn, id, crate::now())
        }),
        Err(e) => {
            // Best effort: what is left behind is `planning`, never applicable, and purged.
            if let Err(cleanup) = db.write(|conn| discard(conn, &[id.to_string()])) {
                tracing::warn!(plan = id, error = %cleanup, "could not remove a failed plan");
            }
            Err(e)
        }
    }
}

/// Plans an import of a CSV file under `permit`; stores and returns the plan. Nothing in
/// the estate changes. `progress` hears (bytes read, bytes in all) as the file is read.
///
/// The estate is read on a connection of its own, outside any write transaction, and the
/// plan is stored a few thousand rows at a time: planning a large file never blocks other
/// writers for more than a moment. Each row remembers the version it was planned against,
/// so the plan needs no snapshot of its own — apply refuses it if any of them moved.
pub fn plan_csv(
    db: &Db,
    permit: &Permit,
    bytes: &[u8],
    now: NaiveDateTime,
    ttl: Duration,
    progress: &mut dyn FnMut(u64, u64),
) -> StoreResult<Plan> {
    let started = std::time::Instant::now();
    let id = start_plan(db, permit, "import", None, now)?;
    let outcome = db.read(|conn| plan_lines(conn, db, permit, &id, bytes, now, progress));
    finish_plan(db, &id, outcome, (now, started), ttl)
}

fn plan_lines(
    conn: &mut Conn,
    db: &Db,
    permit: &Permit,
    id: &str,
    bytes: &[u8],
    now: NaiveDateTime,
    progress: &mut dyn FnMut(u64, u64),
) -> StoreResult<(Summary, Vec<RowError>)> {
    let mut summary = Summary::default();
    let mut reader = match Reader::new(bytes) {
        Ok(r) => r,
        Err(errors) => {
            let file_errors: Vec<RowError> = errors
                .into_iter()
                .map(|e| RowError {
                    line: e.line,
                    column: e.column,
                    reason: e.reason,
                })
                .collect();
            summary.errors = file_errors.len() as u64;
            return Ok((summary, file_errors));
        }
    };
    let mut refs = Refs::load(conn)?;
    // Tags are compared when the file has them, and needed for scope when it names tags.
    let tag_names = if reader.has(Column::Tags) || !permit.scope().tags.is_empty() {
        Some(TagNames::load(conn)?)
    } else {
        None
    };
    let mut sink = RowSink::new(db, id);
    loop {
        let chunk: Vec<Record> = reader.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let (done, total) = reader.progress();
        progress(done, total);
        let keys: Vec<String> = chunk
            .iter()
            .filter_map(|r| match r {
                Record::Row(r) => Some(r.number.clone()),
                Record::Invalid { .. } => None,
            })
            .collect();
        let mut found = current_numbers(conn, tag_names.as_ref(), &keys)?;
        // Lines whose number is not in the inventory under its key: validate them fully;
        // a differently written number may still be there under its canonical form.
        let mut checked: HashMap<u64, Result<PhoneNumber, RowError>> = HashMap::new();
        let mut again = Vec::new();
        for r in &chunk {
            if let Record::Row(row) = r {
                if found.contains_key(&row.number) {
                    continue;
                }
                let result = row.check_number().map_err(|e| RowError {
                    line: e.line,
                    column: e.column,
                    reason: e.reason,
                });
                if let Ok(n) = &result {
                    let canonical = n.to_string();
                    if canonical != row.number {
                        again.push(canonical);
                    }
                }
                checked.insert(row.line, result);
            }
        }
        if !again.is_empty() {
            found.extend(current_numbers(conn, tag_names.as_ref(), &again)?);
        }
        for record in chunk {
            summary.rows += 1;
            let planned = match record {
                Record::Invalid {
                    line,
                    number,
                    errors,
                } => PlanRow {
                    line,
                    number,
                    expected_version: None,
                    changes: Vec::new(),
                    errors: errors
                        .into_iter()
                        .map(|e| RowError {
                            line: e.line,
                            column: e.column,
                            reason: e.reason,
                        })
                        .collect(),
                },
                Record::Row(mut row) => {
                    let mut errors = Errors::new(row.line);
                    let (number, country) = match checked.remove(&row.line) {
                        None => {
                            let country = found
                                .get(&row.number)
                                .map(|n| n.country.clone())
                                .unwrap_or_default();
                            (std::mem::take(&mut row.number), country)
                        }
                        Some(Ok(n)) => {
                            let canonical = n.to_string();
                            if canonical != row.number {
                                if let Err(first) = reader.claim(&canonical, row.line) {
                                    errors.add(
                                        Some("number"),
                                        format!("{canonical} appears twice: also on line {first}"),
                                    );
                                }
                            }
                            (canonical, n.country().to_string())
                        }
                        Some(Err(e)) => {
                            errors.list.push(e);
                            (row.number.clone(), String::new())
                        }
                    };
                    let current = found.get(&number);
                    let mut changes = Vec::new();
                    if errors.list.is_empty() {
                        let d = desired_from_line(
                            conn,
                            &mut refs,
                            &mut row,
                            current,
                            &country,
                            &mut errors,
                        )?;
                        if errors.list.is_empty() {
                            changes = plan_number(&refs, permit, current, &d, now, &mut errors);
                        }
                    }
                    if !errors.list.is_empty() {
                        changes.clear();
                    }
                    PlanRow {
                        line: row.line,
                        number,
                        expected_version: current.map(|n| n.version),
                        changes,
                        errors: errors.list,
                    }
                }
            };
            summary.errors += planned.errors.len() as u64;
            if planned.errors.is_empty() {
                summary.count(&planned.changes);
            }
            if !planned.changes.is_empty() || !planned.errors.is_empty() {
                sink.push(&planned)?;
            }
        }
    }
    sink.flush()?;
    let (done, total) = reader.progress();
    progress(done, total);
    Ok((summary, Vec::new()))
}

/// A number as an audit record's `before`/`after` shows it (the parts a revert restores).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Snapshot {
    version: i64,
    status: String,
    description: String,
    tags: Vec<String>,
    location_id: Option<i64>,
    platform_id: Option<i64>,
    number_type: Option<String>,
    reservation: Option<SnapReservation>,
    quarantine: Option<SnapQuarantine>,
    assignment: Option<SnapAssignment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SnapReservation {
    reason: String,
    reserved_for: Option<String>,
    expires_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SnapQuarantine {
    until: String,
    reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SnapAssignment {
    kind: String,
    id: String,
    name: String,
}

fn instant(s: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.naive_utc())
}

fn parse_snapshot(json: Option<&str>) -> Option<Snapshot> {
    json.and_then(|j| serde_json::from_str(j).ok())
}

/// What restoring a snapshot means, as a [`Desired`].
fn desired_from_snapshot(b: &Snapshot, errors: &mut Errors) -> Desired {
    let tags = match Tag::parse_set(&b.tags) {
        Ok(t) => t,
        Err(e) => {
            errors.add(Some("tags"), e.to_string());
            Vec::new()
        }
    };
    let status = b.status.parse().ok();
    Desired {
        description: Some(b.description.clone()),
        tags: Some(tags),
        location: Some(b.location_id),
        platform: Some(b.platform_id),
        number_type: Some(b.number_type.as_deref().and_then(|t| t.parse().ok())),
        status,
        target: b.assignment.as_ref().and_then(|a| {
            Some(TargetRef {
                kind: a.kind.parse().ok()?,
                id: a.id.clone(),
                name: a.name.clone(),
            })
        }),
        reserved_reason: Some(b.reservation.as_ref().map(|r| r.reason.clone())),
        reserved_for: Some(b.reservation.as_ref().and_then(|r| r.reserved_for.clone())),
        reserved_until: Some(
            b.reservation
                .as_ref()
                .and_then(|r| r.expires_at.as_deref())
                .and_then(instant),
        ),
        quarantined_until: Some(b.quarantine.as_ref().and_then(|q| instant(&q.until))),
        quarantine_reason: b.quarantine.as_ref().and_then(|q| q.reason.clone()),
    }
}

/// Builds the inverse of change set `change_set` as a plan: every number it touched goes
/// back to its state before the change set. A number that changed since (its version is
/// not the one the change set left) becomes a row error.
///
/// Like [`plan_csv`], it reads outside any write transaction and stores the plan in short
/// ones.
pub fn revert(
    db: &Db,
    permit: &Permit,
    change_set: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> StoreResult<Plan> {
    let records = db.read(|conn| {
        let records = audit::change_set_all(conn, change_set)?;
        if records.is_empty() {
            return Err(StoreError::not_found("change set", change_set));
        }
        // Scoped callers may revert only change sets they can see something of.
        if !permit.scope().is_unrestricted() {
            audit::change_set(conn, permit.scope(), change_set, None, Some(1))?;
        }
        Ok(records)
    })?;
    let started = std::time::Instant::now();
    let id = start_plan(db, permit, "revert", Some(change_set), now)?;
    let outcome = db.read(|conn| revert_rows(conn, db, permit, &id, &records, now));
    finish_plan(db, &id, outcome, (now, started), ttl)
}

fn revert_rows(
    conn: &mut Conn,
    db: &Db,
    permit: &Permit,
    id: &str,
    records: &[audit::AuditRow],
    now: NaiveDateTime,
) -> StoreResult<(Summary, Vec<RowError>)> {
    let mut summary = Summary::default();
    let mut file_errors = Vec::new();
    // Per number: the state before its first record and after its last.
    let mut order: Vec<String> = Vec::new();
    let mut span: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if r.entity_kind != "number" {
            file_errors.push(RowError {
                line: i as u64 + 1,
                column: None,
                reason: format!(
                    "record {} ({} of {} {}) cannot be reverted; only number changes can",
                    r.id, r.action, r.entity_kind, r.entity_id
                ),
            });
            continue;
        }
        match span.get_mut(&r.entity_id) {
            Some(s) => s.1 = r.after_json.clone(),
            None => {
                order.push(r.entity_id.clone());
                span.insert(
                    r.entity_id.clone(),
                    (r.before_json.clone(), r.after_json.clone()),
                );
            }
        }
    }
    let refs = Refs::load(conn)?;
    let current: HashMap<String, Number> = numbers::by_e164(conn, &order)?
        .into_iter()
        .map(|n| (n.number.clone(), n))
        .collect();
    let mut sink = RowSink::new(db, id);
    for (i, e164) in order.iter().enumerate() {
        let line = i as u64 + 1;
        let mut errors = Errors::new(line);
        let (before, after) = &span[e164];
        let before = parse_snapshot(before.as_deref());
        let after = parse_snapshot(after.as_deref());
        let now_n = current.get(e164);
        match (&after, now_n) {
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
        let mut changes = Vec::new();
        if errors.list.is_empty() {
            match &before {
                None => {
                    if let Some(n) = now_n {
                        let mut d = Desired::default();
                        if check_scope(permit.scope(), Some(n), &d, &mut errors) {
                            if status_of(n) == NumberStatus::Available {
                                changes.push(Change::Delete);
                            } else {
                                // Bring it back to available first, then remove it.
                                d.status = Some(NumberStatus::Available);
                                transitions(permit, Some(n), &d, now, &mut changes, &mut errors);
                                changes.push(Change::Delete);
                            }
                        }
                    }
                }
                Some(b) => {
                    let d = desired_from_snapshot(b, &mut errors);
                    if errors.list.is_empty() {
                        changes = plan_number(&refs, permit, now_n, &d, now, &mut errors);
                    }
                }
            }
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
        summary.rows += 1;
        summary.errors += row.errors.len() as u64;
        if row.errors.is_empty() {
            summary.count(&row.changes);
        }
        if !row.changes.is_empty() || !row.errors.is_empty() {
            sink.push(&row)?;
        }
    }
    sink.flush()?;
    summary.errors += file_errors.len() as u64;
    Ok((summary, file_errors))
}

fn load(conn: &mut Conn, id: &str, now: NaiveDateTime) -> StoreResult<Plan> {
    import_plans::table
        .filter(import_plans::id.eq(id))
        .select(PlanRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("import plan", id))?
        .into_plan(now)
}

/// A plan is visible to whoever made it and to unscoped callers; to others it does not
/// exist (it may name numbers outside their scope).
fn visible(plan: &Plan, permit: &Permit) -> bool {
    plan.created_by == actor_key(permit) || permit.scope().is_unrestricted()
}

/// A plan by id, if the caller may see it.
pub fn get(conn: &mut Conn, permit: &Permit, id: &str, now: NaiveDateTime) -> StoreResult<Plan> {
    let plan = load(conn, id, now)?;
    if !visible(&plan, permit) {
        return Err(StoreError::not_found("import plan", id));
    }
    Ok(plan)
}

/// A page of a plan's rows (those with changes or errors), by line.
pub fn rows(
    conn: &mut Conn,
    permit: &Permit,
    id: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<PlanRow>> {
    get(conn, permit, id, crate::now())?;
    let limit = page::limit(limit)?;
    let mut q = import_plan_rows::table
        .filter(import_plan_rows::plan_id.eq(id))
        .select(RowRecord::as_select())
        .order(import_plan_rows::line.asc())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(import_plan_rows::line.gt(page::decode_id(c)?));
    }
    let rows: Vec<RowRecord> = q.limit(limit + 1).load(conn)?;
    let rows = rows
        .into_iter()
        .map(RowRecord::into_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(page::finish(rows, limit, |r| r.line.to_string()))
}

/// Records that a plan can no longer be applied (`failed` after a stale refusal,
/// `expired`), in a transaction of its own after the refused apply rolled back.
pub fn mark(conn: &mut Conn, id: &str, status: PlanStatus) -> StoreResult<()> {
    diesel::update(
        import_plans::table
            .filter(import_plans::id.eq(id))
            .filter(import_plans::status.eq("planned")),
    )
    .set(import_plans::status.eq(status.as_str()))
    .execute(conn)?;
    Ok(())
}

fn conflict(reason: PlanRefusal, message: String, details: Value) -> StoreError {
    StoreError::PlanRefused {
        reason,
        message,
        details,
    }
}

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
                f.tags = Some(Tag::parse_set(&names).map_err(|_| bad(field))?);
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

fn request_of(step: &Change) -> Option<Request> {
    let target = |t: &TargetRef| t.clone();
    Some(match step {
        Change::Assign {
            target: t,
            override_reservation,
            override_quarantine,
        } => Request::Assign {
            target: target(t),
            override_reservation: *override_reservation,
            override_quarantine: *override_quarantine,
        },
        Change::Reassign { target: t, .. } => Request::Assign {
            target: target(t),
            override_reservation: false,
            override_quarantine: false,
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
    // 1. Nothing moved since planning: versions only, a page of rows at a time.
    let mut changed: Vec<String> = Vec::new();
    let mut total_changed = 0;
    for_rows(conn, id, |conn, rows| {
        let e164s: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
        let mut now_at: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        for chunk in e164s.chunks(5000) {
            now_at.extend(
                crate::schema::numbers::table
                    .filter(crate::schema::numbers::e164.eq_any(chunk))
                    .select((
                        crate::schema::numbers::e164,
                        crate::schema::numbers::version,
                    ))
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
    let change_set_id = audit::new_change_set_id();
    let permit = permit
        .clone()
        .with_change_set(change_set_id.clone())
        .with_source(Source::Import);
    let scope = permit.scope().clone();
    let mut summary = Summary::default();
    // 2. Then a page of rows at a time (each number is on one row only, so pages are
    // independent): creations, field updates in bulk, then transitions and deletions.
    for_rows(conn, id, |conn, rows| {
        apply_rows(conn, &permit, &scope, rows, now, &mut summary)
    })?;
    summary.rows = plan.summary.rows;
    summary.unchanged = plan.summary.unchanged;
    diesel::update(import_plans::table.filter(import_plans::id.eq(id)))
        .set((
            import_plans::status.eq("applied"),
            import_plans::change_set_id.eq(&change_set_id),
            import_plans::applied_at.eq(now),
        ))
        .execute(conn)?;
    Ok(Applied {
        id: id.to_string(),
        status: PlanStatus::Applied,
        change_set_id,
        applied: summary,
    })
}

/// Plan rows read and applied per step, so that memory does not grow with the plan.
const APPLY_ROWS: i64 = 5_000;

/// Calls `f` with the plan's rows, a page at a time in line order.
fn for_rows(
    conn: &mut Conn,
    id: &str,
    mut f: impl FnMut(&mut Conn, &[PlanRow]) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut after = 0_i64;
    loop {
        let rows: Vec<PlanRow> = import_plan_rows::table
            .filter(import_plan_rows::plan_id.eq(id))
            .filter(import_plan_rows::line.gt(after))
            .select(RowRecord::as_select())
            .order(import_plan_rows::line.asc())
            .limit(APPLY_ROWS)
            .load::<RowRecord>(conn)?
            .into_iter()
            .map(RowRecord::into_row)
            .collect::<StoreResult<_>>()?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.line as i64;
        f(conn, &rows)?;
        if (rows.len() as i64) < APPLY_ROWS {
            return Ok(());
        }
    }
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

    // Creations, in batches, through numbers::create_many.
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

    // Field updates of existing numbers, in bulk.
    let edited: Vec<String> = rows
        .iter()
        .filter(|r| {
            let (create, updates, _) = changes_of(&r.changes);
            !create && !updates.is_empty()
        })
        .map(|r| r.number.clone())
        .collect();
    if !edited.is_empty() {
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
        update_many(conn, permit, scope, edits, now, &mut versions)?;
    }

    // Transitions and deletions, one number at a time through the lifecycle.
    for r in rows {
        let (_, _, steps) = changes_of(&r.changes);
        for step in steps {
            let version = versions
                .get(&r.number)
                .copied()
                .or(r.expected_version)
                .unwrap_or(1);
            if let Change::Delete = step {
                numbers::delete(conn, permit, &r.number, Some(version)).map_err(|e| match e {
                    StoreError::Stale { .. } => stale(std::slice::from_ref(&r.number), 1),
                    other => other,
                })?;
                continue;
            }
            let Some(request) = request_of(step) else {
                continue;
            };
            let after =
                lifecycle::apply(conn, permit, &r.number, request, Some(version)).map_err(|e| {
                    match e {
                        StoreError::Stale { .. } => stale(std::slice::from_ref(&r.number), 1),
                        other => other,
                    }
                })?;
            versions.insert(r.number.clone(), after.version);
        }
        summary.count(&r.changes);
    }
    Ok(())
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
    // References exist (and, on PostgreSQL, stay: FOR SHARE) — once per distinct id.
    let mut locs = HashSet::new();
    let mut plats = HashSet::new();
    let mut wanted_tags: Vec<Tag> = Vec::new();
    let mut tag_keys_seen = HashSet::new();
    for (_, f) in &edits {
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
    // Tag ids and the names they are stored under (the first spelling wins).
    let tag_ids: HashMap<String, (i64, String)> = if wanted_tags.is_empty() {
        HashMap::new()
    } else {
        crate::tags::ensure(conn, &wanted_tags)?;
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
        found
    };
    let mut afters = Vec::with_capacity(edits.len());
    for (before, f) in &edits {
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
        afters.push(after);
    }
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
    // Tags: replace the links of every number whose tags change.
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
    let ids: Vec<i64> = retagged.iter().map(|(i, _)| *i).collect();
    for chunk in ids.chunks(5000) {
        diesel::delete(number_tags::table.filter(number_tags::number_id.eq_any(chunk)))
            .execute(conn)?;
    }
    let links: Vec<_> = retagged
        .iter()
        .flat_map(|(n, ts)| {
            ts.iter()
                .map(move |t| (number_tags::number_id.eq(*n), number_tags::tag_id.eq(*t)))
        })
        .collect();
    for chunk in links.chunks(1000) {
        crate::dialect::insert_batch!(conn, number_tags::table, chunk);
    }
    let records: Vec<audit::TextChange> = edits
        .iter()
        .zip(&afters)
        .map(|((before, _), after)| audit::TextChange {
            action: "number.update",
            entity_kind: "number",
            entity_id: &before.number,
            before: serde_json::to_string(before).ok(),
            after: serde_json::to_string(after).ok(),
        })
        .collect();
    audit::record_many_text(conn, permit, records)?;
    for a in afters {
        versions.insert(a.number, a.version);
    }
    Ok(())
}
