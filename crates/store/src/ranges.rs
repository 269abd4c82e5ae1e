//! Ranges: blocks of consecutive numbers, created whole and reported by utilisation.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::{
    dsl::sql,
    prelude::*,
    sql_types::{Bool, Text},
};
use domain::{NumberBlock, NumberStatus, NumberType, Permit, Scope, Tag};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    dialect,
    page::{self, Page},
    schema::{number_tags, numbers, range_tags, ranges},
    tags,
};

diesel::define_sql_function! {
    /// SQL `length()` of a text, the same on both backends.
    fn length(x: Text) -> Integer;
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ranges)]
struct RangeRow {
    id: i64,
    name: Option<String>,
    start_number: String,
    end_number: String,
    country: String,
    size: i64,
    location_id: Option<i64>,
    platform_id: Option<i64>,
    number_type: Option<String>,
    description: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// How a range's numbers are used, by status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Utilisation {
    /// Free numbers.
    pub available: i64,
    /// Held numbers.
    pub reserved: i64,
    /// Numbers in use.
    pub assigned: i64,
    /// Numbers resting after use.
    pub quarantined: i64,
    /// All numbers the range still holds.
    pub total: i64,
}

impl Utilisation {
    /// Adds `count` numbers of status `status`.
    pub fn add(&mut self, status: &str, count: i64) {
        match status.parse::<NumberStatus>() {
            Ok(NumberStatus::Available) => self.available += count,
            Ok(NumberStatus::Reserved) => self.reserved += count,
            Ok(NumberStatus::Assigned) => self.assigned += count,
            Ok(NumberStatus::Quarantined) => self.quarantined += count,
            Err(_) => {}
        }
        self.total += count;
    }
}

/// A range as the store returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Range {
    /// Row id, exposed as a string.
    pub id: i64,
    /// Optional display name.
    pub name: Option<String>,
    /// Lowest number.
    pub start: String,
    /// Highest number.
    pub end: String,
    /// Country of every number in it.
    pub country: String,
    /// How many numbers it spans.
    pub size: i64,
    /// Site given to its numbers.
    pub location_id: Option<i64>,
    /// Platform given to its numbers.
    pub platform_id: Option<i64>,
    /// Number type given to its numbers.
    pub number_type: Option<NumberType>,
    /// Free text.
    pub description: String,
    /// The range's own tags (given to its numbers at creation).
    pub tags: Vec<String>,
    /// Counts by status.
    pub utilisation: Utilisation,
    /// Increases on every change.
    pub version: i64,
    /// When it was created.
    #[serde(serialize_with = "crate::utc::ser")]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[serde(serialize_with = "crate::utc::ser")]
    pub updated_at: NaiveDateTime,
}

/// A range to create.
#[derive(Debug, Clone)]
pub struct NewRange {
    /// Optional display name.
    pub name: Option<String>,
    /// The checked block.
    pub block: NumberBlock,
    /// Site for its numbers.
    pub location_id: Option<i64>,
    /// Tags for the range and its numbers.
    pub tags: Vec<Tag>,
    /// Free text.
    pub description: String,
    /// Platform for its numbers.
    pub platform_id: Option<i64>,
    /// Number type for its numbers.
    pub number_type: Option<NumberType>,
}

/// Changes to a range; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RangePatch {
    /// New name, or `Some(None)` to clear it.
    pub name: Option<Option<String>>,
    /// New description.
    pub description: Option<String>,
    /// New tag set.
    pub tags: Option<Vec<Tag>>,
    /// New site, or `Some(None)` to clear it.
    pub location_id: Option<Option<i64>>,
    /// New platform, or `Some(None)` to clear it.
    pub platform_id: Option<Option<i64>>,
    /// New number type, or `Some(None)` to clear it.
    pub number_type: Option<Option<NumberType>>,
    /// Also apply site, platform, type and tag changes to the range's numbers.
    pub apply_to_numbers: bool,
}

/// Refuses a whole-range change by a scoped caller while the range holds numbers outside
/// its scope (moved to another site, retagged): a grant never reaches past its scope.
fn require_all_numbers_in_scope(conn: &mut Conn, permit: &Permit, id: i64) -> StoreResult<()> {
    let filter = crate::scope::ScopeFilter::resolve(conn, permit.scope())?;
    let Some(cond) = crate::numbers::outside_scope(&filter, "numbers") else {
        return Ok(());
    };
    let outside: i64 = numbers::table
        .filter(numbers::range_id.eq(id))
        .filter(sql::<Bool>(&cond))
        .count()
        .get_result(conn)?;
    if outside > 0 {
        return Err(StoreError::Forbidden {
            code: "out_of_scope",
            message: format!(
                "{outside} numbers of this range lie outside your scope; an unscoped admin must change or delete it"
            ),
        });
    }
    Ok(())
}

