//! Counts for the dashboard, within the caller's scope, and how fast pools are used up.
//!
//! Assignment rates come from the audit trail (`number.assign` records, not reassignments)
//! of the last `RATE_DAYS` UTC calendar days, today included, grouped by where each
//! number is now. The daily series may look further back (`days`, up to
//! [`MAX_SERIES_DAYS`]); the rates never do, so their field names stay true.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use domain::Scope;
use serde::Serialize;

use crate::{
    Conn, StoreResult,
    ranges::Utilisation,
    schema::{locations, number_tags, numbers, range_tags, ranges, tags},
    scope::ScopeFilter,
};

/// Counts of one group (a location, range or tag) by status.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The group's id (location and range ids; the tag name for tags; empty for "none").
    pub id: String,
    /// A name to show.
    pub name: String,
    /// Counts by status.
    pub counts: Utilisation,
    /// Rate and runway.
    pub forecast: Forecast,
}

/// How many days of assignments the rate is taken over; also the daily series' default.
pub(crate) const RATE_DAYS: u64 = 30;

/// The longest daily series a caller may ask for: a leap year, today included.
pub const MAX_SERIES_DAYS: i64 = 366;

/// Checks the requested length of the daily series (`days`; default [`RATE_DAYS`]).
fn series_days(requested: Option<i64>) -> StoreResult<u64> {
    match requested {
        None => Ok(RATE_DAYS),
        Some(n) if (1..=MAX_SERIES_DAYS).contains(&n) => Ok(n as u64),
        Some(n) => Err(crate::StoreError::invalid(
            "invalid_query",
            "days",
            format!("{n} is outside 1..={MAX_SERIES_DAYS}"),
        )),
    }
}

/// Assignments of the last [`RATE_DAYS`] days and how long the available numbers last.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Forecast {
    /// `number.assign` records of the last 30 days.
    pub assignments_last_30_days: i64,
    /// Those per day.
    pub assignments_per_day: f64,
    /// Available numbers divided by the rate; `None` when nothing was assigned.
    pub days_until_exhausted: Option<f64>,
}

impl Forecast {
    fn new(assignments: i64, available: i64) -> Forecast {
        let rate = assignments as f64 / RATE_DAYS as f64;
        Forecast {
            assignments_last_30_days: assignments,
            assignments_per_day: rate,
            days_until_exhausted: (rate > 0.0).then(|| available as f64 / rate),
        }
    }
}

/// Assignments on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Daily {
    /// The day.
    pub day: NaiveDate,
    /// `number.assign` records that day.
    pub assignments: i64,
}

/// The dashboard's counts.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Counts over all numbers in scope.
    pub totals: Utilisation,
    /// Per location (numbers without one under id "").
    pub by_location: Vec<Group>,
    /// Per range (numbers outside ranges under id "").
    pub by_range: Vec<Group>,
    /// Per tag.
    pub by_tag: Vec<Group>,
    /// Rate and runway over all numbers in scope.
    pub forecast: Forecast,
    /// Assignments per day over the requested days (default 30), oldest first, ending
    /// today, every day present.
    pub daily: Vec<Daily>,
}

fn group(
    map: BTreeMap<Option<i64>, Utilisation>,
    names: &BTreeMap<i64, String>,
    assigned: &BTreeMap<Option<i64>, i64>,
) -> Vec<Group> {
    map.into_iter()
        .map(|(id, counts)| Group {
            id: id.map(|i| i.to_string()).unwrap_or_default(),
            name: id
                .and_then(|i| names.get(&i).cloned())
                .unwrap_or_else(|| "(none)".into()),
            forecast: Forecast::new(assigned.get(&id).copied().unwrap_or(0), counts.available),
            counts,
        })
        .collect()
}

