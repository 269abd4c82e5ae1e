//! The audit trail: one append-only record per change, written in the change's transaction.
//!
//! The tables' triggers refuse UPDATE and DELETE, so not even a bug here can rewrite history.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::{Actor, ActorKind, Permit, Role, Source};
use serde::Serialize;
use serde_json::Value;

use crate::{
    Conn, StoreResult,
    db::MultiBackend,
    page::{self, Page},
    schema::audit_log,
};

/// One recorded change.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    /// Increasing id; the trail's order.
    pub id: i64,
    /// When the change committed (UTC).
    pub at: NaiveDateTime,
    /// Admin, token or system (a failed login by an unknown name is `system`).
    #[diesel(deserialize_as = String)]
    pub actor_kind: ActorKind,
    /// The actor's id.
    pub actor_id: String,
    /// The actor's name when it acted.
    pub actor_name: String,
    /// What happened, `entity.verb` (e.g. `number.create`).
    pub action: String,
    /// The kind of thing changed.
    pub entity_kind: String,
    /// Its id (E.164 for numbers).
    pub entity_id: String,
    /// State before, as JSON text.
    pub before_json: Option<String>,
    /// State after, as JSON text.
    pub after_json: Option<String>,
    /// The HTTP request that carried the change.
    pub request_id: Option<String>,
    /// The channel the change came through.
    #[diesel(deserialize_as = String)]
    pub source: Source,
    /// Groups the records of one import, bulk action or rule run.
    pub change_set_id: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAudit<'a> {
    at: NaiveDateTime,
    actor_kind: &'a str,
    actor_id: &'a str,
    actor_name: &'a str,
    action: &'a str,
    entity_kind: &'a str,
    entity_id: &'a str,
    before_json: Option<String>,
    after_json: Option<String>,
    request_id: Option<&'a str>,
    source: &'a str,
    change_set_id: Option<&'a str>,
}

/// What changed, for [`record`].
pub struct Change<'a> {
    /// `entity.verb`.
    pub action: &'a str,
    /// The kind of thing changed.
    pub entity_kind: &'a str,
    /// Its id.
    pub entity_id: &'a str,
    /// State before (None for a creation).
    pub before: Option<Value>,
    /// State after (None for a deletion).
    pub after: Option<Value>,
}

/// Serialises a value for a record's before/after.
pub(crate) fn snapshot<T: Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

/// Writes the record of a change made under `permit`.
pub fn record(conn: &mut Conn, permit: &Permit, change: Change<'_>) -> StoreResult<()> {
    record_as(
        conn,
        permit.actor(),
        permit.source(),
        permit.request_id(),
        permit.change_set_id(),
        change,
    )
}

/// Writes records of many changes made under `permit` in one statement per chunk.
pub(crate) fn record_many(
    conn: &mut Conn,
    permit: &Permit,
    changes: Vec<Change<'_>>,
) -> StoreResult<()> {
    record_many_text(
        conn,
        permit,
        changes
            .into_iter()
            .map(|c| TextChange {
                action: c.action,
                entity_kind: c.entity_kind,
                entity_id: c.entity_id,
                before: c.before.map(|v| v.to_string()),
                after: c.after.map(|v| v.to_string()),
            })
            .collect(),
    )
}

/// A change whose before and after are JSON text already: bulk writers (imports)
/// serialise straight to text instead of building a `Value` first.
pub(crate) struct TextChange<'a> {
    /// `entity.verb`.
    pub action: &'a str,
    /// The kind of thing changed.
    pub entity_kind: &'a str,
    /// Its id.
    pub entity_id: &'a str,
    /// State before, as JSON text.
    pub before: Option<String>,
    /// State after, as JSON text.
    pub after: Option<String>,
}

