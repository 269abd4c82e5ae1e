//! Status planning for bulk changes: which transitions take a number from the status it
//! has to the one a CSV line (or a revert) asks for, or why none can.
//!
//! [`plan`] only chooses the steps; whether each step may start from the number's status
//! is [`lifecycle::decide`]'s answer, asked with the same overrides the store will ask
//! for when it applies the step. A new refusal or override belongs in `decide`, never
//! here: a plan that allowed what the apply refuses would fail only at apply time.
//!
//! What the rules are (SPEC §2): available → `reserve`, `assign`, `quarantine`;
//! reserved/quarantined → `release` (an early release is the admin override); assigned →
//! `unassign` (to available: zero days of quarantine, the override; to quarantined: the
//! default period, or the whole days until the wanted end), to another assignee →
//! `reassign`; reserved/quarantined → assigned is `assign` with the reservation/quarantine
//! override. New reservation details, or a new quarantine end, are `release` followed by
//! `reserve`/`quarantine`. Any other move is refused by `decide`.

use std::fmt;

use chrono::{NaiveDateTime, Timelike};

use crate::{
    csv_import::Cell,
    lifecycle::{self, Overrides, Refusal, Transition},
    status::NumberStatus::{self, *},
    vocab::Target,
};

/// A number's current reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Why it is held.
    pub reason: String,
    /// For whom.
    pub reserved_for: Option<String>,
    /// When it ends; `None` for never.
    pub until: Option<NaiveDateTime>,
}

/// What a number is now, as far as its status is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    /// Its status.
    pub status: NumberStatus,
    /// Its reservation, if it has one.
    pub reservation: Option<Reservation>,
    /// When its quarantine ends, if it has one.
    pub quarantine_until: Option<NaiveDateTime>,
    /// Its assignee, if it has one.
    pub assignee: Option<Target>,
}

impl Default for Current {
    /// A number that does not exist yet: it starts available, holding nothing.
    fn default() -> Current {
        Current {
            status: Available,
            reservation: None,
            quarantine_until: None,
            assignee: None,
        }
    }
}

/// What a line wants of a number's status; `None` leaves a part as it is, and the
/// reservation and quarantine cells tell an empty cell (`Some(None)`, clear it) from a
/// missing column (`None`, keep it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The status it should end in; `None` keeps the current one.
    pub status: Option<NumberStatus>,
    /// The assignee, for status assigned, when it is not the current one; `None` keeps
    /// the current one.
    pub target: Option<Target>,
    /// The `assigned_to` cell: `None` when the file has no such column, `Some(false)`
    /// when the cell is empty, `Some(true)` when it names someone (the current assignee
    /// or [`Wanted::target`]).
    pub assigned_to: Option<bool>,
    /// Why it is reserved, for status reserved.
    pub reserved_reason: Cell<String>,
    /// For whom it is reserved, for status reserved.
    pub reserved_for: Cell<String>,
    /// When the reservation ends, for status reserved.
    pub reserved_until: Cell<NaiveDateTime>,
    /// When the quarantine ends, for status quarantined.
    pub quarantined_until: Cell<NaiveDateTime>,
    /// Why it is quarantined; `None` for `import`.
    pub quarantine_reason: Option<String>,
}

/// One planned transition, in the order it is to be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// available (or, with the override, reserved / quarantined) → assigned.
    Assign {
        /// To whom.
        target: Target,
        /// Assigning a reserved number.
        override_reservation: bool,
        /// Assigning a quarantined number before its quarantine ends.
        override_quarantine: bool,
    },
    /// assigned → assigned to someone else.
    Reassign {
        /// The assignee now.
        previous: Target,
        /// The assignee after.
        target: Target,
    },
    /// assigned → quarantined, or available with `quarantine_days` 0.
    Unassign {
        /// The assignee now.
        previous: Target,
        /// Days of quarantine; `None` for the configured period.
        quarantine_days: Option<i64>,
    },
    /// available → reserved.
    Reserve {
        /// Why.
        reason: String,
        /// For whom.
        reserved_for: Option<String>,
        /// Until when; `None` for the configured default.
        until: Option<NaiveDateTime>,
    },
    /// reserved / quarantined → available.
    Release,
    /// available → quarantined.
    Quarantine {
        /// Why.
        reason: String,
        /// Until when; `None` for the configured period.
        until: Option<NaiveDateTime>,
    },
}

