//! Planning: a CSV file line by line, and one number against what a line (or a revert)
//! wants of it.
//!
//! Planning reads the estate outside any write transaction and writes only the plan
//! ([`RowSink`]). Keep it that way: a plan holds no lock, so everything it decides is
//! checked again at apply time against the version each row remembers.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use domain::{
    Action, NumberStatus, NumberType, Permit, PhoneNumber, ProvisioningState, Scope, Tag, Target,
    csv_import::{Column, ImportRow, Reader, Record},
    import_plan::{self, Wanted},
};
use serde_json::{Value, json};

use super::{
    Change, Plan, PlanRow, RowError, Summary,
    rows::{RowSink, finish_plan, start_plan},
};
use crate::{
    Conn, Db, StoreError, StoreResult,
    error::stored,
    numbers::{self, Number},
    schema::{locations, platforms, ranges, tags},
};

/// How many file lines are compared with the inventory at a time.
const CHUNK: usize = 5_000;

/// A location or platform as a plan shows it.
fn named(id: i64, name: &str) -> Value {
    json!({ "id": id.to_string(), "name": name })
}

/// Names and ids of the small reference tables, loaded once per plan.
pub(super) struct Refs {
    locations: HashMap<i64, String>,
    location_keys: HashMap<String, i64>,
    platforms: HashMap<i64, String>,
    platform_keys: HashMap<String, i64>,
    ranges: HashMap<i64, (Option<String>, String, String)>,
    targets: HashMap<(String, String), Result<Target, String>>,
}

