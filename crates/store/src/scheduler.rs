//! The scheduled job: releases expired reservations and ended quarantines, and forgets old
//! idempotency keys and old rule runs. Any number of instances may call [`tick`] on a timer; a lease in the
//! database lets exactly one of them work per interval.

use chrono::Duration;

use crate::{Db, StoreResult, dialect, idempotency, lifecycle};

/// The lease's name.
pub(crate) const LEASE: &str = "scheduler";
/// Numbers released per transaction, so a backlog never holds one long write.
const BATCH: i64 = 500;

/// What one tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Another instance holds the lease for this interval.
    Skipped,
    /// This instance ran; `released` numbers went back to available.
    Ran { released: usize },
}

/// Takes the lease for `interval` (if free) and, holding it, does the work.
pub fn tick(db: &Db, holder: &str, interval: std::time::Duration) -> StoreResult<Tick> {
    let now = crate::now();
    // A little short of the interval, so the holder's next tick finds its own lease renewable.
    let until = now + Duration::milliseconds(interval.as_millis() as i64 * 9 / 10);
    if !db.write(|c| dialect::take_lease(c, LEASE, holder, now, until))? {
        return Ok(Tick::Skipped);
    }
    let mut released = 0;
    loop {
        let n = db.write(|c| lifecycle::release_expired(c, BATCH))?;
        released += n;
        if (n as i64) < BATCH {
            break;
        }
    }
    db.write(|c| idempotency::purge(c, crate::now()))?;
    while db.write(|c| crate::rules::runs::purge(c, crate::now(), BATCH))? as i64 == BATCH {}
    Ok(Tick::Ran { released })
}