#[derive(QueryableByName)]
struct Assigned {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    location_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    range_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    day: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct TagAssigned {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Assignments counted where each number is now: per group and in total since the rate's
/// first day, per day since the series' first day.
struct Assignments {
    by_location: BTreeMap<Option<i64>, i64>,
    by_range: BTreeMap<Option<i64>, i64>,
    by_tag: BTreeMap<String, i64>,
    by_day: BTreeMap<NaiveDate, i64>,
    total: i64,
}

/// Two queries: per (location, range, day), and per tag.
fn assignments(
    conn: &mut Conn,
    filter: &ScopeFilter,
    rate_since: NaiveDate,
    series_since: NaiveDate,
) -> StoreResult<Assignments> {
    let since: NaiveDateTime = rate_since
        .min(series_since)
        .and_time(chrono::NaiveTime::MIN);
    let scope = filter
        .condition("numbers")
        .map(|c| format!(" AND {c}"))
        .unwrap_or_default();
    let from = "FROM audit_log a JOIN numbers ON numbers.e164 = a.entity_id";
    let recent = "a.entity_kind = 'number' AND a.action = 'number.assign' AND a.at >= $1";
    let day = crate::dialect::day_of(conn, "a.at");
    let rows: Vec<Assigned> = diesel::sql_query(format!(
        "SELECT numbers.location_id AS location_id, numbers.range_id AS range_id, {day} AS day, COUNT(*) AS n \
         {from} WHERE {recent}{scope} GROUP BY numbers.location_id, numbers.range_id, {day}"
    ))
    .bind::<diesel::sql_types::Timestamp, _>(since)
    .load(conn)?;
    let tags: Vec<TagAssigned> = diesel::sql_query(format!(
        "SELECT t.name AS name, COUNT(*) AS n {from} JOIN number_tags nt ON nt.number_id = numbers.id \
         JOIN tags t ON t.id = nt.tag_id WHERE {recent}{scope} GROUP BY t.name"
    ))
    .bind::<diesel::sql_types::Timestamp, _>(rate_since.and_time(chrono::NaiveTime::MIN))
    .load(conn)?;
    let mut out = Assignments {
        by_location: BTreeMap::new(),
        by_range: BTreeMap::new(),
        by_tag: tags.into_iter().map(|t| (t.name, t.n)).collect(),
        by_day: BTreeMap::new(),
        total: 0,
    };
    for r in rows {
        let day = NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").map_err(|e| {
            crate::StoreError::Internal(format!("day {:?} from the database: {e}", r.day))
        })?;
        if day >= series_since {
            *out.by_day.entry(day).or_default() += r.n;
        }
        if day >= rate_since {
            *out.by_location.entry(r.location_id).or_default() += r.n;
            *out.by_range.entry(r.range_id).or_default() += r.n;
            out.total += r.n;
        }
    }
    Ok(out)
}

#[derive(QueryableByName)]
struct TagCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Counts by status, location, range and tag, with assignment rates as of now, and the
/// assignments of each of the last `days` days (1..=[`MAX_SERIES_DAYS`], default 30; out
/// of range is invalid, naming `days`).
pub fn compute(conn: &mut Conn, scope: &Scope, days: Option<i64>) -> StoreResult<Stats> {
    compute_at(conn, scope, crate::now(), days)
}