impl Refs {
    /// The reference tables as `scope` sees them: a site outside it is as unknown to the
    /// plan as one that does not exist, so a plan never tells the two apart.
    pub(super) fn load(conn: &mut Conn, scope: &Scope) -> StoreResult<Refs> {
        let locs: Vec<(i64, String)> = crate::locations::visible(conn, scope)?
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
    ) -> Result<Target, String> {
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
    let mut out = HashMap::with_capacity(e164s.len());
    for chunk in e164s.chunks(5000) {
        let rows = light_rows(conn, chunk)?;
        let ids: Vec<i64> = rows.iter().map(|r| r.0.0).collect();
        let mut tag_ids: HashMap<i64, Vec<i64>> = HashMap::new();
        if names.is_some() {
            for (number, tag) in crate::tags::links_of(conn, &ids)? {
                tag_ids.entry(number).or_default().push(tag);
            }
        }
        for row in rows {
            let mut tags: Vec<String> = tag_ids
                .remove(&row.0.0)
                .unwrap_or_default()
                .iter()
                .filter_map(|t| names.and_then(|n| n.0.get(t)).cloned())
                .collect();
            tags.sort_by_key(|t| t.to_lowercase());
            let number = light_number(row, tags)?;
            out.insert(number.number.clone(), number);
        }
    }
    Ok(out)
}

/// The numbers of one chunk of E.164s, as [`LightRow`]s.
fn light_rows(conn: &mut Conn, chunk: &[String]) -> StoreResult<Vec<LightRow>> {
    use crate::schema::numbers as n;
    let (Some(low), Some(high)) = (chunk.iter().min(), chunk.iter().max()) else {
        return Ok(Vec::new());
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
    Ok(rows
        .into_iter()
        .filter(|r| wanted.contains(r.0.1.as_str()))
        .collect())
}

/// A [`LightRow`] as a [`Number`]; what was not loaded is left empty.
fn light_number(row: LightRow, tags: Vec<String>) -> StoreResult<Number> {
    let (
        (id, e164, country, status, range_id, location_id, platform_id),
        (number_type, description, version),
        (reserved_reason, reserved_for, reserved_until),
        (quarantine_until, quarantine_reason),
        (assigned_kind, assigned_id, assigned_name),
    ) = row;
    let never = NaiveDateTime::default();
    Ok(Number {
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
        number: e164,
    })
}

/// What a line (or a revert) wants a number to become; `None` leaves a field alone.
#[derive(Debug, Default)]
pub(super) struct Desired {
    pub(super) description: Option<String>,
    pub(super) tags: Option<Vec<Tag>>,
    pub(super) location: Option<Option<i64>>,
    pub(super) platform: Option<Option<i64>>,
    pub(super) number_type: Option<Option<NumberType>>,
    /// Status, assignee, reservation and quarantine, as status planning takes them.
    pub(super) wanted: Wanted,
}

/// Errors of one row, with their columns.
pub(super) struct Errors {
    line: u64,
    pub(super) list: Vec<RowError>,
}

impl Errors {
    pub(super) fn new(line: u64) -> Errors {
        Errors {
            line,
            list: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, column: Option<&str>, reason: impl Into<String>) {
        self.list.push(RowError {
            line: self.line,
            column: column.map(str::to_string),
            reason: reason.into(),
        });
    }
}

/// A number's status, reservation, quarantine and assignee, as status planning takes them.
fn current_of(n: &Number) -> import_plan::Current {
    import_plan::Current {
        status: n.status,
        reservation: n.reservation.as_ref().map(|r| import_plan::Reservation {
            reason: r.reason.clone(),
            reserved_for: r.reserved_for.clone(),
            until: r.expires_at,
        }),
        quarantine_until: n.quarantine.as_ref().map(|q| q.until),
        assignee: n.assignment.as_ref().map(|a| Target {
            kind: a.kind,
            id: a.id.clone(),
            name: a.name.clone(),
        }),
    }
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
/// status, through [`import_plan::plan`]; its refusal becomes the row's error.
pub(super) fn transitions(
    permit: &Permit,
    current: Option<&Number>,
    wanted: &Wanted,
    now: NaiveDateTime,
    out: &mut Vec<Change>,
    errors: &mut Errors,
) {
    let current = current.map(current_of).unwrap_or_default();
    let may_override = permit.role().may(Action::Override);
    match import_plan::plan(&current, wanted, may_override, now) {
        Ok(steps) => out.extend(steps.into_iter().map(Change::from)),
        Err(e) => errors.add(Some(e.column()), e.to_string()),
    }
}

/// Checks the number and the result against the caller's scope. An existing number
/// outside the scope and a result outside it get the same error, so a plan does not tell
/// a scoped caller which numbers exist beyond its reach.
pub(super) fn check_scope(
    scope: &Scope,
    current: Option<&Number>,
    d: &Desired,
    errors: &mut Errors,
) -> bool {
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
    const OUTSIDE: &str = "the number or the result lies outside your scope (location and tags)";
    if let Some(n) = current
        && !admits(n.location_id, &keys_now)
    {
        errors.add(None, OUTSIDE);
        return false;
    }
    let loc = d.location.unwrap_or(current.and_then(|n| n.location_id));
    let keys = match &d.tags {
        Some(t) => t.iter().map(|t| t.key().to_string()).collect(),
        None => keys_now,
    };
    if !admits(loc, &keys) {
        errors.add(None, OUTSIDE);
        return false;
    }
    true
}

/// Plans one row against the number's current state.
pub(super) fn plan_number(
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
    transitions(permit, current, &d.wanted, now, &mut out, errors);
    out
}

/// Counts a planned row into the summary and stores it if it changes or fails anything
/// (errors beyond the plan's cap are only counted).
pub(super) fn tally(
    summary: &mut Summary,
    sink: &mut RowSink<'_>,
    row: &PlanRow,
) -> StoreResult<()> {
    summary.rows += 1;
    summary.errors += row.errors.len() as u64;
    if row.errors.is_empty() {
        summary.count(&row.changes);
    }
    summary.errors_not_shown += sink.push(row)?;
    Ok(())
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
        wanted: Wanted {
            status: row.status.flatten(),
            reserved_reason: row.reserved_reason.take(),
            reserved_for: row.reserved_for.take(),
            reserved_until: row.reserved_until,
            quarantined_until: row.quarantined_until,
            ..Default::default()
        },
        ..Default::default()
    };
    check_derived(refs, row, current, country, errors);
    resolve_places(refs, row, current, &mut d, errors);
    let from = current.map(|n| n.status).unwrap_or(NumberStatus::Available);
    // Resolved whatever the status cell says: without one, a filled assignee is what
    // decides the status, and with one, a cell that would not be applied is an error.
    d.wanted.assigned_to = row.assigned_to.as_ref().map(Option::is_some);
    d.wanted.target = assignee(conn, refs, row, current, from, errors);
    if let Some(Some(kind)) = &row.assigned_to_kind
        && !matches!(row.assigned_to, Some(Some(_)))
    {
        errors.add(
            Some("assigned_to_kind"),
            format!(
                "says {kind} but assigned_to names no one; fill assigned_to or empty this cell"
            ),
        );
    }
    Ok(d)
}

/// `country` and `range` are derived from the number: a cell may only repeat them.
fn check_derived(
    refs: &Refs,
    row: &ImportRow,
    current: Option<&Number>,
    country: &str,
    errors: &mut Errors,
) {
    if let Some(Some(c)) = &row.country
        && c != country
    {
        errors.add(
            Some("country"),
            format!("is derived from the number ({country}); leave it as it is or empty"),
        );
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
}

/// Resolves the location and platform cells (a name or an id) into `d`.
fn resolve_places(
    refs: &Refs,
    row: &ImportRow,
    current: Option<&Number>,
    d: &mut Desired,
    errors: &mut Errors,
) {
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
}

/// The assignee a line names; `None` when it names none, names the current one (status
/// planning keeps it), or names none that exists (a row error).
fn assignee(
    conn: &mut Conn,
    refs: &mut Refs,
    row: &ImportRow,
    current: Option<&Number>,
    from: NumberStatus,
    errors: &mut Errors,
) -> Option<Target> {
    let kind = row.assigned_to_kind.clone().flatten();
    match &row.assigned_to {
        None | Some(None) => None,
        Some(Some(v)) => {
            let same = current
                .and_then(|n| n.assignment.as_ref())
                .is_some_and(|a| {
                    kind.as_deref().is_none_or(|k| k == a.kind.as_str())
                        && (a.id == *v || a.name.eq_ignore_ascii_case(v))
                });
            if same && from == NumberStatus::Assigned {
                // Unchanged: no look-up needed.
                return None;
            }
            match refs.target(conn, kind.as_deref(), v) {
                Ok(t) => Some(t),
                Err(reason) => {
                    errors.add(Some("assigned_to"), reason);
                    None
                }
            }
        }
    }
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

/// Plans an import of a CSV file under `permit`; stores and returns the plan, with its
/// first `max_errors` errors (the others counted). Nothing in the estate changes.
/// `progress` hears (bytes read, bytes in all) as the file is read.
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
    max_errors: usize,
    progress: &mut dyn FnMut(u64, u64),
) -> StoreResult<Plan> {
    let started = std::time::Instant::now();
    let id = start_plan(db, permit, "import", None, now)?;
    let mut sink = RowSink::new(db, &id, max_errors);
    let outcome = db.read(|conn| plan_lines(conn, &mut sink, permit, bytes, now, progress));
    finish_plan(db, &id, outcome, (now, started), ttl)
}

/// Full validations by line, of the lines whose number was not found under its key.
type Checked = HashMap<u64, Result<PhoneNumber, RowError>>;

/// What planning a file needs besides the connection, the same for every line.
struct Lines<'a> {
    permit: &'a Permit,
    now: NaiveDateTime,
    refs: Refs,
    /// Loaded when the file has a tags column or the caller's scope names tags.
    tag_names: Option<TagNames>,
}

/// Plans every line of the file, `CHUNK` at a time, storing the rows as it goes; the
/// counts and file errors are the outcome. Memory stays at one chunk of lines (and the
/// numbers seen, to find repeats), whatever the file holds.
fn plan_lines(
    conn: &mut Conn,
    sink: &mut RowSink<'_>,
    permit: &Permit,
    bytes: &[u8],
    now: NaiveDateTime,
    progress: &mut dyn FnMut(u64, u64),
) -> StoreResult<(Summary, Vec<RowError>)> {
    let mut summary = Summary::default();
    let mut reader = match Reader::new(bytes) {
        Ok(r) => r,
        Err(errors) => {
            let mut file_errors: Vec<RowError> = errors.into_iter().map(RowError::from).collect();
            summary.errors = file_errors.len() as u64;
            summary.errors_not_shown = sink.keep_file_errors(&mut file_errors);
            return Ok((summary, file_errors));
        }
    };
    // Tags are compared when the file has them, and needed for scope when it names tags.
    let tag_names = if reader.has(Column::Tags) || !permit.scope().tags.is_empty() {
        Some(TagNames::load(conn)?)
    } else {
        None
    };
    let mut lines = Lines {
        permit,
        now,
        refs: Refs::load(conn, permit.scope())?,
        tag_names,
    };
    loop {
        let chunk: Vec<Record> = reader.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let (done, total) = reader.progress();
        progress(done, total);
        let (found, mut checked) = lines.numbers_of(conn, &chunk)?;
        for record in chunk {
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
                    errors: errors.into_iter().map(RowError::from).collect(),
                },
                Record::Row(row) => {
                    let valid = checked.remove(&row.line);
                    lines.plan_row(conn, &mut reader, &found, valid, row)?
                }
            };
            tally(&mut summary, sink, &planned)?;
        }
    }
    sink.flush()?;
    let (done, total) = reader.progress();
    progress(done, total);
    Ok((summary, Vec::new()))
}

impl Lines<'_> {
    /// The numbers a chunk of lines names, by E.164, and the validation of every line
    /// whose number is not in the inventory under the key the reader made of it.
    fn numbers_of(
        &self,
        conn: &mut Conn,
        chunk: &[Record],
    ) -> StoreResult<(HashMap<String, Number>, Checked)> {
        let keys: Vec<String> = chunk
            .iter()
            .filter_map(|r| match r {
                Record::Row(r) => Some(r.number.clone()),
                Record::Invalid { .. } => None,
            })
            .collect();
        let mut found = current_numbers(conn, self.tag_names.as_ref(), &keys)?;
        // Lines whose number is not in the inventory under its key: validate them fully;
        // a differently written number may still be there under its canonical form.
        let mut checked = Checked::new();
        let mut again = Vec::new();
        for r in chunk {
            if let Record::Row(row) = r {
                if found.contains_key(&row.number) {
                    continue;
                }
                let result = row.check_number().map_err(RowError::from);
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
            found.extend(current_numbers(conn, self.tag_names.as_ref(), &again)?);
        }
        Ok((found, checked))
    }

    /// Plans one valid-looking line: `valid` is its full validation when its number was
    /// not found under the reader's key (see [`Lines::numbers_of`]).
    fn plan_row(
        &mut self,
        conn: &mut Conn,
        reader: &mut Reader<'_>,
        found: &HashMap<String, Number>,
        valid: Option<Result<PhoneNumber, RowError>>,
        mut row: ImportRow,
    ) -> StoreResult<PlanRow> {
        let mut errors = Errors::new(row.line);
        let (number, country) = match valid {
            None => {
                let country = found
                    .get(&row.number)
                    .map(|n| n.country.clone())
                    .unwrap_or_default();
                (std::mem::take(&mut row.number), country)
            }
            Some(Ok(n)) => {
                let canonical = n.to_string();
                if canonical != row.number
                    && let Err(first) = reader.claim(&canonical, row.line)
                {
                    errors.add(
                        Some("number"),
                        format!("{canonical} appears twice: also on line {first}"),
                    );
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
                &mut self.refs,
                &mut row,
                current,
                &country,
                &mut errors,
            )?;
            if errors.list.is_empty() {
                changes = plan_number(&self.refs, self.permit, current, &d, self.now, &mut errors);
            }
        }
        if !errors.list.is_empty() {
            changes.clear();
        }
        Ok(PlanRow {
            line: row.line,
            number,
            expected_version: current.map(|n| n.version),
            changes,
            errors: errors.list,
        })
    }
}
