//! Services: assignment targets that are not people (auto attendants, call queues, SIP
//! trunks, …). Unique by name (case-insensitive); a service that numbers are assigned to
//! cannot be deleted.
//!
//! Services have no location, so scope does not hide them; the numbers listed with a
//! service are still only those inside the caller's scope.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::{Permit, Scope, ServiceKind, TargetKind};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    error::stored,
    page::{self, Page},
    schema::{numbers, platforms, services},
};

/// Longest description or external id accepted.
pub(crate) const MAX_TEXT_CHARS: usize = 1000;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = services)]
struct ServiceRow {
    id: i64,
    name: String,
    name_key: String,
    kind: String,
    platform_id: Option<i64>,
    external_id: Option<String>,
    description: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A service as the store returns it, with the numbers assigned to it.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    /// Row id, exposed as a string.
    pub id: i64,
    /// Unique name as entered.
    pub name: String,
    /// Lower-case name: uniqueness and list order.
    #[serde(skip)]
    pub name_key: String,
    /// What it is.
    pub kind: ServiceKind,
    /// The platform that carries it.
    pub platform_id: Option<i64>,
    /// Its id on that platform (e.g. a Teams resource account's object id).
    pub external_id: Option<String>,
    /// Free text.
    pub description: String,
    /// E.164 numbers assigned to it (within the reader's scope), in order.
    pub numbers: Vec<String>,
    /// Increases on every change.
    pub version: i64,
    /// When it was added.
    #[serde(serialize_with = "crate::utc::ser")]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[serde(serialize_with = "crate::utc::ser")]
    pub updated_at: NaiveDateTime,
}

