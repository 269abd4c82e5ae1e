//! The inventory as rows of the CSV export (`domain::csv_row::HEADER`), read a keyset page at
//! a time so that exporting 1,000,000 numbers holds one page in memory, never the estate.
//!
//! [`Export::prepare`] resolves the caller's scope and loads the location, range, platform
//! and tag names once (they are small, and rows share them rather than copy them); each
//! [`Export::page`] is then two queries, the numbers and their tag links, whatever the
//! page size. Pages are separate reads: a number
//! changed while an export runs appears as its page saw it, and ordering by E.164 means
//! every number that exists throughout the export appears exactly once.

use std::{borrow::Cow, collections::HashMap, sync::Arc};

use chrono::NaiveDateTime;
use diesel::{dsl::AsSelect, prelude::*};
use domain::{
    NumberStatus, NumberType, Scope, TargetKind,
    csv_row::{join_tags, neutralise},
};

use crate::{
    Conn, StoreResult,
    db::MultiBackend,
    error::stored,
    numbers::NumberFilter,
    schema::{locations, numbers, platforms, ranges},
    scope::ScopeFilter,
};

/// The page size the API and the CLI read with: about 1 MB of CSV per page.
pub const PAGE_ROWS: i64 = crate::search::EXPORT_PAGE_ROWS;

/// The columns an export row is written from; the tags come as `numbers.tag_names` (see
/// `tags::split_names`), not from the links.
#[derive(Queryable, Selectable)]
#[diesel(table_name = numbers)]
struct Row {
    e164: String,
    status: String,
    country: String,
    range_id: Option<i64>,
    location_id: Option<i64>,
    platform_id: Option<i64>,
    number_type: Option<String>,
    description: String,
    reserved_reason: Option<String>,
    reserved_for: Option<String>,
    #[diesel(deserialize_as = crate::rows::MaybeStamp)]
    reserved_until: Option<NaiveDateTime>,
    #[diesel(deserialize_as = crate::rows::MaybeStamp)]
    quarantine_until: Option<NaiveDateTime>,
    assigned_kind: Option<String>,
    assigned_id: Option<String>,
    assigned_name: Option<String>,
    tag_names: Option<String>,
}

/// One number as the export writes it: references by name, times in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// Canonical E.164 (with `;ext=` for an extension).
    pub number: String,
    /// Status.
    pub status: NumberStatus,
    /// ISO country.
    pub country: String,
    /// The location's name.
    pub location: Option<Arc<str>>,
    /// The range's name, or `start-end` for an unnamed range.
    pub range: Option<Arc<str>>,
    /// Tag names, sorted by key.
    pub tags: Vec<Arc<str>>,
    /// Free text.
    pub description: String,
    /// The platform's name.
    pub platform: Option<Arc<str>>,
    /// How it is carried.
    pub number_type: Option<NumberType>,
    /// User or service, while assigned.
    pub assigned_to_kind: Option<TargetKind>,
    /// The user's UPN or the service's name (the id when no name was recorded).
    pub assigned_to: Option<String>,
    /// Why it is reserved.
    pub reserved_reason: Option<String>,
    /// Who it is reserved for.
    pub reserved_for: Option<String>,
    /// When the reservation ends.
    pub reserved_until: Option<NaiveDateTime>,
    /// When the quarantine ends.
    pub quarantined_until: Option<NaiveDateTime>,
}

/// RFC 3339 in UTC with `Z`, with a fraction only when the instant has one, so an
/// exported time reads back as exactly the stored one.
pub fn format_time(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl ExportRow {
    /// The cells in `domain::csv_row::HEADER` order, free text neutralised; the number
    /// is left as it is (E.164 starts with `+`, and the importer accepts it either way).
    pub fn cells(&self) -> [Cow<'_, str>; 15] {
        fn text(v: Option<&str>) -> Cow<'_, str> {
            v.map(neutralise).unwrap_or_default()
        }
        let time = |v: Option<NaiveDateTime>| Cow::Owned(v.map(format_time).unwrap_or_default());
        let tags = match self.tags.as_slice() {
            [] => Cow::Borrowed(""),
            [one] => neutralise(one),
            many => Cow::Owned(neutralise(&join_tags(many)).into_owned()),
        };
        [
            Cow::Borrowed(self.number.as_str()),
            neutralise(self.status.as_str()),
            neutralise(&self.country),
            text(self.location.as_deref()),
            text(self.range.as_deref()),
            tags,
            neutralise(&self.description),
            text(self.platform.as_deref()),
            text(self.number_type.map(NumberType::as_str)),
            text(self.assigned_to_kind.map(TargetKind::as_str)),
            text(self.assigned_to.as_deref()),
            text(self.reserved_reason.as_deref()),
            text(self.reserved_for.as_deref()),
            time(self.reserved_until),
            time(self.quarantined_until),
        ]
    }
}