/// [`record_many`] for changes serialised already.
pub(crate) fn record_many_text(
    conn: &mut Conn,
    permit: &Permit,
    changes: Vec<TextChange<'_>>,
) -> StoreResult<()> {
    let at = crate::now();
    let actor = permit.actor();
    let rows: Vec<NewAudit> = changes
        .into_iter()
        .map(|c| NewAudit {
            at,
            actor_kind: actor.kind.as_str(),
            actor_id: &actor.id,
            actor_name: &actor.name,
            action: c.action,
            entity_kind: c.entity_kind,
            entity_id: c.entity_id,
            before_json: c.before,
            after_json: c.after,
            request_id: permit.request_id(),
            source: permit.source().as_str(),
            change_set_id: permit.change_set_id(),
        })
        .collect();
    // SQLite caps bound parameters per statement; 12 columns × 500 rows stays well below.
    for chunk in rows.chunks(500) {
        crate::dialect::insert_batch!(conn, audit_log::table, chunk);
    }
    Ok(())
}

/// Writes a record for an actor that holds no permit (a failed login, say).
pub(crate) fn record_as(
    conn: &mut Conn,
    actor: &Actor,
    source: Source,
    request_id: Option<&str>,
    change_set_id: Option<&str>,
    change: Change<'_>,
) -> StoreResult<()> {
    diesel::insert_into(audit_log::table)
        .values(NewAudit {
            at: crate::now(),
            actor_kind: actor.kind.as_str(),
            actor_id: &actor.id,
            actor_name: &actor.name,
            action: change.action,
            entity_kind: change.entity_kind,
            entity_id: change.entity_id,
            before_json: change.before.map(|v| v.to_string()),
            after_json: change.after.map(|v| v.to_string()),
            request_id,
            source: source.as_str(),
            change_set_id,
        })
        .execute(conn)?;
    Ok(())
}

/// Entity kinds whose records only owners may read, whatever another caller's role or
/// scope: accounts (usernames, roles, scopes, last logins), API tokens (names, secret
/// prefixes, roles), logins and platforms (their credentials).
pub const OWNER_ONLY_KINDS: &[&str] = &["admin", "api_token", "auth", "platform"];

/// True when records about `entity_kind` are for owners only (see [`OWNER_ONLY_KINDS`]).
pub fn owner_only(entity_kind: &str) -> bool {
    OWNER_ONLY_KINDS.contains(&entity_kind)
}

/// Restricts a query of records to what `permit` may read: owners read everything; other
/// roles never read [`OWNER_ONLY_KINDS`]; a scoped caller reads records about the numbers
/// in its scope only. Part of the query, so paging counts only readable records.
fn readable<'a, ST: 'a>(
    conn: &mut Conn,
    permit: &Permit,
    mut q: audit_log::BoxedQuery<'a, MultiBackend, ST>,
) -> StoreResult<audit_log::BoxedQuery<'a, MultiBackend, ST>> {
    if permit.role() == Role::Owner {
        return Ok(q);
    }
    q = q.filter(audit_log::entity_kind.ne_all(OWNER_ONLY_KINDS.to_vec()));
    if let Some(cond) = crate::scope::ScopeFilter::resolve(conn, permit.scope())?
        .exists_condition("e164", "audit_log.entity_id")
    {
        q = q
            .filter(audit_log::entity_kind.eq("number"))
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&cond));
    }
    Ok(q)
}

/// Which records to list; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entity kind (`number`, `range`, `location`, `admin`, `api_token`, `auth`).
    pub entity_kind: Option<String>,
    /// Entity id (with `entity_kind`, one object's history).
    pub entity_id: Option<String>,
    /// Actor id or name.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Exact source.
    pub source: Option<String>,
    /// At or after.
    pub since: Option<NaiveDateTime>,
    /// Before.
    pub until: Option<NaiveDateTime>,
}

/// Lists records newest first, as far as `permit` may read them: a scoped caller sees only
/// records about numbers in scope, and only owners see [`OWNER_ONLY_KINDS`].
pub fn list(
    conn: &mut Conn,
    permit: &Permit,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<AuditRow>> {
    let limit = page::limit(limit)?;
    let mut q = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(audit_log::id.lt(page::decode_id(c)?));
    }
    if let Some(v) = &filter.entity_kind {
        q = q.filter(audit_log::entity_kind.eq(v.clone()));
    }
    if let Some(v) = &filter.entity_id {
        q = q.filter(audit_log::entity_id.eq(v.clone()));
    }
    if let Some(v) = &filter.actor {
        q = q.filter(
            audit_log::actor_id
                .eq(v.clone())
                .or(audit_log::actor_name.eq(v.clone())),
        );
    }
    if let Some(v) = &filter.action {
        q = q.filter(audit_log::action.eq(v.clone()));
    }
    if let Some(v) = &filter.source {
        q = q.filter(audit_log::source.eq(v.clone()));
    }
    if let Some(v) = filter.since {
        q = q.filter(audit_log::at.ge(v));
    }
    if let Some(v) = filter.until {
        q = q.filter(audit_log::at.lt(v));
    }
    let q = readable(conn, permit, q)?;
    let rows = q.limit(limit + 1).load(conn)?;
    Ok(page::finish(rows, limit, |r| r.id.to_string()))
}