/// Why a line's status cannot be planned; [`PlanError::column`] names the cell to fix and
/// the `Display` form is the sentence the plan shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The status table refuses a step from the number's status.
    Refused {
        /// The step.
        transition: Transition,
        /// The status it would start from.
        from: NumberStatus,
        /// Why not.
        refusal: Refusal,
        /// When the number's quarantine ends, to tell when it may be released.
        quarantine_until: Option<NaiveDateTime>,
        /// The cell that asked for the step: `status`, or without a status column the
        /// assignment, reservation or quarantine cell that decided it.
        column: &'static str,
    },
    /// A date column names a moment that is not after `now`.
    NotInFuture {
        /// `reserved_until` or `quarantined_until`.
        column: &'static str,
    },
    /// Status reserved without a reason.
    NoReservationReason,
    /// Status assigned without an assignee.
    NoAssignee,
    /// A cell that belongs to another status than the line's: it would not be applied.
    NotApplied {
        /// The cell.
        column: &'static str,
        /// The status the cell belongs to.
        belongs_to: NumberStatus,
        /// The status the line asks for.
        status: NumberStatus,
    },
    /// Without a status column, two cells ask for different statuses.
    Ambiguous {
        /// The second cell.
        column: &'static str,
        /// The first cell.
        other: &'static str,
    },
}

impl PlanError {
    /// The column the error is in.
    pub fn column(&self) -> &'static str {
        match self {
            PlanError::Refused { column, .. } => column,
            PlanError::NotInFuture { column } => column,
            PlanError::NoReservationReason => "reserved_reason",
            PlanError::NoAssignee => "assigned_to",
            PlanError::NotApplied { column, .. } | PlanError::Ambiguous { column, .. } => column,
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Refused {
                transition,
                from,
                refusal,
                quarantine_until,
                ..
            } => refused(f, *transition, *from, *refusal, *quarantine_until),
            PlanError::NotInFuture { .. } => f.write_str("must be in the future"),
            PlanError::NoReservationReason => f.write_str("is required to reserve a number"),
            PlanError::NoAssignee => f.write_str("is required for status assigned"),
            PlanError::NotApplied {
                belongs_to, status, ..
            } => write!(
                f,
                "belongs to status {belongs_to} but this line's status is {status}, so it \
                 would not be applied; empty the cell or set status {belongs_to}"
            ),
            PlanError::Ambiguous { other, .. } => write!(
                f,
                "and {other} ask for different statuses; add a status column to say which"
            ),
        }
    }
}

/// The sentence for a refusal of the status table: the step, the status, the code, and
/// what would make it possible.
fn refused(
    f: &mut fmt::Formatter<'_>,
    t: Transition,
    from: NumberStatus,
    r: Refusal,
    quarantine_until: Option<NaiveDateTime>,
) -> fmt::Result {
    let verb = t.verb();
    let why = match r {
        Refusal::Reserved => "it is reserved; release it first (status available)".to_string(),
        Refusal::Quarantined => format!(
            "it is quarantined{}; release it first (status available)",
            quarantine_until
                .map(|u| format!(" until {}", u.and_utc().to_rfc3339()))
                .unwrap_or_default()
        ),
        Refusal::Assigned => {
            "it is assigned; unassign it first (status available or quarantined)".into()
        }
        Refusal::NotAssigned => "it is not assigned".into(),
        Refusal::NotAvailable => format!("only an available number can be {verb}d"),
        Refusal::NotHeld => "only a reserved or quarantined number can be released".into(),
        Refusal::OverrideForbidden => {
            "overriding a reservation or quarantine needs the admin role".into()
        }
    };
    write!(
        f,
        "cannot {verb} a {} number ({}): {why}",
        from.as_str(),
        r.code()
    )
}

