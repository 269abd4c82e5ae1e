//! Stored responses of POST actions sent with an `Idempotency-Key`.
//!
//! The record is written in the same transaction as the action, so either both exist or
//! neither: a retry after a crash re-runs the action, a retry after success replays it.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::{Conn, StoreError, StoreResult, schema::idempotency_keys as k};

/// How long keys are remembered.
pub(crate) const RETENTION_HOURS: i64 = 24;

/// A remembered response.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = k)]
pub struct Stored {
    /// Method of the first request.
    pub method: String,
    /// Path of the first request.
    pub path: String,
    /// SHA-256 of its body.
    pub body_hash: String,
    /// The status answered.
    pub status: i32,
    /// The JSON answered.
    pub response: String,
}

/// The response stored for this actor's key, if any and not expired.
pub fn lookup(conn: &mut Conn, actor: &str, key: &str) -> StoreResult<Option<Stored>> {
    let cutoff = crate::now() - Duration::hours(RETENTION_HOURS);
    Ok(k::table
        .filter(k::actor.eq(actor))
        .filter(k::key.eq(key))
        .filter(k::created_at.gt(cutoff))
        .select(Stored::as_select())
        .first(conn)
        .optional()?)
}

/// What to remember about a request and its answer.
pub struct Record<'a> {
    /// The caller (`admin:1`, `token:7`).
    pub actor: &'a str,
    /// The client's key.
    pub key: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Request path.
    pub path: &'a str,
    /// SHA-256 of the body.
    pub body_hash: &'a str,
    /// Status answered.
    pub status: i32,
    /// JSON answered.
    pub response: &'a str,
}

/// Remembers a response, in the action's transaction. A concurrent request with the same
/// key makes this fail with `idempotency_in_flight`, rolling back that request's action.
pub fn save(conn: &mut Conn, r: Record<'_>) -> StoreResult<()> {
    let cutoff = crate::now() - Duration::hours(RETENTION_HOURS);
    // An expired record with the same key makes room for the new one.
    diesel::delete(
        k::table
            .filter(k::actor.eq(r.actor))
            .filter(k::key.eq(r.key))
            .filter(k::created_at.le(cutoff)),
    )
    .execute(conn)?;
    diesel::insert_into(k::table)
        .values((
            k::actor.eq(r.actor),
            k::key.eq(r.key),
            k::method.eq(r.method),
            k::path.eq(r.path),
            k::body_hash.eq(r.body_hash),
            k::status.eq(r.status),
            k::response.eq(r.response),
            k::created_at.eq(crate::now()),
        ))
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict {
                code: "already_exists",
                ..
            } => StoreError::conflict(
                "idempotency_in_flight",
                "a request with this Idempotency-Key was processed concurrently",
            ),
            other => other,
        })?;
    Ok(())
}

/// Forgets keys older than the retention period; returns how many.
pub(crate) fn purge(conn: &mut Conn, now: NaiveDateTime) -> StoreResult<usize> {
    Ok(
        diesel::delete(k::table.filter(k::created_at.le(now - Duration::hours(RETENTION_HOURS))))
            .execute(conn)?,
    )
}
