//! Sites: unique by name (case-insensitive), with an ISO country.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::{Permit, Scope};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    page::{self, Page},
    schema::{locations, numbers, ranges},
};

/// A site as stored.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = locations)]
pub struct Location {
    /// Row id, exposed as a string.
    pub id: i64,
    /// Unique name as entered.
    pub name: String,
    /// Lower-case name for uniqueness.
    #[serde(skip)]
    pub name_key: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Region or state.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Street address.
    pub address: Option<String>,
    /// The platform's emergency-location id (Teams `locationId`).
    pub emergency_location_id: Option<String>,
    /// Increases on every change.
    pub version: i64,
    /// When it was added.
    #[serde(serialize_with = "crate::utc::ser")]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[serde(serialize_with = "crate::utc::ser")]
    pub updated_at: NaiveDateTime,
}

/// A site's editable fields, validated.
#[derive(Debug, Clone)]
pub struct LocationInput {
    /// 1–200 characters.
    pub name: String,
    /// ISO alpha-2, upper case.
    pub country: String,
    /// Optional region.
    pub region: Option<String>,
    /// Optional city.
    pub city: Option<String>,
    /// Optional address.
    pub address: Option<String>,
    /// Optional emergency-location id.
    pub emergency_location_id: Option<String>,
}

impl LocationInput {
    /// Trims and checks the fields, naming the first bad one.
    pub fn validate(mut self) -> StoreResult<Self> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(StoreError::invalid(
                "invalid_name",
                "name",
                "must be 1-200 characters",
            ));
        }
        self.country = self.country.trim().to_ascii_uppercase();
        if !domain::phone::is_known_country(&self.country) {
            return Err(StoreError::invalid(
                "invalid_country",
                "country",
                format!(
                    "'{}' is not an ISO 3166-1 alpha-2 country code",
                    self.country
                ),
            ));
        }
        for (field, value) in [
            ("region", &mut self.region),
            ("city", &mut self.city),
            ("address", &mut self.address),
            ("emergency_location_id", &mut self.emergency_location_id),
        ] {
            if let Some(v) = value {
                let t = v.trim();
                if t.chars().count() > 1000 {
                    return Err(StoreError::invalid(
                        "too_long",
                        field,
                        "must be at most 1000 characters",
                    ));
                }
                *value = (!t.is_empty()).then(|| t.to_string());
            }
        }
        Ok(self)
    }
}

/// The sites a scope can see. A grant listing locations sees those; a grant limited by
/// tags alone sees only the sites of the numbers and ranges in its scope, so the rest of
/// the estate's sites stay as invisible to it as the numbers there.
pub(crate) fn visible(
    conn: &mut Conn,
    scope: &Scope,
) -> StoreResult<locations::BoxedQuery<'static, crate::db::MultiBackend>> {
    let mut q = locations::table.into_boxed();
    if !scope.locations.is_empty() {
        q = q.filter(locations::id.eq_any(crate::scope::location_ids(scope)));
    } else if !scope.tags.is_empty() {
        let numbers = crate::scope::ScopeFilter::resolve(conn, scope)?
            .exists_condition("location_id", "locations.id");
        let ranges = crate::scope::visible_range_ids(conn, scope)?;
        // Ids are integers from our own tables, safe to inline (see ScopeFilter).
        let by_range = format!(
            "locations.id IN (SELECT r.location_id FROM ranges r WHERE r.id IN ({}))",
            crate::scope::id_list(&ranges)
        );
        let cond = match numbers {
            Some(n) => format!("({n} OR {by_range})"),
            None => by_range,
        };
        q = q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&cond));
    }
    Ok(q)
}

/// One site, if it exists within `scope`.
pub fn get(conn: &mut Conn, scope: &Scope, id: i64) -> StoreResult<Location> {
    visible(conn, scope)?
        .filter(locations::id.eq(id))
        .select(Location::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("location", id))
}

