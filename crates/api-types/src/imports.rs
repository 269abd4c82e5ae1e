//! CSV imports and change-set reverts: a plan, then its apply.

use chrono::{DateTime, Utc};
use domain::{ChangeOp, PlanKind, PlanStatus};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::AssignedTarget;

/// A problem with an import: where (line, column) and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportError {
    /// The line as a spreadsheet shows it (the header is line 1). For a revert plan, the
    /// row's position.
    pub line: u64,
    /// The column, when the problem is in one cell.
    pub column: Option<String>,
    /// What is wrong and what would fix it.
    pub reason: String,
}

/// One planned change. `op` says which; the other fields belong to it:
/// `create` and `delete` (nothing else), `update` (`field`, `old`, `new`; locations and
/// platforms as `{id, name}`), `assign` (`target`, `override_reservation`,
/// `override_quarantine`), `reassign` (`previous`, `target`), `unassign` (`previous`,
/// `quarantine_days`: 0 to available, `null` for the configured period), `reserve`
/// (`reason`, `reserved_for`, `until`), `release`, `quarantine` (`reason`, `until`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportChange {
    /// `create`, `delete`, `update`, `assign`, `reassign`, `unassign`, `reserve`,
    /// `release` or `quarantine`.
    pub op: ChangeOp,
    /// For `update`: `description`, `tags`, `location`, `platform` or `number_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `update`: the value now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub old: Option<serde_json::Value>,
    /// For `update`: the value after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub new: Option<serde_json::Value>,
    /// For `assign` and `reassign`: the assignee after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<AssignedTarget>,
    /// For `reassign` and `unassign`: the assignee now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<AssignedTarget>,
    /// For `assign`: a reserved number is assigned (the admin override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_reservation: Option<bool>,
    /// For `assign`: a quarantined number is assigned before its quarantine ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_quarantine: Option<bool>,
    /// For `unassign`: days of quarantine (0: straight to available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_days: Option<i64>,
    /// For `reserve` and `quarantine`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `reserve`: for whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_for: Option<String>,
    /// For `reserve` and `quarantine`: until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl ImportChange {
    /// A change of kind `op` with none of its optional fields set.
    pub fn new(op: ChangeOp) -> Self {
        ImportChange {
            op,
            field: None,
            old: None,
            new: None,
            target: None,
            previous: None,
            override_reservation: None,
            override_quarantine: None,
            quarantine_days: None,
            reason: None,
            reserved_for: None,
            until: None,
        }
    }
}

/// One line of a plan (only lines with changes or errors are listed).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportRow {
    /// The line (for a revert plan, the row's position).
    pub line: u64,
    /// The number: canonical E.164, or the cell as written when it did not parse.
    pub number: String,
    /// What applying the plan does to it, in order.
    pub changes: Vec<ImportChange>,
    /// Why the plan cannot be applied, if anything is wrong with this line.
    pub errors: Vec<ImportError>,
}

/// What a plan would do (or, applied, did).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportSummary {
    /// Data lines read (for a revert: numbers in the change set).
    pub rows: u64,
    /// Lines that change nothing.
    pub unchanged: u64,
    /// Numbers created.
    pub creates: u64,
    /// Existing numbers whose fields change.
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
    /// Numbers deleted (a revert of their creation).
    pub deletes: u64,
    /// Errors (file-level and per line); a plan with errors cannot be applied.
    pub errors: u64,
    /// How many of those errors are beyond the server's cap (`TELESTATE_IMPORT_MAX_ERRORS`,
    /// 1,000 by default): a plan keeps and shows its first errors only and counts the rest
    /// here. 0 when every error is shown.
    #[serde(default)]
    pub errors_not_shown: u64,
}

/// An import (or revert) plan: what applying it would change, and every error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportPlan {
    /// Id, for `GET /api/v1/imports/{id}` and `POST /api/v1/imports/{id}/apply`.
    pub id: String,
    /// `import` or `revert`.
    pub kind: PlanKind,
    /// `planning` (being made: rows so far, cannot be applied yet), `planned`, `applied`,
    /// `failed` (refused as stale) or `expired`.
    pub status: PlanStatus,
    /// For a revert: the change set it undoes.
    pub source_change_set: Option<String>,
    /// Counts.
    pub summary: ImportSummary,
    /// Lines with changes or errors, by line: one page of them (up to 1,000 unless
    /// `limit` says otherwise).
    pub rows: Vec<ImportRow>,
    /// True when more lines follow; pass `next_cursor` as `cursor` to read them.
    pub rows_truncated: bool,
    /// The cursor of the next page of rows, `null` at the end.
    pub next_cursor: Option<String>,
    /// Problems with the file as a whole (empty, not UTF-8, bad header, too many
    /// columns, …).
    pub errors: Vec<ImportError>,
    /// Who planned it.
    pub created_by: String,
    /// When it was planned.
    pub created_at: DateTime<Utc>,
    /// After this it can no longer be applied.
    pub expires_at: DateTime<Utc>,
    /// The change set its apply recorded (once applied).
    pub change_set_id: Option<String>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
}

/// What applying a plan did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ImportApplied {
    /// The plan.
    pub id: String,
    /// `applied`.
    pub status: PlanStatus,
    /// Every audit record of the apply carries it; `GET /api/v1/change-sets/{id}` lists
    /// them and `POST /api/v1/change-sets/{id}/revert` plans their undoing.
    pub change_set_id: String,
    /// What was done.
    pub applied: ImportSummary,
}
