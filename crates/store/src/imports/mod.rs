//! Bulk change as plan → apply: CSV imports and change-set reverts.
//!
//! [`plan_csv`] reads a file (see [`domain::csv_import`]), compares every line with the
//! number it names and stores a plan: per line the changes (create, field updates,
//! transitions) and the errors. Nothing else changes. [`apply`] then runs a plan by id in
//! the caller's one transaction — every row through the store's audited writes, all under
//! one change-set id — or refuses it (409) when it has errors, expired, was applied, or
//! when any number in it changed since it was planned. [`revert`] builds the inverse of a
//! change set as a plan of the same kind, applied the same way.
//!
//! How a line's cells become changes (SPEC §2 decides what is allowed):
//! - a column absent from the file leaves that field alone; an empty cell clears it;
//!   `country` and `range` are derived, so they are only checked (a different value is an
//!   error, never a silent change);
//! - `status` is the state the number should end in; an empty cell keeps the current one.
//!   The plan lists the transition that gets it there: available → `reserve`, `assign`,
//!   `quarantine`; reserved/quarantined → `release` (an early release is the admin
//!   override); assigned → `unassign` (to available: `quarantine_days` 0, the override;
//!   to quarantined: the default period, or the days until `quarantined_until`), to
//!   another assignee → `reassign`; reserved/quarantined → assigned is `assign` with the
//!   reservation/quarantine override (imports need the admin role, which holds it).
//!   Changing the details of a reservation, or the end of a quarantine, is `release`
//!   followed by `reserve`/`quarantine`. Any other move (reserved ↔ quarantined,
//!   assigned → reserved) is refused by `domain::lifecycle::decide` and becomes a row
//!   error with its reason;
//! - the assignee, reservation and quarantine columns describe their status only; they
//!   are ignored on a line whose target status is another one;
//! - a number outside the caller's scope, or a change that would move one out of it, is a
//!   row error; a number absent from the file is never touched.
//!
//! A plan keeps at most `max_errors` errors (the first ones, file errors first); the rest
//! are only counted (`Summary::errors_not_shown`), so a file of a million bad lines stores
//! and shows no more than a file of a few.
//!
//! The stages live in their own modules: `plan` reads a file (and plans one number, for
//! imports and reverts alike), `revert` turns a change set's audit records into a plan,
//! `apply` runs a stored plan, and `rows` keeps plans and their rows in `import_plans` /
//! `import_plan_rows`. Which transitions a status change needs is decided in
//! [`domain::import_plan`], without IO; the stages only gather its inputs and store its
//! answer.

mod apply;
mod plan;
mod revert;
mod rows;

use chrono::{DateTime, NaiveDateTime, Utc};
use domain::{PlanKind, PlanStatus, Target, csv_import::ImportError, import_plan::Step};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use apply::apply;
pub use plan::plan_csv;
pub use revert::revert;
pub use rows::{get, mark, rows};

/// Applied plans are kept this long for `GET /api/v1/imports/{id}`; the audit keeps
/// their changes for good.
pub const APPLIED_KEPT_DAYS: i64 = 30;

/// A problem on one line (or with the whole file), as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The line (the header is line 1; for a revert, the row's position).
    pub line: u64,
    /// The column, when the problem is in one cell.
    pub column: Option<String>,
    /// What is wrong and what would fix it.
    pub reason: String,
}

impl From<ImportError> for RowError {
    fn from(e: ImportError) -> RowError {
        RowError {
            line: e.line,
            column: e.column,
            reason: e.reason,
        }
    }
}

/// One planned change of a number. Field updates come first, then transitions in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Add the number (its fields follow as `update`s from `null`).
    Create,
    /// Remove the number (reverting its creation).
    Delete,
    /// Set a field: `description`, `tags`, `location`, `platform` or `number_type`.
    /// Locations and platforms are `{id, name}`.
    Update {
        /// The field.
        field: String,
        /// Its value now.
        old: Value,
        /// Its value after.
        new: Value,
    },
    /// available (or, with the override, reserved / quarantined) → assigned.
    Assign {
        /// To whom.
        target: Target,
        /// Assigning a reserved number.
        #[serde(default)]
        override_reservation: bool,
        /// Assigning a quarantined number before its quarantine ends.
        #[serde(default)]
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
        /// Days of quarantine; `null` for the configured period.
        quarantine_days: Option<i64>,
    },
    /// available → reserved.
    Reserve {
        /// Why.
        reason: String,
        /// For whom.
        reserved_for: Option<String>,
        /// Until when; `null` for the configured default.
        until: Option<DateTime<Utc>>,
    },
    /// reserved / quarantined → available.
    Release,
    /// available → quarantined.
    Quarantine {
        /// Why.
        reason: String,
        /// Until when; `null` for the configured period.
        until: Option<DateTime<Utc>>,
    },
}