/// Sites ordered by name; `q` matches name, city or region.
pub fn list(
    conn: &mut Conn,
    scope: &Scope,
    q: Option<&str>,
    country: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<Location>> {
    let limit = page::limit(limit)?;
    let mut query = visible(conn, scope)?
        .select(Location::as_select())
        .order(locations::name_key.asc());
    if let Some(c) = cursor {
        query = query.filter(locations::name_key.gt(page::decode(c)?));
    }
    if let Some(c) = country {
        query = query.filter(locations::country.eq(c.trim().to_ascii_uppercase()));
    }
    if let Some(text) = q.map(str::trim).filter(|t| !t.is_empty()) {
        let p = crate::page::contains_pattern(text);
        query = query.filter(
            locations::name_key
                .like(p.clone())
                .escape('\\')
                .or(
                    crate::numbers::lower(diesel::dsl::sql::<diesel::sql_types::Text>(
                        "COALESCE(city, '')",
                    ))
                    .like(p.clone())
                    .escape('\\'),
                )
                .or(
                    crate::numbers::lower(diesel::dsl::sql::<diesel::sql_types::Text>(
                        "COALESCE(region, '')",
                    ))
                    .like(p)
                    .escape('\\'),
                ),
        );
    }
    let rows = query.limit(limit + 1).load(conn)?;
    Ok(page::finish(rows, limit, |l| l.name_key.clone()))
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict {
        code: "location_exists",
        message: format!("a location named '{name}' already exists"),
        details: serde_json::json!({ "field": "name" }),
    }
}

/// Creating and deleting sites belongs to unscoped grants: a scoped grant (by locations,
/// tags or both) cannot add a site it would then see, or remove one others use.
fn require_unscoped(permit: &Permit) -> StoreResult<()> {
    if permit.scope().is_unrestricted() {
        Ok(())
    } else {
        Err(StoreError::Forbidden {
            code: "out_of_scope",
            message: "a scoped grant cannot create or delete sites".into(),
        })
    }
}

/// Editing a site needs a grant that lists it: a grant limited by tags alone only reads
/// the sites of its numbers.
fn require_listed(permit: &Permit) -> StoreResult<()> {
    let scope = permit.scope();
    if scope.locations.is_empty() && !scope.tags.is_empty() {
        return Err(StoreError::Forbidden {
            code: "out_of_scope",
            message: "a grant limited to tags cannot change sites".into(),
        });
    }
    Ok(())
}

/// Adds a site.
pub fn create(conn: &mut Conn, permit: &Permit, input: LocationInput) -> StoreResult<Location> {
    require_unscoped(permit)?;
    let input = input.validate()?;
    let key = input.name.to_lowercase();
    let exists: i64 = locations::table
        .filter(locations::name_key.eq(&key))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(name_taken(&input.name));
    }
    let now = crate::now();
    diesel::insert_into(locations::table)
        .values((
            locations::name.eq(&input.name),
            locations::name_key.eq(&key),
            locations::country.eq(&input.country),
            locations::region.eq(&input.region),
            locations::city.eq(&input.city),
            locations::address.eq(&input.address),
            locations::emergency_location_id.eq(&input.emergency_location_id),
            locations::created_at.eq(now),
            locations::updated_at.eq(now),
        ))
        .execute(conn)?;
    let created: Location = locations::table
        .filter(locations::name_key.eq(&key))
        .select(Location::as_select())
        .first(conn)?;
    let id = created.id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "location.create",
            entity_kind: "location",
            entity_id: &id,
            before: None,
            after: audit::snapshot(&created),
        },
    )?;
    Ok(created)
}

/// Replaces a site's fields (a PATCH merges into the current ones before calling this).
pub fn update(
    conn: &mut Conn,
    permit: &Permit,
    id: i64,
    input: LocationInput,
    if_match: Option<i64>,
) -> StoreResult<Location> {
    let before = get(conn, permit.scope(), id)?;
    require_listed(permit)?;
    if let Some(v) = if_match.filter(|v| *v != before.version) {
        return Err(StoreError::Stale {
            expected: v,
            current: before.version,
        });
    }
    let input = input.validate()?;
    let key = input.name.to_lowercase();
    let clash: Option<i64> = locations::table
        .filter(locations::name_key.eq(&key))
        .filter(locations::id.ne(id))
        .select(locations::id)
        .first(conn)
        .optional()?;
    if let Some(other) = clash {
        // A site the caller cannot see is not named, not even by the name it typed.
        let seen: i64 = visible(conn, permit.scope())?
            .filter(locations::id.eq(other))
            .count()
            .get_result(conn)?;
        return Err(if seen > 0 {
            name_taken(&input.name)
        } else {
            crate::numbers::hidden_conflict()
        });
    }
    let n = diesel::update(
        locations::table
            .filter(locations::id.eq(id))
            .filter(locations::version.eq(before.version)),
    )
    .set((
        locations::name.eq(&input.name),
        locations::name_key.eq(&key),
        locations::country.eq(&input.country),
        locations::region.eq(&input.region),
        locations::city.eq(&input.city),
        locations::address.eq(&input.address),
        locations::emergency_location_id.eq(&input.emergency_location_id),
        locations::version.eq(before.version + 1),
        locations::updated_at.eq(crate::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::Stale {
            expected: before.version,
            current: before.version + 1,
        });
    }
    let after = get(conn, permit.scope(), id)?;
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "location.update",
            entity_kind: "location",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: audit::snapshot(&after),
        },
    )?;
    Ok(after)
}

/// Removes a site that no number or range uses.
pub fn delete(conn: &mut Conn, permit: &Permit, id: i64, if_match: Option<i64>) -> StoreResult<()> {
    let before = get(conn, permit.scope(), id)?;
    require_unscoped(permit)?;
    if let Some(v) = if_match.filter(|v| *v != before.version) {
        return Err(StoreError::Stale {
            expected: v,
            current: before.version,
        });
    }
    crate::dialect::lock_for_delete(conn, crate::dialect::RefTable::Locations, id)?;
    let used_by_numbers: i64 = numbers::table
        .filter(numbers::location_id.eq(id))
        .count()
        .get_result(conn)?;
    let used_by_ranges: i64 = ranges::table
        .filter(ranges::location_id.eq(id))
        .count()
        .get_result(conn)?;
    if used_by_numbers + used_by_ranges > 0 {
        return Err(StoreError::Conflict {
            code: "location_in_use",
            message: format!(
                "location '{}' is used by {used_by_numbers} numbers and {used_by_ranges} ranges; move them first",
                before.name
            ),
            details: serde_json::json!({ "numbers": used_by_numbers, "ranges": used_by_ranges }),
        });
    }
    diesel::delete(locations::table.filter(locations::id.eq(id))).execute(conn)?;
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "location.delete",
            entity_kind: "location",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: None,
        },
    )
}
