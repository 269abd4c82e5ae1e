//! Stored responses of POST actions sent with an `Idempotency-Key`.
//!
//! A request first *claims* its key in a short transaction of its own: a row with status
//! [`PENDING`] and a random claim token in `response`, unique by (actor, key). Only the
//! claimer runs the action; in the action's transaction [`complete`] turns the claim into
//! the answer, and only while the claim is still its own, so either the action and its
//! answer both commit or neither does. A failed action [`release`]s the claim, so a retry
//! runs it again. Requests that find the key claimed wait for the answer
//! ([`peek`]); a claim older than the caller's lease (its holder crashed) may be taken
//! over, and the old holder's completion then fails and rolls its action back.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::{Conn, StoreError, StoreResult, schema::idempotency_keys as k};

/// How long keys are remembered.
pub(crate) const RETENTION_HOURS: i64 = 24;

/// The `status` of a claimed key whose action has not answered yet (no HTTP status is 0).
pub const PENDING: i32 = 0;

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

/// The state of an actor's key.
#[derive(Debug, Clone)]
pub enum Slot {
    /// Nobody holds it (never used, expired, or its claim is older than the lease).
    Free,
    /// A request claimed it and is still running; the claim's method, path and body hash
    /// (its `status` is [`PENDING`] and its `response` the claim token).
    Pending(Stored),
    /// The first request's answer.
    Answered(Stored),
}

/// Reads the state of this actor's key. A claim older than `lease` counts as free.
pub fn peek(conn: &mut Conn, actor: &str, key: &str, lease: Duration) -> StoreResult<Slot> {
    let now = crate::now();
    let row: Option<(Stored, NaiveDateTime)> = k::table
        .filter(k::actor.eq(actor))
        .filter(k::key.eq(key))
        .select((Stored::as_select(), k::created_at))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((s, at)) if s.status == PENDING && at > now - lease => Slot::Pending(s),
        Some((s, at)) if s.status != PENDING && at > now - Duration::hours(RETENTION_HOURS) => {
            Slot::Answered(s)
        }
        _ => Slot::Free,
    })
}

/// What [`claim`] found.
#[derive(Debug, Clone)]
pub enum Claimed {
    /// The key is this request's now; run the action and [`complete`] with this token.
    Mine(String),
    /// Another request holds or answered it.
    Taken(Slot),
}

/// Claims this actor's key for a request, in a transaction of its own (`conn` runs one).
/// Makes room first for an expired answer or a claim older than `lease`. A concurrent
/// claim of the same key fails with `idempotency_in_flight` (the unique key decides).
pub fn claim(conn: &mut Conn, r: Record<'_>, lease: Duration) -> StoreResult<Claimed> {
    match peek(conn, r.actor, r.key, lease)? {
        Slot::Free => {}
        taken => return Ok(Claimed::Taken(taken)),
    }
    let now = crate::now();
    diesel::delete(
        k::table
            .filter(k::actor.eq(r.actor))
            .filter(k::key.eq(r.key))
            .filter(
                k::created_at
                    .le(now - Duration::hours(RETENTION_HOURS))
                    .or(k::status.eq(PENDING).and(k::created_at.le(now - lease))),
            ),
    )
    .execute(conn)?;
    let bytes: [u8; 16] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    save(
        conn,
        Record {
            status: PENDING,
            response: &token,
            ..r
        },
    )?;
    Ok(Claimed::Mine(token))
}

/// Turns this request's claim into its answer, in the action's transaction. Fails with
/// `idempotency_in_flight` (rolling the action back) when the claim is no longer its own.
pub fn complete(
    conn: &mut Conn,
    actor: &str,
    key: &str,
    token: &str,
    status: i32,
    response: &str,
) -> StoreResult<()> {
    let n = diesel::update(
        k::table
            .filter(k::actor.eq(actor))
            .filter(k::key.eq(key))
            .filter(k::status.eq(PENDING))
            .filter(k::response.eq(token)),
    )
    .set((
        k::status.eq(status),
        k::response.eq(response),
        k::created_at.eq(crate::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::conflict(
            "idempotency_in_flight",
            "the claim on this Idempotency-Key lapsed and another request took it over",
        ));
    }
    Ok(())
}

/// Gives up this request's claim after its action failed, so a retry runs it again.
pub fn release(conn: &mut Conn, actor: &str, key: &str, token: &str) -> StoreResult<()> {
    diesel::delete(
        k::table
            .filter(k::actor.eq(actor))
            .filter(k::key.eq(key))
            .filter(k::status.eq(PENDING))
            .filter(k::response.eq(token)),
    )
    .execute(conn)?;
    Ok(())
}

/// What to remember about a request and its answer.
#[derive(Clone, Copy)]
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