impl Service {
    fn from_row(r: ServiceRow, numbers: Vec<String>) -> StoreResult<Service> {
        Ok(Service {
            id: r.id,
            name: r.name,
            name_key: r.name_key,
            kind: stored("services.kind", &r.kind)?,
            platform_id: r.platform_id,
            external_id: r.external_id,
            description: r.description,
            numbers,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A service's editable fields; [`ServiceInput::validate`] checks them.
#[derive(Debug, Clone)]
pub struct ServiceInput {
    /// 1–200 characters.
    pub name: String,
    /// A service kind's word, checked by [`ServiceInput::validate`].
    pub kind: String,
    /// A platform that exists.
    pub platform_id: Option<i64>,
    /// Its id on the platform.
    pub external_id: Option<String>,
    /// At most 1000 characters.
    pub description: String,
}

impl ServiceInput {
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
        self.kind = check_kind("kind", &self.kind)?.as_str().to_string();
        if let Some(v) = &self.external_id {
            let t = v.trim();
            if t.chars().count() > MAX_TEXT_CHARS {
                return Err(StoreError::invalid(
                    "too_long",
                    "external_id",
                    format!("must be at most {MAX_TEXT_CHARS} characters"),
                ));
            }
            self.external_id = (!t.is_empty()).then(|| t.to_string());
        }
        if self.description.chars().count() > MAX_TEXT_CHARS {
            return Err(StoreError::invalid(
                "invalid_field",
                "description",
                format!("must be at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        Ok(self)
    }
}

/// Checks a kind word (trimmed, case-insensitive) and returns the kind.
pub(crate) fn check_kind(field: &str, value: &str) -> StoreResult<ServiceKind> {
    value.parse().map_err(|_| {
        let words: Vec<&str> = ServiceKind::ALL.iter().map(|k| k.as_str()).collect();
        StoreError::invalid(
            "invalid_field",
            field,
            format!(
                "'{value}' is not a service kind; use one of {}",
                words.join(", ")
            ),
        )
    })
}

/// List filters; each one narrows the result.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Text in the name (case-insensitive).
    pub q: Option<String>,
    /// A service kind's word (checked by [`list`]).
    pub kind: Option<String>,
}

fn with_numbers(
    conn: &mut Conn,
    scope: &Scope,
    rows: Vec<ServiceRow>,
) -> StoreResult<Vec<Service>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
    let mut by_id = crate::assigned::assigned_numbers(conn, scope, TargetKind::Service, &ids)?;
    rows.into_iter()
        .map(|r| {
            let n = by_id.remove(&r.id.to_string()).unwrap_or_default();
            Service::from_row(r, n)
        })
        .collect()
}

fn row(conn: &mut Conn, id: i64) -> StoreResult<ServiceRow> {
    services::table
        .filter(services::id.eq(id))
        .select(ServiceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("service", id))
}

/// One service, with the numbers in `scope` assigned to it.
pub fn get(conn: &mut Conn, scope: &Scope, id: i64) -> StoreResult<Service> {
    let r = row(conn, id)?;
    Ok(with_numbers(conn, scope, vec![r])?.remove(0))
}

/// The service named `name` (case-insensitive), if any.
pub fn find_by_name(conn: &mut Conn, scope: &Scope, name: &str) -> StoreResult<Option<Service>> {
    let r = services::table
        .filter(services::name_key.eq(name.trim().to_lowercase()))
        .select(ServiceRow::as_select())
        .first(conn)
        .optional()?;
    match r {
        Some(r) => Ok(Some(with_numbers(conn, scope, vec![r])?.remove(0))),
        None => Ok(None),
    }
}

/// Services ordered by name.
pub fn list(
    conn: &mut Conn,
    scope: &Scope,
    filter: &ServiceFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<Service>> {
    let limit = page::limit(limit)?;
    let mut query = services::table
        .select(ServiceRow::as_select())
        .order(services::name_key.asc())
        .into_boxed();
    if let Some(c) = cursor {
        query = query.filter(services::name_key.gt(page::decode(c)?));
    }
    if let Some(k) = &filter.kind {
        query = query.filter(services::kind.eq(check_kind("kind", k)?.as_str()));
    }
    if let Some(text) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = crate::page::contains_pattern(text);
        query = query.filter(services::name_key.like(p).escape('\\'));
    }
    let rows = query.limit(limit + 1).load(conn)?;
    let page = page::finish(rows, limit, |s| s.name_key.clone());
    Ok(Page {
        items: with_numbers(conn, scope, page.items)?,
        next_cursor: page.next_cursor,
    })
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict {
        code: "service_exists",
        message: format!("a service named '{name}' already exists"),
        details: serde_json::json!({ "field": "name" }),
    }
}

fn check_refs(conn: &mut Conn, input: &ServiceInput, except: Option<i64>) -> StoreResult<String> {
    let key = input.name.to_lowercase();
    let mut clash = services::table
        .filter(services::name_key.eq(&key))
        .into_boxed();
    if let Some(id) = except {
        clash = clash.filter(services::id.ne(id));
    }
    let n: i64 = clash.count().get_result(conn)?;
    if n > 0 {
        return Err(name_taken(&input.name));
    }
    if let Some(id) = input.platform_id {
        let exists: i64 = platforms::table
            .filter(platforms::id.eq(id))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Err(StoreError::invalid(
                "unknown_platform",
                "platform_id",
                format!("platform {id} does not exist"),
            ));
        }
    }
    Ok(key)
}

/// Adds a service.
pub fn create(conn: &mut Conn, permit: &Permit, input: ServiceInput) -> StoreResult<Service> {
    let input = input.validate()?;
    let key = check_refs(conn, &input, None)?;
    let now = crate::now();
    diesel::insert_into(services::table)
        .values((
            services::name.eq(&input.name),
            services::name_key.eq(&key),
            services::kind.eq(&input.kind),
            services::platform_id.eq(input.platform_id),
            services::external_id.eq(&input.external_id),
            services::description.eq(&input.description),
            services::created_at.eq(now),
            services::updated_at.eq(now),
        ))
        .execute(conn)?;
    let created: ServiceRow = services::table
        .filter(services::name_key.eq(&key))
        .select(ServiceRow::as_select())
        .first(conn)?;
    let created = Service::from_row(created, Vec::new())?;
    let id = created.id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "service.create",
            entity_kind: "service",
            entity_id: &id,
            before: None,
            after: audit::snapshot(&created),
        },
    )?;
    Ok(created)
}

fn check_version(current: i64, if_match: Option<i64>) -> StoreResult<()> {
    match if_match {
        Some(v) if v != current => Err(StoreError::Stale {
            expected: v,
            current,
        }),
        _ => Ok(()),
    }
}

/// Replaces a service's fields (a PATCH merges into the current ones before calling this).
pub fn update(
    conn: &mut Conn,
    permit: &Permit,
    id: i64,
    input: ServiceInput,
    if_match: Option<i64>,
) -> StoreResult<Service> {
    let before = get(conn, permit.scope(), id)?;
    check_version(before.version, if_match)?;
    let input = input.validate()?;
    let key = check_refs(conn, &input, Some(id))?;
    let n = diesel::update(
        services::table
            .filter(services::id.eq(id))
            .filter(services::version.eq(before.version)),
    )
    .set((
        services::name.eq(&input.name),
        services::name_key.eq(&key),
        services::kind.eq(&input.kind),
        services::platform_id.eq(input.platform_id),
        services::external_id.eq(&input.external_id),
        services::description.eq(&input.description),
        services::version.eq(before.version + 1),
        services::updated_at.eq(crate::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        let current = row(conn, id)?;
        return Err(StoreError::Stale {
            expected: before.version,
            current: current.version,
        });
    }
    let after = get(conn, permit.scope(), id)?;
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "service.update",
            entity_kind: "service",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: audit::snapshot(&after),
        },
    )?;
    Ok(after)
}

/// Removes a service that no number is assigned to (409 `service_in_use` otherwise).
pub fn delete(conn: &mut Conn, permit: &Permit, id: i64, if_match: Option<i64>) -> StoreResult<()> {
    let before = get(conn, permit.scope(), id)?;
    check_version(before.version, if_match)?;
    crate::dialect::lock_for_delete(conn, crate::dialect::RefTable::Services, id)?;
    // Counted without scope: a number the caller cannot see still holds the service.
    let in_use: i64 = numbers::table
        .filter(numbers::assigned_kind.eq(TargetKind::Service.as_str()))
        .filter(numbers::assigned_id.eq(id.to_string()))
        .count()
        .get_result(conn)?;
    if in_use > 0 {
        return Err(StoreError::Conflict {
            code: "service_in_use",
            message: format!(
                "service '{}' has {in_use} numbers assigned; unassign or reassign them first",
                before.name
            ),
            details: serde_json::json!({ "numbers": in_use }),
        });
    }
    let n = diesel::delete(
        services::table
            .filter(services::id.eq(id))
            .filter(services::version.eq(before.version)),
    )
    .execute(conn)?;
    if n == 0 {
        let current = row(conn, id)?;
        return Err(StoreError::Stale {
            expected: before.version,
            current: current.version,
        });
    }
    let eid = id.to_string();
    audit::record(
        conn,
        permit,
        Change {
            action: "service.delete",
            entity_kind: "service",
            entity_id: &eid,
            before: audit::snapshot(&before),
            after: None,
        },
    )
}