/// An export in progress: the caller's scope and filter, and the names rows refer to.
pub struct Export {
    scope: ScopeFilter,
    filter: NumberFilter,
    locations: HashMap<i64, Arc<str>>,
    ranges: HashMap<i64, Arc<str>>,
    platforms: HashMap<i64, Arc<str>>,
}

impl Export {
    /// Resolves `scope` and loads the location, range and platform names.
    pub fn prepare(conn: &mut Conn, scope: &Scope, filter: NumberFilter) -> StoreResult<Export> {
        let scope = ScopeFilter::resolve(conn, scope)?;
        let locations = locations::table
            .select((locations::id, locations::name))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .map(|(id, name)| (id, name.into()))
            .collect();
        let ranges = ranges::table
            .select((
                ranges::id,
                ranges::name,
                ranges::start_number,
                ranges::end_number,
            ))
            .load::<(i64, Option<String>, String, String)>(conn)?
            .into_iter()
            .map(|(id, name, start, end)| {
                let label = match name.filter(|n| !n.trim().is_empty()) {
                    Some(n) => n,
                    None => format!("{start}-{end}"),
                };
                (id, label.into())
            })
            .collect();
        let platforms = platforms::table
            .select((platforms::id, platforms::name))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .map(|(id, name)| (id, name.into()))
            .collect();
        Ok(Export {
            scope,
            filter,
            locations,
            ranges,
            platforms,
        })
    }

    /// How many numbers the export holds (for a progress bar; it may change while the
    /// export runs).
    pub fn count(&self, conn: &mut Conn) -> StoreResult<i64> {
        crate::search::count(conn, &self.scope, &self.filter)
    }

    /// Up to `limit` rows after the number `after` (exclusive), in E.164 order; fewer
    /// than `limit` means this was the last page. Pass the last row's `number` as the
    /// next `after`.
    pub fn page(
        &self,
        conn: &mut Conn,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ExportRow>> {
        let rows: Vec<Row> = crate::search::page::<AsSelect<Row, MultiBackend>, _>(
            conn,
            &self.scope,
            &self.filter,
            after,
            limit.max(1),
            crate::rows::number_columns_of!(Row),
        )?;
        let name = |map: &HashMap<i64, Arc<str>>, id: Option<i64>| {
            id.map(|id| {
                map.get(&id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string().into())
            })
        };
        rows.into_iter()
            .map(|r| {
                Ok(ExportRow {
                    tags: crate::tags::split_names(r.tag_names)
                        .into_iter()
                        .map(Arc::from)
                        .collect(),
                    location: name(&self.locations, r.location_id),
                    range: name(&self.ranges, r.range_id),
                    platform: name(&self.platforms, r.platform_id),
                    assigned_to: r.assigned_name.filter(|n| !n.is_empty()).or(r.assigned_id),
                    number: r.e164,
                    status: stored("numbers.status", &r.status)?,
                    country: r.country,
                    description: r.description,
                    number_type: r
                        .number_type
                        .as_deref()
                        .map(|t| stored("numbers.number_type", t))
                        .transpose()?,
                    assigned_to_kind: r
                        .assigned_kind
                        .as_deref()
                        .map(|k| stored("numbers.assigned_kind", k))
                        .transpose()?,
                    reserved_reason: r.reserved_reason,
                    reserved_for: r.reserved_for,
                    reserved_until: r.reserved_until,
                    quarantined_until: r.quarantine_until,
                })
            })
            .collect()
    }
}
