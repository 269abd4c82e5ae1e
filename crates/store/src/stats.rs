//! Counts for the dashboard, within the caller's scope.

use std::collections::BTreeMap;

use diesel::prelude::*;
use domain::Scope;
use serde::Serialize;

use crate::{
    Conn, StoreResult,
    numbers::ScopeFilter,
    ranges::Utilisation,
    schema::{locations, numbers, ranges},
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
}

fn group(map: BTreeMap<Option<i64>, Utilisation>, names: &BTreeMap<i64, String>) -> Vec<Group> {
    map.into_iter()
        .map(|(id, counts)| Group {
            id: id.map(|i| i.to_string()).unwrap_or_default(),
            name: id
                .and_then(|i| names.get(&i).cloned())
                .unwrap_or_else(|| "(none)".into()),
            counts,
        })
        .collect()
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

/// Counts by status, location, range and tag.
pub fn compute(conn: &mut Conn, scope: &Scope) -> StoreResult<Stats> {
    let filter = ScopeFilter::resolve(conn, scope)?;
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
    Ok(Stats {
        totals,
        by_location: group(by_loc, &loc_names),
        by_range: group(by_range, &range_names),
        by_tag: by_tag
            .into_iter()
            .map(|(name, counts)| Group {
                id: name.clone(),
                name,
                counts,
            })
            .collect(),
    })
}
