//! Demo only: the seeded estate of `telestate demo` dated in the past.
//!
//! The demo's dashboard forecasts from `number.assign` audit records of the last 30 days,
//! and an estate seeded in one go would show every assignment on one day. So the demo's
//! seeding replays its history — creating sites and ranges, assigning, reserving,
//! unassigning — through the ordinary store functions while this thread's store clock
//! ([`crate::now`]) reads an instant in the past: every row and audit record those calls
//! write is the one the real code path writes, only dated then.
//!
//! What it is not: a way to change history. It writes new records only (the audit
//! tables' triggers still refuse every UPDATE and DELETE), it moves only the clock of the
//! calling thread for the length of one closure (other threads — the API, the worker —
//! keep the real time), it refuses instants in the future, and nothing but the demo's
//! seeding calls it: no API route, import or CLI command reaches it.

use std::cell::Cell;

use chrono::NaiveDateTime;

use crate::{StoreError, StoreResult};

thread_local! {
    static CLOCK: Cell<Option<NaiveDateTime>> = const { Cell::new(None) };
}

/// The instant this thread's store clock is set to, if [`as_of`] is running here.
pub(crate) fn current() -> Option<NaiveDateTime> {
    CLOCK.with(Cell::get)
}

/// Puts the clock back when the closure ends, also when it panics.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        CLOCK.with(|c| c.set(None));
    }
}

/// Runs `f` with this thread's store clock reading `at` (a past instant), so what `f`
/// writes through the store is dated `at`. For `telestate demo`'s seeding only (see the
/// module's notes). Refuses an instant in the future and a call inside another.
pub fn as_of<T>(at: NaiveDateTime, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    if current().is_some() {
        return Err(StoreError::Internal("backdate::as_of does not nest".into()));
    }
    if at > crate::now() {
        return Err(StoreError::Internal(format!(
            "backdate::as_of dates the past only, not {at}"
        )));
    }
    CLOCK.with(|c| c.set(Some(at)));
    let _restore = Restore;
    f()
}
