//! Telestate's persistence layer: diesel over SQLite and PostgreSQL.
//!
//! Store functions are free functions per aggregate, synchronous, connection first
//! (`numbers::create(conn, &permit, …)`). Every mutating function takes a
//! [`domain::Permit`] and writes its audit record on the same connection, inside the
//! caller's [`Db::write`] transaction, so a change and its audit record commit together.
//! Backend-specific SQL lives in `dialect` and nowhere else.

pub mod admins;
pub(crate) mod assigned;
pub mod audit;
pub mod backdate;
mod db;
pub(crate) mod dialect;
pub mod directory;
pub mod drift;
mod error;
pub mod export;
pub(crate) mod fragments;
pub mod idempotency;
pub mod imports;
pub mod jobs;
pub mod lifecycle;
pub mod locations;
pub mod numbers;
pub mod page;
pub mod platforms;
pub mod ranges;
pub(crate) mod rows;
pub mod rules;
pub mod scheduler;
pub(crate) mod schema;
pub(crate) mod scope;
pub(crate) mod search;
pub mod secrets;
pub mod services;
pub mod settings;
pub mod stats;
pub mod sync;
pub(crate) mod tags;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub(crate) mod utc;

pub use db::{AnyConnection, Backend, Conn, Db};
pub use dialect::ChangeListener;
pub use error::{PlanRefusal, StoreError, StoreResult};

/// The clock every store write uses: UTC, truncated to microseconds so both backends
/// store and return the same instant.
pub fn now() -> chrono::NaiveDateTime {
    // Only `telestate demo`'s seeding sets this thread's clock (see `backdate`).
    if let Some(at) = backdate::current() {
        return at;
    }
    let n = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(n, chrono::Duration::microseconds(1)).unwrap_or(n)
}