impl From<Step> for Change {
    fn from(step: Step) -> Change {
        match step {
            Step::Assign {
                target,
                override_reservation,
                override_quarantine,
            } => Change::Assign {
                target,
                override_reservation,
                override_quarantine,
            },
            Step::Reassign { previous, target } => Change::Reassign { previous, target },
            Step::Unassign {
                previous,
                quarantine_days,
            } => Change::Unassign {
                previous,
                quarantine_days,
            },
            Step::Reserve {
                reason,
                reserved_for,
                until,
            } => Change::Reserve {
                reason,
                reserved_for,
                until: until.map(utc),
            },
            Step::Release => Change::Release,
            Step::Quarantine { reason, until } => Change::Quarantine {
                reason,
                until: until.map(utc),
            },
        }
    }
}

/// Counts of a plan: lines read and what they would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Data lines read (for a revert: numbers in the change set).
    pub rows: u64,
    /// Lines that change nothing.
    pub unchanged: u64,
    /// Numbers created.
    pub creates: u64,
    /// Existing numbers with field updates.
    pub updates: u64,
    /// Assignments.
    pub assigns: u64,
    /// Reassignments.
    pub reassigns: u64,
    /// Unassignments.
    pub unassigns: u64,
    /// Reservations.
    pub reserves: u64,
    /// Releases.
    pub releases: u64,
    /// Quarantines.
    pub quarantines: u64,
    /// Numbers deleted (reverts of creations).
    pub deletes: u64,
    /// Errors, file-level ones included.
    pub errors: u64,
    /// Errors beyond the plan's cap (`TELESTATE_IMPORT_MAX_ERRORS`): counted in `errors`,
    /// neither stored nor shown.
    #[serde(default)]
    pub errors_not_shown: u64,
}

impl Summary {
    /// Counts one row's changes (a row with none is `unchanged`).
    pub(super) fn count(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            self.unchanged += 1;
        }
        let mut created = false;
        let mut updated = false;
        for c in changes {
            match c {
                Change::Create => {
                    created = true;
                    self.creates += 1;
                }
                Change::Delete => self.deletes += 1,
                Change::Update { .. } => updated = true,
                Change::Assign { .. } => self.assigns += 1,
                Change::Reassign { .. } => self.reassigns += 1,
                Change::Unassign { .. } => self.unassigns += 1,
                Change::Reserve { .. } => self.reserves += 1,
                Change::Release => self.releases += 1,
                Change::Quarantine { .. } => self.quarantines += 1,
            }
        }
        if updated && !created {
            self.updates += 1;
        }
    }
}

/// A stored plan and, once applied, its outcome.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Random id (32 hex digits).
    pub id: String,
    /// Where it is; `expired` once `expires_at` has passed unapplied.
    pub status: PlanStatus,
    /// An import or a revert.
    pub kind: PlanKind,
    /// For a revert: the change set it undoes.
    pub source_change_set: Option<String>,
    /// Who planned it (`kind:id`).
    pub created_by: String,
    /// Their name.
    pub created_by_name: String,
    /// When it was planned.
    pub created_at: NaiveDateTime,
    /// After this it can no longer be applied.
    pub expires_at: NaiveDateTime,
    /// Counts.
    pub summary: Summary,
    /// Problems with the file as a whole.
    pub file_errors: Vec<RowError>,
    /// All errors, file-level and per row.
    pub error_count: i64,
    /// Data lines read.
    pub row_count: i64,
    /// The change set its apply recorded.
    pub change_set_id: Option<String>,
    /// When it was applied.
    pub applied_at: Option<NaiveDateTime>,
}

/// One line of a plan: only lines with changes or errors are kept.
#[derive(Debug, Clone)]
pub struct PlanRow {
    /// The line.
    pub line: u64,
    /// The number (canonical E.164, or the cell as written when it did not parse).
    pub number: String,
    /// The number's version when planned (`None` for a create).
    pub expected_version: Option<i64>,
    /// What applying would do.
    pub changes: Vec<Change>,
    /// Why it cannot.
    pub errors: Vec<RowError>,
}

/// What applying a plan did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The plan.
    pub id: String,
    /// Always applied.
    pub status: PlanStatus,
    /// The change set every audit record of the apply carries.
    pub change_set_id: String,
    /// What was done.
    pub applied: Summary,
}

/// A stored (UTC) instant as the plan shows it.
fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}