/// A number's history, newest first, including the record of the range that created it.
pub fn number_history(
    conn: &mut Conn,
    e164: &str,
    range_id: Option<i64>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<AuditRow>> {
    let limit = page::limit(limit)?;
    let mut q = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::id.desc())
        .into_boxed();
    let own = audit_log::entity_kind
        .eq("number")
        .and(audit_log::entity_id.eq(e164.to_string()));
    q = match range_id {
        Some(r) => q.filter(
            own.or(audit_log::entity_kind
                .eq("range")
                .and(audit_log::entity_id.eq(r.to_string()))),
        ),
        None => q.filter(own),
    };
    if let Some(c) = cursor {
        q = q.filter(audit_log::id.lt(page::decode_id(c)?));
    }
    let rows = q.limit(limit + 1).load(conn)?;
    Ok(page::finish(rows, limit, |r| r.id.to_string()))
}

/// Records with an id above `after_id`, oldest first, at most `limit`: what the event
/// stream sends next. Only committed records are visible, so nothing uncommitted is sent.
pub fn since(conn: &mut Conn, after_id: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
    Ok(audit_log::table
        .select(AuditRow::as_select())
        .filter(audit_log::id.gt(after_id))
        .order(audit_log::id.asc())
        .limit(limit)
        .load(conn)?)
}

/// The records among `ids` that exist (have committed), oldest first. On PostgreSQL ids
/// are taken before commit, so a lower id can commit after a higher one; the event hub
/// asks again for the ids it saw missing.
pub fn with_ids(conn: &mut Conn, ids: &[i64]) -> StoreResult<Vec<AuditRow>> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(500) {
        rows.extend(
            audit_log::table
                .select(AuditRow::as_select())
                .filter(audit_log::id.eq_any(chunk))
                .load::<AuditRow>(conn)?,
        );
    }
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// The newest record's id, 0 when there is none.
pub fn last_id(conn: &mut Conn) -> StoreResult<i64> {
    Ok(audit_log::table
        .select(diesel::dsl::max(audit_log::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// A fresh change-set id (`cs_` and 24 random hex digits) for an import, a bulk action or
/// a revert; every record of the group carries it.
pub fn new_change_set_id() -> String {
    let bytes: [u8; 12] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("cs_{hex}")
}

/// The records of one change set, newest first, as far as `permit` may read them (see
/// [`list`]); a change set with no readable record is not found.
pub fn change_set(
    conn: &mut Conn,
    permit: &Permit,
    id: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<AuditRow>> {
    let limit = page::limit(limit)?;
    let mut q = audit_log::table
        .select(AuditRow::as_select())
        .filter(audit_log::change_set_id.eq(id.to_string()))
        .order(audit_log::id.desc())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(audit_log::id.lt(page::decode_id(c)?));
    }
    let q = readable(conn, permit, q)?;
    let rows = q.limit(limit + 1).load(conn)?;
    if rows.is_empty() && cursor.is_none() {
        return Err(crate::StoreError::not_found("change set", id));
    }
    Ok(page::finish(rows, limit, |r| r.id.to_string()))
}

/// Every record of a change set, oldest first (for building its inverse).
pub(crate) fn change_set_all(conn: &mut Conn, id: &str) -> StoreResult<Vec<AuditRow>> {
    Ok(audit_log::table
        .select(AuditRow::as_select())
        .filter(audit_log::change_set_id.eq(id.to_string()))
        .order(audit_log::id.asc())
        .load(conn)?)
}