/// The transitions that take `current` to the status `wanted` asks for (none when it is
/// there already), or the first reason they cannot. `may_override` says whether the
/// caller's role holds the override permission; `now` judges dates and quarantine ends.
pub fn plan(
    current: &Current,
    wanted: &Wanted,
    may_override: bool,
    now: NaiveDateTime,
) -> Result<Vec<Step>, PlanError> {
    let (status, column) = wanted_status(current, wanted)?;
    check_cells(status, wanted)?;
    let planner = Planner {
        current,
        wanted,
        may_override,
        now,
        quarantine_over: current.quarantine_until.is_some_and(|u| u <= now),
        column,
    };
    match status {
        Available => planner.to_available(),
        Reserved => planner.to_reserved(),
        Assigned => planner.to_assigned(),
        Quarantined => planner.to_quarantined(),
    }
}

/// The status a line asks for: its status cell or, without one, what its assignment,
/// reservation and quarantine cells say (SPEC §4: no cell is silently ignored). A filled
/// `assigned_to` assigns (or reassigns), a filled reservation cell reserves, a filled
/// `quarantined_until` quarantines; an emptied `assigned_to` unassigns an assigned
/// number, an emptied `reserved_reason` or `quarantined_until` releases a reserved or
/// quarantined one; cells that agree with the number change nothing.
///
/// Also returns the cell that decided it, so a refusal names the cell the user wrote.
fn wanted_status(current: &Current, w: &Wanted) -> Result<(NumberStatus, &'static str), PlanError> {
    if let Some(s) = w.status {
        return Ok((s, "status"));
    }
    let mut implied: Vec<(NumberStatus, &'static str)> = Vec::new();
    if w.assigned_to == Some(true) {
        implied.push((Assigned, "assigned_to"));
    }
    if let Some(column) = filled_reservation_cell(w) {
        implied.push((Reserved, column));
    }
    if matches!(w.quarantined_until, Some(Some(_))) {
        implied.push((Quarantined, "quarantined_until"));
    }
    match implied.as_slice() {
        [] => {}
        [(s, column)] => return Ok((*s, column)),
        [(_, other), (_, column), ..] => {
            return Err(PlanError::Ambiguous { column, other });
        }
    }
    Ok(match current.status {
        Assigned if w.assigned_to == Some(false) => (Quarantined, "assigned_to"),
        Reserved if matches!(w.reserved_reason, Some(None)) => (Available, "reserved_reason"),
        Quarantined if matches!(w.quarantined_until, Some(None)) => {
            (Available, "quarantined_until")
        }
        s => (s, "status"),
    })
}

/// The first filled reservation cell, if any.
fn filled_reservation_cell(w: &Wanted) -> Option<&'static str> {
    if matches!(w.reserved_reason, Some(Some(_))) {
        Some("reserved_reason")
    } else if matches!(w.reserved_for, Some(Some(_))) {
        Some("reserved_for")
    } else if matches!(w.reserved_until, Some(Some(_))) {
        Some("reserved_until")
    } else {
        None
    }
}

/// Refuses a filled cell that belongs to another status than `status`: the plan would
/// drop it without a word.
fn check_cells(status: NumberStatus, w: &Wanted) -> Result<(), PlanError> {
    let misplaced = |column, belongs_to| PlanError::NotApplied {
        column,
        belongs_to,
        status,
    };
    if status != Assigned && w.assigned_to == Some(true) {
        return Err(misplaced("assigned_to", Assigned));
    }
    if status == Assigned && w.assigned_to == Some(false) {
        return Err(PlanError::NoAssignee);
    }
    if status != Reserved
        && let Some(column) = filled_reservation_cell(w)
    {
        return Err(misplaced(column, Reserved));
    }
    if status != Quarantined && matches!(w.quarantined_until, Some(Some(_))) {
        return Err(misplaced("quarantined_until", Quarantined));
    }
    Ok(())
}

