//! A caller's scope turned into SQL: every read of numbers, ranges, tags and audit records
//! that must honour scope goes through [`ScopeFilter`] or [`visible_ranges`].
//!
//! Kept out of `numbers` and `ranges` because `audit`, `tags`, `stats` and `directory`
//! need it too, and those aggregates import them: store modules must not form a circle
//! (`scripts/store-modules.sh` checks it).

use diesel::{dsl::sql, prelude::*, sql_types::Bool};
use domain::Scope;

use crate::{
    Conn, StoreResult,
    db::MultiBackend,
    schema::{numbers, ranges},
    tags,
};

/// A scope resolved to row ids, ready to be written into SQL.
///
/// Ids are integers the store itself produced, so conditions inline them as literals;
/// that keeps one condition usable in any query (diesel cannot box subselects across
/// backends) and leaves no room for injection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScopeFilter {
    locations: Option<Vec<i64>>,
    tags: Option<Vec<i64>>,
}

/// An SQL list of ids (`-1` when empty, which matches nothing).
pub(crate) fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        "-1".to_string()
    } else {
        ids.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The location ids a grant lists (ids on the wire are strings; ours parse).
pub(crate) fn location_ids(scope: &Scope) -> Vec<i64> {
    scope
        .locations
        .iter()
        .filter_map(|l| l.parse().ok())
        .collect()
}

impl ScopeFilter {
    /// Looks up the scope's tag ids (locations are ids already).
    pub(crate) fn resolve(conn: &mut Conn, scope: &Scope) -> StoreResult<ScopeFilter> {
        let locations = (!scope.locations.is_empty()).then(|| location_ids(scope));
        let tags = if scope.tags.is_empty() {
            None
        } else {
            Some(tags::ids_for_keys(conn, &scope.tags)?)
        };
        Ok(ScopeFilter { locations, tags })
    }

    /// Whether the scope admits every number.
    pub(crate) fn is_unrestricted(&self) -> bool {
        self.locations.is_none() && self.tags.is_none()
    }

    /// The sites the scope is limited to (`None`: any).
    pub(crate) fn location_ids(&self) -> Option<&[i64]> {
        self.locations.as_deref()
    }

    /// The tags the scope is limited to, any of which admits a number (`None`: any).
    pub(crate) fn tag_ids(&self) -> Option<&[i64]> {
        self.tags.as_deref()
    }

    /// The SQL condition on a numbers row named `alias`, or `None` when unrestricted.
    pub(crate) fn condition(&self, alias: &str) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(l) = &self.locations {
            parts.push(format!("{alias}.location_id IN ({})", id_list(l)));
        }
        if let Some(t) = &self.tags {
            parts.push(format!(
                "EXISTS (SELECT 1 FROM number_tags snt WHERE snt.number_id = {alias}.id AND snt.tag_id IN ({}))",
                id_list(t)
            ));
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// A condition that a numbers row with `column = outer` exists in scope, for queries
    /// over other tables (audit records, tag links); `None` when unrestricted.
    pub(crate) fn exists_condition(&self, column: &str, outer: &str) -> Option<String> {
        self.condition("sn").map(|c| {
            format!("EXISTS (SELECT 1 FROM numbers sn WHERE sn.{column} = {outer} AND {c})")
        })
    }
}

/// Restricts a numbers query to a scope; shared by every read that must honour scope.
pub(crate) fn scoped<'a, ST: 'a>(
    q: numbers::BoxedQuery<'a, MultiBackend, ST>,
    scope: &ScopeFilter,
) -> numbers::BoxedQuery<'a, MultiBackend, ST> {
    match scope.condition("numbers") {
        Some(c) => q.filter(sql::<Bool>(&c)),
        None => q,
    }
}

/// The ranges a scope can see: in one of its locations and carrying one of its tags.
pub(crate) fn visible_ranges(
    conn: &mut Conn,
    scope: &Scope,
) -> StoreResult<ranges::BoxedQuery<'static, MultiBackend>> {
    let mut q = ranges::table.into_boxed();
    if !scope.locations.is_empty() {
        q = q.filter(ranges::location_id.eq_any(location_ids(scope)));
    }
    if !scope.tags.is_empty() {
        // Tag ids are integers from our own table, safe to inline (see ScopeFilter).
        let ids = tags::ids_for_keys(conn, &scope.tags)?;
        let list = id_list(&ids);
        q = q.filter(sql::<Bool>(&format!("EXISTS (SELECT 1 FROM range_tags rt WHERE rt.range_id = ranges.id AND rt.tag_id IN ({list}))")));
    }
    Ok(q)
}

/// Ids of the ranges a scope can see.
pub(crate) fn visible_range_ids(conn: &mut Conn, scope: &Scope) -> StoreResult<Vec<i64>> {
    Ok(visible_ranges(conn, scope)?.select(ranges::id).load(conn)?)
}

/// The numbers among `e164s` (E.164) that `scope` sees.
pub(crate) fn visible_numbers(
    conn: &mut Conn,
    scope: &Scope,
    e164s: &[&str],
) -> StoreResult<std::collections::HashSet<String>> {
    let filter = ScopeFilter::resolve(conn, scope)?;
    let mut out = std::collections::HashSet::new();
    for chunk in e164s.chunks(1000) {
        let q = numbers::table
            .filter(numbers::e164.eq_any(chunk))
            .select(numbers::e164)
            .into_boxed();
        out.extend(scoped(q, &filter).load::<String>(conn)?);
    }
    Ok(out)
}
