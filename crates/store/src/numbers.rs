//! The inventory of numbers: create, read, list, edit, delete — scoped and audited.
//!
//! Scope is applied inside every query ([`crate::scope::scoped`]): a number outside the caller's scope
//! is indistinguishable from one that does not exist.

use chrono::NaiveDateTime;
use diesel::{
    dsl::{AsSelect, sql},
    prelude::*,
    sql_types::{Bool, Text},
};
use domain::snapshot::NumberSnapshot;
use domain::{NumberStatus, NumberType, Permit, PhoneNumber, ProvisioningState, Scope, Tag};

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    db::MultiBackend,
    error::stored,
    page::{self, Page},
    rows::NumberRow,
    schema::{number_tags, numbers},
    scope::{ScopeFilter, scoped},
    tags,
};

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends for ASCII.
    fn lower(x: Text) -> Text;
}

/// Largest batch `create_many` accepts in one call.
pub const MAX_BATCH: usize = 10_000;

pub use domain::snapshot::{Assignment, Quarantine, Reservation};

/// A number as the store returns it, tags included. Its audit form is
/// [`Number::snapshot`], never a serialisation of this struct.
#[derive(Debug, Clone)]
pub struct Number {
    /// Internal row id (not exposed on the wire).
    pub id: i64,
    /// Canonical E.164, with `;ext=` when it has an extension.
    pub number: String,
    /// The base number without extension.
    pub base: String,
    /// The extension digits, if any.
    pub extension: Option<String>,
    /// ISO country derived from the number.
    pub country: String,
    /// Current status.
    pub status: NumberStatus,
    /// The range it belongs to.
    pub range_id: Option<i64>,
    /// Its site.
    pub location_id: Option<i64>,
    /// Its voice platform.
    pub platform_id: Option<i64>,
    /// How it is carried.
    pub number_type: Option<NumberType>,
    /// Free text.
    pub description: String,
    /// Tag names, sorted by key.
    pub tags: Vec<String>,
    /// Increases on every change.
    pub version: i64,
    /// When it was added.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
    /// Set while reserved.
    pub reservation: Option<Reservation>,
    /// Set while quarantined.
    pub quarantine: Option<Quarantine>,
    /// Set while assigned.
    pub assignment: Option<Assignment>,
}

impl Number {
    /// The number as its audit records show it (the format revert reads back).
    pub fn snapshot(&self) -> NumberSnapshot {
        NumberSnapshot {
            number: self.number.clone(),
            base: self.base.clone(),
            extension: self.extension.clone(),
            country: self.country.clone(),
            status: self.status,
            range_id: self.range_id,
            location_id: self.location_id,
            platform_id: self.platform_id,
            number_type: self.number_type,
            description: self.description.clone(),
            tags: self.tags.clone(),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
            reservation: self.reservation.clone(),
            quarantine: self.quarantine.clone(),
            assignment: self.assignment.clone(),
            reason: None,
        }
    }

    fn from_row(r: NumberRow, tags: Vec<String>) -> StoreResult<Number> {
        // Taken apart, so that every text moves into the number instead of being copied.
        let NumberRow {
            id,
            e164,
            base,
            extension,
            country,
            status,
            range_id,
            location_id,
            platform_id,
            number_type,
            description,
            version,
            created_at,
            updated_at,
            reserved_reason,
            reserved_for,
            reserved_by,
            reserved_until,
            quarantine_since,
            quarantine_until,
            quarantine_reason,
            previous_assignee,
            assigned_kind,
            assigned_id,
            assigned_name,
            assigned_at,
            assigned_by,
            provisioning_state,
            provisioning_error,
        } = r;
        let reservation = reserved_reason.map(|reason| Reservation {
            reason,
            reserved_for,
            reserved_by: reserved_by.unwrap_or_default(),
            expires_at: reserved_until,
        });
        let quarantine = quarantine_until.map(|until| Quarantine {
            since: quarantine_since.unwrap_or(until),
            until,
            reason: quarantine_reason,
            previous_assignee: previous_assignee
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
        });
        let assignment = match (assigned_kind, assigned_id) {
            (Some(kind), Some(id)) => Some(Assignment {
                kind: stored("numbers.assigned_kind", &kind)?,
                id,
                name: assigned_name.unwrap_or_default(),
                assigned_at: assigned_at.unwrap_or(updated_at),
                assigned_by: assigned_by.unwrap_or_default(),
                provisioning_state: match &provisioning_state {
                    Some(p) => stored("numbers.provisioning_state", p)?,
                    None => ProvisioningState::NotRequired,
                },
                provisioning_error,
            }),
            _ => None,
        };
        Ok(Number {
            reservation,
            quarantine,
            assignment,
            id,
            number: e164,
            base,
            extension,
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
            created_at,
            updated_at,
        })
    }