fn assemble(conn: &mut Conn, rows: Vec<RangeRow>) -> StoreResult<Vec<Range>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut tag_map = tags::of_ranges(conn, &ids)?;
    let counts: Vec<(Option<i64>, String, i64)> = numbers::table
        .filter(numbers::range_id.eq_any(&ids))
        .group_by((numbers::range_id, numbers::status))
        .select((
            numbers::range_id,
            numbers::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let mut util: HashMap<i64, Utilisation> = HashMap::new();
    for (range_id, status, count) in counts {
        if let Some(r) = range_id {
            util.entry(r).or_default().add(&status, count);
        }
    }
    rows.into_iter()
        .map(|r| {
            Ok(Range {
                tags: tag_map.remove(&r.id).unwrap_or_default(),
                utilisation: util.remove(&r.id).unwrap_or_default(),
                id: r.id,
                name: r.name,
                start: r.start_number,
                end: r.end_number,
                country: r.country,
                size: r.size,
                location_id: r.location_id,
                platform_id: r.platform_id,
                number_type: r
                    .number_type
                    .as_deref()
                    .map(|t| crate::error::stored("ranges.number_type", t))
                    .transpose()?,
                description: r.description,
                version: r.version,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}

/// One range with its utilisation, if it exists within `scope`.
pub fn get(conn: &mut Conn, scope: &Scope, id: i64) -> StoreResult<Range> {
    let row = crate::scope::visible_ranges(conn, scope)?
        .filter(ranges::id.eq(id))
        .select(RangeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("range", id))?;
    Ok(assemble(conn, vec![row])?.remove(0))
}

/// Filters for listing ranges.
#[derive(Debug, Clone, Default)]
pub struct RangeFilter {
    /// Site.
    pub location_id: Option<i64>,
    /// Country.
    pub country: Option<String>,
    /// Tag key carried by the range.
    pub tag: Option<String>,
    /// Text in the name or description.
    pub q: Option<String>,
}

/// Ranges in creation order, with utilisation.
pub fn list(
    conn: &mut Conn,
    scope: &Scope,
    filter: &RangeFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<Range>> {
    let limit = page::limit(limit)?;
    let mut q = crate::scope::visible_ranges(conn, scope)?
        .select(RangeRow::as_select())
        .order(ranges::id.asc());
    if let Some(c) = cursor {
        q = q.filter(ranges::id.gt(page::decode_id(c)?));
    }
    if let Some(v) = filter.location_id {
        q = q.filter(ranges::location_id.eq(v));
    }
    if let Some(v) = &filter.country {
        q = q.filter(ranges::country.eq(v.to_ascii_uppercase()));
    }
    if let Some(tag) = &filter.tag {
        let ids = tags::ids_for_keys(conn, std::slice::from_ref(tag))?;
        q = q.filter(
            ranges::id.eq_any(
                range_tags::table
                    .filter(range_tags::tag_id.eq_any(ids))
                    .select(range_tags::range_id),
            ),
        );
    }
    if let Some(text) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = crate::page::contains_pattern(text);
        q = q.filter(
            crate::numbers::lower(sql::<Text>("COALESCE(ranges.name, '')"))
                .like(p.clone())
                .escape('\\')
                .or(crate::numbers::lower(ranges::description)
                    .like(p)
                    .escape('\\')),
        );
    }
    let rows = q.limit(limit + 1).load(conn)?;
    let page = page::finish(rows, limit, |r| r.id.to_string());
    Ok(Page {
        items: assemble(conn, page.items)?,
        next_cursor: page.next_cursor,
    })
}

/// Narrows `q` to the ranges that share a number with the block `first..=last` of
/// `digits` digits.
fn overlaps(
    q: ranges::BoxedQuery<'static, crate::db::MultiBackend>,
    digits: i32,
    first: i64,
    last: i64,
) -> ranges::BoxedQuery<'static, crate::db::MultiBackend> {
    q.filter(ranges::digit_count.eq(digits))
        .filter(ranges::first_value.le(last))
        .filter(ranges::last_value.ge(first))
}

/// Refuses a block that overlaps an existing range: 409 `range_overlap` naming up to five,
/// or the generic conflict when any of them lies outside the caller's scope.
fn check_no_overlap(
    conn: &mut Conn,
    permit: &Permit,
    digits: i32,
    first: i64,
    last: i64,
) -> StoreResult<()> {
    let overlapping: Vec<(i64, Option<String>, String, String)> =
        overlaps(ranges::table.into_boxed(), digits, first, last)
            .select((
                ranges::id,
                ranges::name,
                ranges::start_number,
                ranges::end_number,
            ))
            .limit(5)
            .load(conn)?;
    if let Some((id, name, s, e)) = overlapping.first() {
        // A scoped caller hears of the ranges it can see, and of nothing else.
        if !permit.scope().is_unrestricted() {
            let visible = crate::scope::visible_ranges(conn, permit.scope())?;
            let seen: i64 = overlaps(visible, digits, first, last)
                .count()
                .get_result(conn)?;
            let all: i64 = overlaps(ranges::table.into_boxed(), digits, first, last)
                .count()
                .get_result(conn)?;
            if seen < all {
                return Err(crate::numbers::hidden_conflict());
            }
        }
        return Err(StoreError::Conflict {
            code: "range_overlap",
            message: format!(
                "the range overlaps range {id}{} ({s} – {e})",
                name.as_ref().map(|n| format!(" '{n}'")).unwrap_or_default()
            ),
            details: serde_json::json!({ "ranges": overlapping.iter().map(|(id, name, s, e)| serde_json::json!({"id": id.to_string(), "name": name, "start": s, "end": e})).collect::<Vec<_>>() }),
        });
    }
    Ok(())
}

/// Refuses a block that holds numbers already in the inventory (extensions too): 409
/// `numbers_exist` naming up to ten, or the generic conflict when any lies outside the
/// caller's scope.
fn check_no_numbers(
    conn: &mut Conn,
    permit: &Permit,
    start: &str,
    end: &str,
    digits: i32,
) -> StoreResult<()> {
    // Through the E.164 index: ";f" sorts after every ";ext=…" of the last base number.
    let existing: Vec<String> = numbers::table
        .filter(numbers::e164.ge(start))
        .filter(numbers::e164.lt(format!("{end};f")))
        .filter(length(numbers::base).eq(digits + 1))
        .order(numbers::e164)
        .select(numbers::e164)
        .limit(10)
        .load(conn)?;
    if !existing.is_empty() {
        let scope = crate::scope::ScopeFilter::resolve(conn, permit.scope())?;
        if let Some(outside) = crate::numbers::outside_scope(&scope, "numbers") {
            let hidden: i64 = numbers::table
                .filter(numbers::e164.ge(start))
                .filter(numbers::e164.lt(format!("{end};f")))
                .filter(length(numbers::base).eq(digits + 1))
                .filter(sql::<Bool>(&outside))
                .count()
                .get_result(conn)?;
            if hidden > 0 {
                return Err(crate::numbers::hidden_conflict());
            }
        }
        return Err(StoreError::Conflict {
            code: "numbers_exist",
            message: format!(
                "the range contains numbers already in the inventory: {}",
                existing.join(", ")
            ),
            details: serde_json::json!({ "numbers": existing }),
        });
    }
    Ok(())
}

/// Creates a range and every number in it, in the caller's transaction.
///
/// Refused with 409 when it overlaps another range or numbers already in the inventory.
// Kept whole after the checks: the row, its numbers and its tags in the order the
// database needs them, one step each; split up, the steps would only pass the same ids
// around.
pub fn create(conn: &mut Conn, permit: &Permit, new: NewRange) -> StoreResult<Range> {
    let keys: Vec<&str> = new.tags.iter().map(Tag::key).collect();
    crate::numbers::check_refs(conn, permit, new.location_id, new.platform_id, &keys, "")?;
    let block = &new.block;
    let first = block.first_value() as i64;
    let last = first + block.len() as i64 - 1;
    let digits = block.start().digits().len() as i32;
    check_no_overlap(conn, permit, digits, first, last)?;
    let (start, end) = (block.start().to_string(), block.end().to_string());
    check_no_numbers(conn, permit, &start, &end, digits)?;
    let now = crate::now();
    diesel::insert_into(ranges::table)
        .values((
            ranges::name.eq(&new.name),
            ranges::start_number.eq(&start),
            ranges::end_number.eq(&end),
            ranges::first_value.eq(first),
            ranges::last_value.eq(last),
            ranges::digit_count.eq(digits),
            ranges::country.eq(block.country()),
            ranges::size.eq(block.len() as i64),
            ranges::location_id.eq(new.location_id),
            ranges::platform_id.eq(new.platform_id),
            ranges::number_type.eq(new.number_type.map(|t| t.as_str())),
            ranges::description.eq(&new.description),
            ranges::created_at.eq(now),
            ranges::updated_at.eq(now),
        ))
        .execute(conn)?;
    let id: i64 = ranges::table
        .filter(ranges::start_number.eq(&start))
        .select(ranges::id)
        .first(conn)?;
    let tag_ids = tags::ensure(conn, &new.tags)?;
    tags::set_for_range(conn, id, &tag_ids)?;
    let defaults = dialect::RangeDefaults {
        range_id: id,
        location_id: new.location_id,
        platform_id: new.platform_id,
        number_type: new.number_type.map(|t| t.as_str()),
        tag_names: tags::joined_names(conn, &tag_ids)?,
    };
    dialect::materialise_block(conn, block, &defaults, now)?;
    // Distinct ids (the plain insert below has no conflict check).
    let mut fresh_tags = tag_ids.clone();
    fresh_tags.sort_unstable();
    fresh_tags.dedup();
    for tag_id in &fresh_tags {
        dialect::tag_range_numbers(conn, id, *tag_id, true)?;
    }
    let created = get(conn, &Scope::unrestricted(), id)?;
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "range.create",
            entity_kind: "range",
            entity_id: &eid,
            before: None,
            after: audit::snapshot(&created),
        },
    )?;
    Ok(created)
}

/// How often a patch without `If-Match` is settled again on a range that other patches
/// keep changing before it gives up with 409 `concurrent_change`.
const PATCH_ATTEMPTS: u32 = 3;

/// Edits a range and, with `apply_to_numbers`, its numbers' site, platform, type and tags.
pub fn patch(
    conn: &mut Conn,
    permit: &Permit,
    id: i64,
    change: RangePatch,
    if_match: Option<i64>,
) -> StoreResult<Range> {
    // The update only lands on the version that was read: on PostgreSQL another patch can
    // commit in between, and an unguarded update would silently undo it. With `If-Match`
    // that is a 412; without, the patch is settled again on the range as it now is.
    let mut attempt = 1;
    let (before, next, now) = loop {
        let before = get(conn, permit.scope(), id)?;
        if let Some(v) = if_match.filter(|v| *v != before.version) {
            return Err(StoreError::Stale {
                expected: v,
                current: before.version,
            });
        }
        if change.apply_to_numbers {
            require_all_numbers_in_scope(conn, permit, id)?;
        }
        let next = Settled::of(&before, &change);
        let keys: Vec<&str> = next.tags.iter().map(Tag::key).collect();
        crate::numbers::check_refs(conn, permit, next.location_id, next.platform_id, &keys, "")?;
        let now = crate::now();
        let updated = diesel::update(
            ranges::table
                .filter(ranges::id.eq(id))
                .filter(ranges::version.eq(before.version)),
        )
        .set((
            ranges::name.eq(&next.name),
            ranges::description.eq(&next.description),
            ranges::location_id.eq(next.location_id),
            ranges::platform_id.eq(next.platform_id),
            ranges::number_type.eq(next.number_type.map(|t| t.as_str())),
            ranges::version.eq(before.version + 1),
            ranges::updated_at.eq(now),
        ))
        .execute(conn)?;
        if updated == 1 {
            break (before, next, now);
        }
        if attempt == PATCH_ATTEMPTS {
            return Err(StoreError::conflict(
                "concurrent_change",
                "the range kept changing while this edit was made; retry the request",
            ));
        }
        attempt += 1;
    };
    let old_tag_ids = tags::ids_for_keys(
        conn,
        &before
            .tags
            .iter()
            .map(|t| t.to_lowercase())
            .collect::<Vec<_>>(),
    )?;
    let new_tag_ids = tags::ensure(conn, &next.tags)?;
    if change.tags.is_some() {
        tags::set_for_range(conn, id, &new_tag_ids)?;
    }
    let applied = if change.apply_to_numbers {
        let retag = change
            .tags
            .is_some()
            .then_some((&old_tag_ids[..], &new_tag_ids[..]));
        pass_to_numbers(conn, id, &next, now, retag)?
    } else {
        0
    };
    let after = get(conn, permit.scope(), id).or_else(|_| get(conn, &Scope::unrestricted(), id))?;
    record_update(conn, permit, &before, &after, applied)?;
    Ok(after)
}

/// A range's details after a patch: the patch's values, the range's own where it is silent.
struct Settled {
    name: Option<String>,
    description: String,
    location_id: Option<i64>,
    platform_id: Option<i64>,
    number_type: Option<NumberType>,
    tags: Vec<Tag>,
}

impl Settled {
    fn of(before: &Range, change: &RangePatch) -> Settled {
        Settled {
            name: match &change.name {
                Some(n) => n
                    .as_ref()
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty()),
                None => before.name.clone(),
            },
            description: change
                .description
                .clone()
                .unwrap_or_else(|| before.description.clone()),
            location_id: change.location_id.unwrap_or(before.location_id),
            platform_id: change.platform_id.unwrap_or(before.platform_id),
            number_type: change.number_type.unwrap_or(before.number_type),
            tags: match &change.tags {
                Some(t) => t.clone(),
                None => before
                    .tags
                    .iter()
                    .filter_map(|t| Tag::parse(t).ok())
                    .collect(),
            },
        }
    }
}

/// Gives the range's numbers its site, platform and type and, when `retag` carries the
/// range's old and new tag ids, swaps the dropped tags for the new ones on every number
/// (tags the numbers carry of their own are kept). Returns how many numbers changed.
fn pass_to_numbers(
    conn: &mut Conn,
    id: i64,
    next: &Settled,
    now: NaiveDateTime,
    retag: Option<(&[i64], &[i64])>,
) -> StoreResult<usize> {
    let applied = diesel::update(numbers::table.filter(numbers::range_id.eq(id)))
        .set((
            numbers::location_id.eq(next.location_id),
            numbers::platform_id.eq(next.platform_id),
            numbers::number_type.eq(next.number_type.map(|t| t.as_str())),
            numbers::version.eq(numbers::version + 1),
            numbers::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some((old_tag_ids, new_tag_ids)) = retag {
        let dropped: Vec<i64> = old_tag_ids
            .iter()
            .copied()
            .filter(|t| !new_tag_ids.contains(t))
            .collect();
        diesel::delete(
            number_tags::table
                .filter(number_tags::tag_id.eq_any(&dropped))
                .filter(
                    number_tags::number_id.eq_any(
                        numbers::table
                            .filter(numbers::range_id.eq(id))
                            .select(numbers::id),
                    ),
                ),
        )
        .execute(conn)?;
        for tag_id in new_tag_ids {
            dialect::tag_range_numbers(conn, id, *tag_id, false)?;
        }
        tags::refresh_range_names(conn, id)?;
    }
    Ok(applied)
}

/// The `range.update` audit record, noting how many numbers the change was passed to.
fn record_update(
    conn: &mut Conn,
    permit: &Permit,
    before: &Range,
    after: &Range,
    applied: usize,
) -> StoreResult<()> {
    let eid = after.id.to_string();
    let mut after_json = audit::snapshot(after);
    if let Some(serde_json::Value::Object(m)) = after_json.as_mut() {
        m.insert("applied_to_numbers".into(), applied.into());
    }
    audit::record(
        conn,
        permit,
        Change {
            action: "range.update",
            entity_kind: "range",
            entity_id: &eid,
            before: audit::snapshot(before),
            after: after_json,
        },
    )
}

/// Deletes a range and its numbers; refused unless every one of them is available.
pub fn delete(conn: &mut Conn, permit: &Permit, id: i64, if_match: Option<i64>) -> StoreResult<()> {
    let before = get(conn, permit.scope(), id)?;
    if let Some(v) = if_match.filter(|v| *v != before.version) {
        return Err(StoreError::Stale {
            expected: v,
            current: before.version,
        });
    }
    require_all_numbers_in_scope(conn, permit, id)?;
    let in_use = before.utilisation.total - before.utilisation.available;
    if in_use > 0 {
        return Err(StoreError::Conflict {
            code: "range_in_use",
            message: if in_use == 1 {
                "1 number of the range is not available; release or unassign it first".to_string()
            } else {
                format!(
                    "{in_use} numbers of the range are not available; release or unassign them first"
                )
            },
            details: serde_json::json!({ "utilisation": before.utilisation }),
        });
    }
    // The numbers go first, then their links (no cascade: number_tags has no foreign key).
    // Deleting the rows waits for any transaction that wrote one of them (every tag
    // writer writes the number's row before its links) and skips a row no longer
    // available; the links of exactly the rows deleted are then read after those
    // writers committed, so none is left behind.
    let deleted = dialect::delete_available_numbers_of_range(conn, id)?;
    for chunk in deleted.chunks(5000) {
        diesel::delete(number_tags::table.filter(number_tags::number_id.eq_any(chunk)))
            .execute(conn)?;
    }
    let left: i64 = numbers::table
        .filter(numbers::range_id.eq(id))
        .count()
        .get_result(conn)?;
    if left > 0 {
        // A number changed status after the check: refuse and roll back the whole delete.
        return Err(StoreError::conflict(
            "range_in_use",
            "numbers of the range changed while it was being deleted; retry",
        ));
    }
    diesel::delete(ranges::table.filter(ranges::id.eq(id))).execute(conn)?;
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "range.delete",
            entity_kind: "range",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: None,
        },
    )
}