/// [`compute`] as of `now` (tests pass their own clock).
pub fn compute_at(
    conn: &mut Conn,
    scope: &Scope,
    now: NaiveDateTime,
    days: Option<i64>,
) -> StoreResult<Stats> {
    let days = series_days(days)?;
    let filter = ScopeFilter::resolve(conn, scope)?;
    let today = now.date();
    let rate_first_day = today - Days::new(RATE_DAYS - 1);
    let first_day = today - Days::new(days - 1);
    let assigned = assignments(conn, &filter, rate_first_day, first_day)?;
    let mut grouped = numbers::table
        .group_by((numbers::location_id, numbers::range_id, numbers::status))
        .select((
            numbers::location_id,
            numbers::range_id,
            numbers::status,
            diesel::dsl::count_star(),
        ))
        .into_boxed();
    if let Some(cond) = filter.condition("numbers") {
        grouped = grouped.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&cond));
    }
    let rows: Vec<(Option<i64>, Option<i64>, String, i64)> = grouped.load(conn)?;
    let mut totals = Utilisation::default();
    let mut by_loc: BTreeMap<Option<i64>, Utilisation> = BTreeMap::new();
    let mut by_range: BTreeMap<Option<i64>, Utilisation> = BTreeMap::new();
    for (loc, range, status, n) in rows {
        totals.add(&status, n);
        by_loc.entry(loc).or_default().add(&status, n);
        by_range.entry(range).or_default().add(&status, n);
    }
    let loc_names: BTreeMap<i64, String> = locations::table
        .select((locations::id, locations::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let range_names: BTreeMap<i64, String> = ranges::table
        .select((
            ranges::id,
            ranges::name,
            ranges::start_number,
            ranges::end_number,
        ))
        .load::<(i64, Option<String>, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, s, e)| (id, name.unwrap_or_else(|| format!("{s} – {e}"))))
        .collect();
    let tag_sql = format!(
        "SELECT t.name AS name, numbers.status AS status, COUNT(*) AS n FROM number_tags nt \
         JOIN tags t ON t.id = nt.tag_id JOIN numbers ON numbers.id = nt.number_id {} GROUP BY t.name, numbers.status",
        filter
            .condition("numbers")
            .map(|c| format!("WHERE {c}"))
            .unwrap_or_default()
    );
    let tag_rows: Vec<TagCount> = diesel::sql_query(tag_sql).load(conn)?;
    let mut by_tag: BTreeMap<String, Utilisation> = BTreeMap::new();
    for TagCount { name, status, n } in tag_rows {
        by_tag.entry(name).or_default().add(&status, n);
    }
    let daily = first_day
        .iter_days()
        .take(days as usize)
        .map(|day| Daily {
            day,
            assignments: assigned.by_day.get(&day).copied().unwrap_or(0),
        })
        .collect();
    Ok(Stats {
        forecast: Forecast::new(assigned.total, totals.available),
        totals,
        by_location: group(by_loc, &loc_names, &assigned.by_location),
        by_range: group(by_range, &range_names, &assigned.by_range),
        by_tag: by_tag
            .into_iter()
            .map(|(name, counts)| Group {
                id: name.clone(),
                forecast: Forecast::new(
                    assigned.by_tag.get(&name).copied().unwrap_or(0),
                    counts.available,
                ),
                name,
                counts,
            })
            .collect(),
        daily,
    })
}

/// A tag and how much carries it.
#[derive(Debug, Clone, Serialize)]
pub struct TagUsage {
    /// The label as first entered.
    pub name: String,
    /// Numbers in the caller's scope that carry it.
    pub numbers: i64,
    /// Ranges that carry it.
    pub ranges: i64,
}

/// Every tag in use, with counts, ordered by key. Scoped callers count only their numbers
/// and see only tags that at least one of their numbers carries.
pub fn tag_usage(conn: &mut Conn, scope: &Scope) -> StoreResult<Vec<TagUsage>> {
    let mut counted = number_tags::table
        .group_by(number_tags::tag_id)
        .select((number_tags::tag_id, diesel::dsl::count_star()))
        .into_boxed();
    if let Some(cond) =
        ScopeFilter::resolve(conn, scope)?.exists_condition("id", "number_tags.number_id")
    {
        counted = counted.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&cond));
    }
    let number_counts: HashMap<i64, i64> = counted.load::<(i64, i64)>(conn)?.into_iter().collect();
    let mut ranges_counted = range_tags::table
        .group_by(range_tags::tag_id)
        .select((range_tags::tag_id, diesel::dsl::count_star()))
        .into_boxed();
    if !scope.is_unrestricted() {
        // A scoped caller counts only the ranges it can see.
        let visible = crate::scope::visible_range_ids(conn, scope)?;
        ranges_counted = ranges_counted.filter(range_tags::range_id.eq_any(visible));
    }
    let range_counts: HashMap<i64, i64> = ranges_counted
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let all: Vec<(i64, String)> = tags::table
        .order(tags::key)
        .select((tags::id, tags::name))
        .load(conn)?;
    Ok(all
        .into_iter()
        .filter_map(|(id, name)| {
            let numbers = number_counts.get(&id).copied().unwrap_or(0);
            let ranges = range_counts.get(&id).copied().unwrap_or(0);
            let shown = if scope.is_unrestricted() {
                numbers + ranges > 0
            } else {
                numbers > 0
            };
            shown.then_some(TagUsage {
                name,
                numbers,
                ranges,
            })
        })
        .collect())
}
