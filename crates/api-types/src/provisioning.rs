//! Wire types of provisioning jobs and of drift between Teams and the inventory.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

use crate::AssignedTarget as Target;

/// A provisioning job: what a platform must be told after an assign, reassign or unassign.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProvisioningJob {
    /// Id.
    pub id: String,
    /// The platform that carries it out.
    pub platform_id: String,
    /// The number, E.164.
    pub number: String,
    /// `assign` (also a reassign: one call to the new target) or `unassign`.
    pub action: String,
    /// The target it puts the number on (assign).
    pub target: Option<Target>,
    /// The id of whom the number was taken from (reassign, unassign).
    pub previous_target_id: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed` (waits for a retry) or `superseded`
    /// (a later change of the number replaced it before it ran).
    pub state: String,
    /// Attempts started.
    pub attempts: i32,
    /// Not run before this time (the backoff after a failed attempt).
    pub run_after: DateTime<Utc>,
    /// The last attempt's error (Graph's text, or the webhook's status).
    pub last_error: Option<String>,
    /// Who made the change that caused it.
    pub created_by: String,
    /// The change set of that change.
    pub change_set_id: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished (succeeded, failed for good, or superseded).
    pub finished_at: Option<DateTime<Utc>>,
}

/// Filters for `GET /api/v1/provisioning/jobs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    /// `queued`, `running`, `succeeded`, `failed` or `superseded`.
    pub state: Option<String>,
    /// A number (E.164; normalised like everywhere else).
    pub number: Option<String>,
    /// A platform id.
    pub platform: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of provisioning jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct JobList {
    /// Jobs.
    pub items: Vec<ProvisioningJob>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// One difference between Teams' number assignments and the inventory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DriftItem {
    /// The number, E.164.
    pub number: String,
    /// `not_in_inventory`, `assigned_in_teams_only`, `assigned_in_inventory_only`,
    /// `different_target`, `other_platform` (the inventory has it on another platform:
    /// adopt and push leave it alone until its platform is set to this one) or
    /// `no_platform` (in step, but the inventory has it on no platform, so its changes
    /// would never reach Teams: adopting puts it on this one).
    pub kind: String,
    /// The inventory's status (`null`: the inventory lacks the number).
    pub inventory_status: Option<String>,
    /// The inventory's platform for the number (`null`: none, or the inventory lacks it).
    pub inventory_platform_id: Option<String>,
    /// The inventory's assignee.
    pub inventory_target: Option<Target>,
    /// The object id Teams assigns it to.
    pub teams_target_id: Option<String>,
    /// Teams' `assignmentStatus`.
    pub teams_status: Option<String>,
    /// Teams' number type.
    pub teams_number_type: Option<String>,
}

/// A page of drift, in E.164 order, as of the worker's last listing of Teams' numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DriftList {
    /// Differences.
    pub items: Vec<DriftItem>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
    /// When Teams' numbers were last listed (`null`: never; sync the platform first).
    pub listed_at: Option<DateTime<Utc>>,
}

/// Paging for `GET /api/v1/platforms/{id}/drift`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct DriftQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// Which drifted numbers to adopt or push.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettleDrift {
    /// The numbers (E.164), at most 10,000; omit for every drifted number.
    // `null` is refused: it must not settle the whole platform by accident.
    // Left out when `None`, so a client that means "all" sends `{}`, not the refused `null`.
    #[serde(
        default,
        deserialize_with = "list_not_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub numbers: Option<Vec<String>>,
}

fn list_not_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Vec::<String>::deserialize(d).map(Some)
}

/// A drifted number that was left as it was.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SkippedNumber {
    /// The number.
    pub number: String,
    /// Why.
    pub reason: String,
}

/// What adopting or pushing did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SettledDrift {
    /// The change set recording it (an adoption is revertible like an import).
    pub change_set_id: String,
    /// Numbers changed (adopt) or provisioning jobs written (push).
    pub done: usize,
    /// Numbers left as they were, with the reason.
    pub skipped: Vec<SkippedNumber>,
}