    fn tag_keys(&self) -> Vec<String> {
        self.tags.iter().map(|t| t.to_lowercase()).collect()
    }
}

/// A number to add.
#[derive(Debug, Clone)]
pub struct NewNumber {
    /// The checked number.
    pub number: PhoneNumber,
    /// Its site.
    pub location_id: Option<i64>,
    /// Its labels.
    pub tags: Vec<Tag>,
    /// Free text (≤ 1000 characters, checked by the caller's parser).
    pub description: String,
    /// Its voice platform.
    pub platform_id: Option<i64>,
    /// How it is carried.
    pub number_type: Option<NumberType>,
}

/// Changes to a number's details; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct NumberPatch {
    /// New description.
    pub description: Option<String>,
    /// New tag set (replaces the old one).
    pub tags: Option<Vec<Tag>>,
    /// New site, or `Some(None)` to clear it.
    pub location_id: Option<Option<i64>>,
    /// New platform, or `Some(None)` to clear it.
    pub platform_id: Option<Option<i64>>,
    /// New number type, or `Some(None)` to clear it.
    pub number_type: Option<Option<NumberType>>,
}

pub use crate::search::NumberFilter;

/// A row of a list page: the number and its tag names as `numbers.tag_names` keeps them
/// (see `tags::split_names`), so a page needs no statement or subquery for its tags.
#[derive(Queryable, Selectable)]
#[diesel(table_name = numbers)]
struct ListedRow {
    #[diesel(embed)]
    row: NumberRow,
    tag_names: Option<String>,
}

fn load_tags(conn: &mut Conn, rows: Vec<NumberRow>) -> StoreResult<Vec<Number>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut by_id = tags::of_numbers(conn, &ids)?;
    rows.into_iter()
        .map(|r| {
            let t = by_id.remove(&r.id).unwrap_or_default();
            Number::from_row(r, t)
        })
        .collect()
}

/// One number by its canonical E.164, if it exists within `scope`.
pub fn get(conn: &mut Conn, scope: &Scope, e164: &str) -> StoreResult<Number> {
    let scope = ScopeFilter::resolve(conn, scope)?;
    let row = scoped(
        numbers::table.select(NumberRow::as_select()).into_boxed(),
        &scope,
    )
    .filter(numbers::e164.eq(e164.to_string()))
    .first(conn)
    .optional()?
    .ok_or_else(|| StoreError::not_found("number", e164))?;
    Ok(load_tags(conn, vec![row])?.remove(0))
}

/// A row read by other means (a locking query in `dialect`), with its tags.
pub(crate) fn with_tags(conn: &mut Conn, row: NumberRow) -> StoreResult<Number> {
    Ok(load_tags(conn, vec![row])?.remove(0))
}

/// `n` as it is now in the database, for a write that changed its row but not its tags
/// (a status transition): one statement instead of [`get`]'s two.
pub(crate) fn reload_row(conn: &mut Conn, n: &Number) -> StoreResult<Number> {
    let row = numbers::table
        .find(n.id)
        .select(NumberRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("number", &n.number))?;
    Number::from_row(row, n.tags.clone())
}

/// The number with row id `id`, whatever the scope, tags included; `None` when deleted.
pub(crate) fn by_id(conn: &mut Conn, id: i64) -> StoreResult<Option<Number>> {
    let row = numbers::table
        .find(id)
        .select(NumberRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|r| with_tags(conn, r)).transpose()
}

/// Numbers by canonical E.164, whatever the scope (the caller checks it), tags included;
/// absent numbers are skipped. For bulk work (imports): one query per 5,000 numbers.
pub(crate) fn by_e164(conn: &mut Conn, e164s: &[String]) -> StoreResult<Vec<Number>> {
    let mut rows = Vec::with_capacity(e164s.len());
    for chunk in e164s.chunks(5000) {
        rows.extend(
            numbers::table
                .filter(numbers::e164.eq_any(chunk))
                .select(NumberRow::as_select())
                .load::<NumberRow>(conn)?,
        );
    }
    load_tags(conn, rows)
}