/// One number's planning: its inputs, and the checks every target status shares.
struct Planner<'a> {
    current: &'a Current,
    wanted: &'a Wanted,
    may_override: bool,
    now: NaiveDateTime,
    /// The quarantine has ended (the scheduler has not released it yet): no override needed.
    quarantine_over: bool,
    /// The cell that asked for the status (see [`PlanError::Refused`]).
    column: &'static str,
}

/// The overrides asked for: the reservation one, the quarantine one.
const NO_OVERRIDE: (bool, bool) = (false, false);
const RESERVATION: (bool, bool) = (true, false);
const QUARANTINE: (bool, bool) = (false, true);

impl Planner<'_> {
    fn from(&self) -> NumberStatus {
        self.current.status
    }

    /// Asks the status table whether `t` may start from the current status.
    fn check(
        &self,
        t: Transition,
        (reservation, quarantine): (bool, bool),
    ) -> Result<(), PlanError> {
        let o = Overrides {
            reservation,
            quarantine,
            permitted: self.may_override,
            // A file that names another assignee for an assigned number asks for the
            // move explicitly; the plan shows it as a reassign.
            reassign: true,
        };
        lifecycle::decide(t, self.from(), o, self.quarantine_over).map_err(|refusal| {
            PlanError::Refused {
                transition: t,
                from: self.from(),
                refusal,
                quarantine_until: self.current.quarantine_until,
                column: self.column,
            }
        })
    }

    /// A wanted end must lie after `now`.
    fn future(&self, column: &'static str, at: Option<NaiveDateTime>) -> Result<(), PlanError> {
        if at.is_some_and(|t| t <= self.now) {
            Err(PlanError::NotInFuture { column })
        } else {
            Ok(())
        }
    }

    fn previous(&self) -> Option<Target> {
        self.current.assignee.clone()
    }

    fn to_available(&self) -> Result<Vec<Step>, PlanError> {
        match self.from() {
            Available => Ok(Vec::new()),
            Reserved => {
                self.check(Transition::Release, NO_OVERRIDE)?;
                Ok(vec![Step::Release])
            }
            Quarantined => {
                self.check(Transition::Release, QUARANTINE)?;
                Ok(vec![Step::Release])
            }
            Assigned => {
                // Straight to available is unassigning with no quarantine: the override.
                self.check(Transition::Unassign, QUARANTINE)?;
                Ok(self
                    .previous()
                    .map(|previous| Step::Unassign {
                        previous,
                        quarantine_days: Some(0),
                    })
                    .into_iter()
                    .collect())
            }
        }
    }

    fn to_reserved(&self) -> Result<Vec<Step>, PlanError> {
        let w = self.wanted;
        let res = self
            .current
            .reservation
            .as_ref()
            .filter(|_| self.from() == Reserved);
        let reason = keep(&w.reserved_reason, res.map(|r| &r.reason));
        let reserved_for = keep(&w.reserved_for, res.and_then(|r| r.reserved_for.as_ref()));
        let until = match w.reserved_until {
            None => res.and_then(|r| r.until),
            Some(v) => v,
        };
        let Some(reason) = reason.filter(|r| !r.trim().is_empty()) else {
            return Err(PlanError::NoReservationReason);
        };
        match self.from() {
            Available => {
                self.future("reserved_until", until)?;
                self.check(Transition::Reserve, NO_OVERRIDE)?;
                Ok(vec![Step::Reserve {
                    reason,
                    reserved_for,
                    until,
                }])
            }
            Reserved => {
                let unchanged = res.is_some_and(|r| {
                    r.reason == reason
                        && r.reserved_for == reserved_for
                        && same_instant(r.until, until)
                });
                if unchanged {
                    return Ok(Vec::new());
                }
                self.future("reserved_until", until)?;
                self.check(Transition::Release, NO_OVERRIDE)?;
                Ok(vec![
                    Step::Release,
                    Step::Reserve {
                        reason,
                        reserved_for,
                        until,
                    },
                ])
            }
            Assigned | Quarantined => {
                self.check(Transition::Reserve, NO_OVERRIDE)?;
                Ok(Vec::new())
            }
        }
    }

    fn to_assigned(&self) -> Result<Vec<Step>, PlanError> {
        let from = self.from();
        let previous = self.previous();
        let target = self
            .wanted
            .target
            .clone()
            .or_else(|| previous.clone().filter(|_| from == Assigned))
            .ok_or(PlanError::NoAssignee)?;
        let assign = |override_reservation, override_quarantine| Step::Assign {
            target: target.clone(),
            override_reservation,
            override_quarantine,
        };
        match from {
            Available => Ok(vec![assign(false, false)]),
            Reserved => {
                self.check(Transition::Assign, RESERVATION)?;
                Ok(vec![assign(true, false)])
            }
            Quarantined => {
                // An ended quarantine needs no override; a running one does.
                let running = !self.quarantine_over;
                self.check(Transition::Assign, (false, running))?;
                Ok(vec![assign(false, running)])
            }
            Assigned => Ok(previous
                .filter(|p| p.kind != target.kind || p.id != target.id)
                .map(|previous| Step::Reassign {
                    previous,
                    target: target.clone(),
                })
                .into_iter()
                .collect()),
        }
    }

    fn to_quarantined(&self) -> Result<Vec<Step>, PlanError> {
        let w = self.wanted;
        let from = self.from();
        let now_until = self
            .current
            .quarantine_until
            .filter(|_| from == Quarantined);
        let until = match w.quarantined_until {
            None => now_until,
            Some(v) => v,
        };
        let reason = w
            .quarantine_reason
            .clone()
            .unwrap_or_else(|| "import".to_string());
        match from {
            Available => {
                self.future("quarantined_until", until)?;
                self.check(Transition::Quarantine, NO_OVERRIDE)?;
                Ok(vec![Step::Quarantine { reason, until }])
            }
            Assigned => {
                self.future("quarantined_until", until)?;
                self.check(Transition::Unassign, NO_OVERRIDE)?;
                let quarantine_days = until.map(|u| whole_days(u, self.now));
                Ok(self
                    .previous()
                    .map(|previous| Step::Unassign {
                        previous,
                        quarantine_days,
                    })
                    .into_iter()
                    .collect())
            }
            Quarantined => {
                let changed = matches!(w.quarantined_until, Some(Some(u)) if !same_instant(now_until, Some(u)));
                if !changed {
                    return Ok(Vec::new());
                }
                self.future("quarantined_until", until)?;
                self.check(Transition::Release, QUARANTINE)?;
                Ok(vec![Step::Release, Step::Quarantine { reason, until }])
            }
            Reserved => {
                self.check(Transition::Quarantine, NO_OVERRIDE)?;
                Ok(Vec::new())
            }
        }
    }
}

/// A cell's value, or the current one when the column is absent.
fn keep(cell: &Cell<String>, now_value: Option<&String>) -> Option<String> {
    match cell {
        None => now_value.cloned(),
        Some(v) => v.clone(),
    }
}

/// Unassigning quarantines for whole days from now: the days until `until`, rounded up,
/// at least one and at most ten years.
fn whole_days(until: NaiveDateTime, now: NaiveDateTime) -> i64 {
    let secs = (until - now).num_seconds().max(1);
    ((secs + 86_399) / 86_400).clamp(1, 3650)
}

/// Instants are compared to the second: a spreadsheet may round what the export wrote.
fn same_instant(a: Option<NaiveDateTime>, b: Option<NaiveDateTime>) -> bool {
    let s = |t: Option<NaiveDateTime>| t.and_then(|t| t.with_nanosecond(0));
    s(a) == s(b)
}

#[cfg(test)]
mod tests;