/// A page of numbers ordered by E.164.
pub fn list(
    conn: &mut Conn,
    scope: &Scope,
    filter: &NumberFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<Number>> {
    let limit = page::limit(limit)?;
    let scope = ScopeFilter::resolve(conn, scope)?;
    let after = cursor.map(page::decode).transpose()?;
    let rows: Vec<ListedRow> = crate::search::page::<AsSelect<ListedRow, MultiBackend>, _>(
        conn,
        &scope,
        filter,
        after.as_deref(),
        limit + 1,
        crate::rows::number_columns_of!(ListedRow),
    )?;
    let page = page::finish(rows, limit, |r| r.row.e164.clone());
    let items = page
        .items
        .into_iter()
        .map(|r| Number::from_row(r.row, tags::split_names(r.tag_names)))
        .collect::<StoreResult<_>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// How [`list`] would read a page of `filter`: the index that drives it, the statement,
/// and the database's plan, a line each.
pub fn explain_list(
    conn: &mut Conn,
    scope: &Scope,
    filter: &NumberFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Vec<String>> {
    let limit = page::limit(limit)?;
    let scope = ScopeFilter::resolve(conn, scope)?;
    let after = cursor.map(page::decode).transpose()?;
    crate::search::explain(conn, &scope, filter, after.as_deref(), limit + 1)
}

/// Checks references a write is about to store: the location exists (and lies in the
/// permit's scope together with the tags) and the platform exists.
pub(crate) fn check_refs(
    conn: &mut Conn,
    permit: &Permit,
    location_id: Option<i64>,
    platform_id: Option<i64>,
    tag_keys: &[&str],
    field_prefix: &str,
) -> StoreResult<()> {
    // A site the grant does not list is as absent to it as one that does not exist.
    let unlisted = |id: i64| {
        let listed = &permit.scope().locations;
        !listed.is_empty() && !listed.iter().any(|l| *l == id.to_string())
    };
    if let Some(id) = location_id
        && (unlisted(id)
            || !crate::dialect::lock_ref(conn, crate::dialect::RefTable::Locations, id)?)
    {
        return Err(StoreError::invalid(
            "unknown_location",
            format!("{field_prefix}location_id"),
            format!("location {id} does not exist"),
        ));
    }
    if let Some(id) = platform_id
        && !crate::dialect::lock_ref(conn, crate::dialect::RefTable::Platforms, id)?
    {
        return Err(StoreError::invalid(
            "unknown_platform",
            format!("{field_prefix}platform_id"),
            format!("platform {id} does not exist"),
        ));
    }
    let loc = location_id.map(|l| l.to_string());
    if !permit.scope().admits(loc.as_deref(), tag_keys) {
        return Err(StoreError::Forbidden {
            code: "out_of_scope",
            message: "the result would lie outside your scope (location and tags)".into(),
        });
    }
    Ok(())
}

/// The SQL condition that a numbers row named `alias` lies outside the scope (`None` when
/// the scope is unrestricted). A NULL location counts as outside, not as unknown.
pub(crate) fn outside_scope(scope: &ScopeFilter, alias: &str) -> Option<String> {
    scope
        .condition(alias)
        .map(|c| format!("NOT COALESCE(({c}), 1 = 0)"))
}

/// The refusal when a write collides with something outside the caller's scope: a plain
/// conflict that names nothing, so an out-of-scope object looks no different from any
/// other obstacle the caller cannot see.
pub(crate) fn hidden_conflict() -> StoreError {
    StoreError::conflict(
        "conflict",
        "the request conflicts with existing data; nothing was changed",
    )
}

/// Adds one number.
pub fn create(conn: &mut Conn, permit: &Permit, new: NewNumber) -> StoreResult<Number> {
    Ok(create_many(conn, permit, vec![new])?.remove(0))
}

/// Refuses a batch before anything is written: too large, a number twice, a reference
/// that does not exist or lies outside the caller's scope, a number already stored.
fn check_batch(conn: &mut Conn, permit: &Permit, items: &[NewNumber]) -> StoreResult<()> {
    if items.len() > MAX_BATCH {
        return Err(StoreError::invalid(
            "batch_too_large",
            "items",
            format!("at most {MAX_BATCH} numbers per call"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    // References are checked once per distinct (location, platform, tags): a batch of
    // 1,000 numbers on one site takes one lock per reference, not one per number.
    let mut checked = std::collections::HashSet::new();
    for (i, n) in items.iter().enumerate() {
        let prefix = if items.len() > 1 {
            format!("items[{i}].")
        } else {
            String::new()
        };
        if !seen.insert(n.number.to_string()) {
            return Err(StoreError::invalid(
                "duplicate_number",
                format!("{prefix}number"),
                format!("{} appears twice in the request", n.number),
            ));
        }
        let keys: Vec<&str> = n.tags.iter().map(Tag::key).collect();
        if checked.insert((n.location_id, n.platform_id, keys.clone())) {
            check_refs(conn, permit, n.location_id, n.platform_id, &keys, &prefix)?;
        }
    }
    let e164s: Vec<String> = items.iter().map(|n| n.number.to_string()).collect();
    for chunk in e164s.chunks(5000) {
        let existing: Vec<String> = numbers::table
            .filter(numbers::e164.eq_any(chunk))
            .select(numbers::e164)
            .limit(10)
            .load(conn)?;
        if !existing.is_empty() {
            let scope = ScopeFilter::resolve(conn, permit.scope())?;
            if let Some(outside) = outside_scope(&scope, "numbers") {
                let hidden: i64 = numbers::table
                    .filter(numbers::e164.eq_any(chunk))
                    .filter(sql::<Bool>(&outside))
                    .count()
                    .get_result(conn)?;
                if hidden > 0 {
                    return Err(hidden_conflict());
                }
            }
            return Err(StoreError::Conflict {
                code: "number_exists",
                message: format!("{} already in the inventory", existing.join(", ")),
                details: serde_json::json!({ "numbers": existing }),
            });
        }
    }
    Ok(())
}

/// Adds many numbers in the caller's transaction; all are created or none.
pub fn create_many(
    conn: &mut Conn,
    permit: &Permit,
    items: Vec<NewNumber>,
) -> StoreResult<Vec<Number>> {
    let items = items.into_iter().map(|n| (n, None)).collect();
    insert_many(conn, permit, items)
}

/// Adds many numbers as Teams already holds them (drift adoption): each with its Teams
/// assignment, if any, written in the same insert (assigned, `provisioned`, assigned by
/// the permit's actor) — one row write and one `number.create` record per number
/// instead of a create and then an assign. All are created or none.
pub(crate) fn create_adopted(
    conn: &mut Conn,
    permit: &Permit,
    items: Vec<(NewNumber, Option<domain::Target>)>,
) -> StoreResult<Vec<Number>> {
    insert_many(conn, permit, items)
}

fn insert_many(
    conn: &mut Conn,
    permit: &Permit,
    items: Vec<(NewNumber, Option<domain::Target>)>,
) -> StoreResult<Vec<Number>> {
    let (items, targets): (Vec<NewNumber>, Vec<Option<domain::Target>>) = items.into_iter().unzip();
    check_batch(conn, permit, &items)?;
    let e164s: Vec<String> = items.iter().map(|n| n.number.to_string()).collect();
    let now = crate::now();
    let actor = &permit.actor().name;
    let rows: Vec<_> = items
        .iter()
        .zip(&targets)
        .map(|(n, target)| {
            let (status, provisioning) = match target {
                Some(_) => (
                    NumberStatus::Assigned,
                    Some(ProvisioningState::Provisioned.as_str()),
                ),
                None => (NumberStatus::Available, None),
            };
            (
                (
                    numbers::e164.eq(n.number.to_string()),
                    numbers::base.eq(n.number.base().to_string()),
                    numbers::extension.eq(n.number.extension().map(str::to_string)),
                    numbers::country.eq(n.number.country().to_string()),
                    numbers::status.eq(status.as_str()),
                    numbers::location_id.eq(n.location_id),
                    numbers::platform_id.eq(n.platform_id),
                    numbers::number_type.eq(n.number_type.map(|t| t.as_str())),
                    numbers::description.eq(n.description.clone()),
                    numbers::created_at.eq(now),
                    numbers::updated_at.eq(now),
                ),
                (
                    numbers::assigned_kind.eq(target.as_ref().map(|t| t.kind.as_str())),
                    numbers::assigned_id.eq(target.as_ref().map(|t| t.id.clone())),
                    numbers::assigned_name.eq(target.as_ref().map(|t| t.name.clone())),
                    numbers::assigned_at.eq(target.as_ref().map(|_| now)),
                    numbers::assigned_by.eq(target.as_ref().map(|_| actor.clone())),
                    numbers::provisioning_state.eq(provisioning),
                ),
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        crate::dialect::insert_batch!(conn, numbers::table, chunk);
    }
    let rows: Vec<NumberRow> = {
        let mut out = Vec::with_capacity(items.len());
        for chunk in e164s.chunks(5000) {
            out.extend(
                numbers::table
                    .filter(numbers::e164.eq_any(chunk))
                    .select(NumberRow::as_select())
                    .load(conn)?,
            );
        }
        out.sort_by(|a, b| a.e164.cmp(&b.e164));
        out
    };
    let ids: std::collections::HashMap<&str, i64> =
        rows.iter().map(|r| (r.e164.as_str(), r.id)).collect();
    let mut tagged = Vec::new();
    for (n, e164) in items.iter().zip(&e164s) {
        if !n.tags.is_empty() {
            tagged.push((ids[e164.as_str()], tags::ensure(conn, &n.tags)?));
        }
    }
    tags::replace_for_numbers(conn, &tagged)?;
    drop(ids);
    let created = load_tags(conn, rows)?;
    let snapshots: Vec<String> = created.iter().map(|n| n.snapshot().to_text()).collect();
    let changes = created
        .iter()
        .zip(snapshots)
        .map(|(n, after)| audit::TextChange {
            action: "number.create",
            entity_kind: "number",
            entity_id: &n.number,
            before: None,
            after: Some(after),
        })
        .collect();
    audit::record_many_text(conn, permit, changes)?;
    Ok(created)
}

/// Edits a number's details; `if_match` is the version the caller last saw.
pub fn patch(
    conn: &mut Conn,
    permit: &Permit,
    e164: &str,
    change: NumberPatch,
    if_match: Option<i64>,
) -> StoreResult<Number> {
    let before = get(conn, permit.scope(), e164)?;
    check_version(&before, if_match)?;
    let location_id = change.location_id.unwrap_or(before.location_id);
    let platform_id = change.platform_id.unwrap_or(before.platform_id);
    let tag_keys: Vec<String> = match &change.tags {
        Some(t) => t.iter().map(|t| t.key().to_string()).collect(),
        None => before.tag_keys(),
    };
    let keys: Vec<&str> = tag_keys.iter().map(String::as_str).collect();
    check_refs(conn, permit, location_id, platform_id, &keys, "")?;
    let number_type = change.number_type.unwrap_or(before.number_type);
    let updated = diesel::update(
        numbers::table
            .filter(numbers::id.eq(before.id))
            .filter(numbers::version.eq(before.version)),
    )
    .set((
        numbers::description.eq(change
            .description
            .clone()
            .unwrap_or_else(|| before.description.clone())),
        numbers::location_id.eq(location_id),
        numbers::platform_id.eq(platform_id),
        numbers::number_type.eq(number_type.map(|t| t.as_str())),
        numbers::version.eq(before.version + 1),
        numbers::updated_at.eq(crate::now()),
    ))
    .execute(conn)?;
    if updated == 0 {
        let current = get(conn, permit.scope(), e164)?;
        return Err(StoreError::Stale {
            expected: before.version,
            current: current.version,
        });
    }
    if let Some(t) = &change.tags {
        let ids = tags::ensure(conn, t)?;
        tags::set_for_number(conn, before.id, &ids)?;
    }
    let after = get(conn, permit.scope(), e164)?;
    audit::record(
        conn,
        permit,
        Change {
            action: "number.update",
            entity_kind: "number",
            entity_id: e164,
            before: Some(before.snapshot().to_json()),
            after: Some(after.snapshot().to_json()),
        },
    )?;
    Ok(after)
}

/// Removes a number from the inventory; only an available number can go.
pub fn delete(
    conn: &mut Conn,
    permit: &Permit,
    e164: &str,
    if_match: Option<i64>,
) -> StoreResult<()> {
    let before = get(conn, permit.scope(), e164)?;
    check_version(&before, if_match)?;
    let deleted = diesel::delete(
        numbers::table
            .filter(numbers::id.eq(before.id))
            .filter(numbers::status.eq(NumberStatus::Available.as_str()))
            .filter(numbers::version.eq(before.version)),
    )
    .execute(conn)?;
    if deleted == 0 {
        let current = get(conn, permit.scope(), e164)?;
        if current.status != NumberStatus::Available {
            return Err(StoreError::Conflict {
                code: "number_not_available",
                message: format!(
                    "{e164} is {}; only an available number can be deleted (release or unassign it first)",
                    current.status
                ),
                details: serde_json::json!({ "status": current.status }),
            });
        }
        return Err(StoreError::Stale {
            expected: before.version,
            current: current.version,
        });
    }
    // No cascade (number_tags has no foreign key): the links go once the number has gone,
    // so a refusal above still reads the number in a tag-limited scope.
    diesel::delete(number_tags::table.filter(number_tags::number_id.eq(before.id)))
        .execute(conn)?;
    audit::record(
        conn,
        permit,
        Change {
            action: "number.delete",
            entity_kind: "number",
            entity_id: e164,
            before: Some(before.snapshot().to_json()),
            after: None,
        },
    )
}

fn check_version(n: &Number, if_match: Option<i64>) -> StoreResult<()> {
    match if_match {
        Some(v) if v != n.version => Err(StoreError::Stale {
            expected: v,
            current: n.version,
        }),
        _ => Ok(()),
    }
}
