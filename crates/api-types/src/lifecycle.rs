//! Wire types of the assignment lifecycle: a number's reservation, quarantine and
//! assignment, the action requests, allocations and the lifecycle settings.

use chrono::{DateTime, Utc};
use domain::ProvisioningState;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use crate::double_option;

/// Why and for whom a number is held.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Reservation {
    /// Why.
    pub reason: String,
    /// For whom or what (free text).
    pub reserved_for: Option<String>,
    /// Who reserved it.
    pub reserved_by: String,
    /// When it is released automatically; `null`: never.
    #[serde(serialize_with = "crate::rfc3339::optional")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A number resting after use.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Quarantine {
    /// Since when.
    #[serde(serialize_with = "crate::rfc3339::time")]
    pub since: DateTime<Utc>,
    /// Until when; it becomes available then.
    #[serde(serialize_with = "crate::rfc3339::time")]
    pub until: DateTime<Utc>,
    /// Why.
    pub reason: Option<String>,
    /// Who had it.
    pub previous_assignee: Option<AssignedTarget>,
}

/// A user or service a number is, was or will be assigned to: domain's one target record.
pub use domain::Target as AssignedTarget;

/// Provisioning of an assignment on its platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Provisioning {
    /// `not_required`, `pending`, `provisioned` or `failed`.
    pub state: ProvisioningState,
    /// The last error, when failed.
    pub error: Option<String>,
}

/// Who or what a number is assigned to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Assignment {
    /// The target.
    pub target: AssignedTarget,
    /// When.
    #[serde(serialize_with = "crate::rfc3339::time")]
    pub assigned_at: DateTime<Utc>,
    /// By whom.
    pub assigned_by: String,
    /// Provisioning state on the number's platform.
    pub provisioning: Provisioning,
}

/// Whom to assign to: `kind` is `user` (id or UPN) or `service` (id or name).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetRef {
    /// `user` or `service`.
    #[cfg_attr(feature = "openapi", schema(value_type = domain::TargetKind))]
    pub kind: String,
    /// Directory user id or UPN; service id or name.
    pub id: String,
}

/// `POST /numbers/{number}/assign`: assign, or with `reassign: true` move in one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The new assignee.
    pub target: TargetRef,
    /// Assign a reserved number (admin and above).
    #[serde(default)]
    pub override_reservation: bool,
    /// Assign a number still in quarantine (admin and above).
    #[serde(default)]
    pub override_quarantine: bool,
    /// Take the number from its current holder. Without it, assigning a number held by
    /// someone else is 409 `number_assigned` naming the holder; assigning it to its
    /// current holder again changes nothing.
    #[serde(default)]
    pub reassign: bool,
}

/// `POST /numbers/{number}/unassign`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnassignRequest {
    /// Quarantine period; default from settings (per location, else global). `0` frees the
    /// number at once and needs the admin role.
    #[serde(default)]
    pub quarantine_days: Option<i64>,
    /// Why, for the record.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /numbers/{number}/reserve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReserveRequest {
    /// Why (required).
    pub reason: String,
    /// For whom or what.
    #[serde(default)]
    pub reserved_for: Option<String>,
    /// When to release it automatically; default from settings (none: never).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /numbers/{number}/quarantine`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuarantineRequest {
    /// Why (required).
    pub reason: String,
    /// Until when; default: the quarantine period from settings.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

/// `POST /numbers/{number}/release` (body optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Why, for the record.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Which numbers an allocation may take; every field narrows the pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PoolBody {
    /// Tags a number must all carry (at most 50).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Site id.
    #[serde(default)]
    pub location_id: Option<String>,
    /// Range id.
    #[serde(default)]
    pub range_id: Option<String>,
    /// Platform id.
    #[serde(default)]
    pub platform_id: Option<String>,
    /// Number type.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<domain::NumberType>))]
    pub number_type: Option<String>,
    /// ISO country.
    #[serde(default)]
    pub country: Option<String>,
}

/// `POST /allocations`: the lowest available number of the pool, assigned to the target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    /// Where to take the number from.
    pub pool: PoolBody,
    /// Whom to assign it to.
    pub target: TargetRef,
}

/// A per-location quarantine period.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LocationQuarantine {
    /// Site id.
    pub location_id: String,
    /// Days; `null` removes the override.
    pub days: Option<i64>,
}

/// The lifecycle settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Settings {
    /// Days a number rests after unassignment.
    pub default_quarantine_days: i64,
    /// Days a reservation lasts when no expiry is given; `null`: until released.
    pub reservation_default_days: Option<i64>,
    /// Sites with their own quarantine period.
    pub location_quarantine_days: Vec<LocationQuarantine>,
    /// Minutes between scheduled full evaluations of the assignment rules over every
    /// user; `null`: rules run only after directory syncs and by hand.
    pub rules_evaluation_minutes: Option<i64>,
}

/// Changes to the lifecycle settings; absent fields stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// New global quarantine period (0–3650 days).
    #[serde(default)]
    pub default_quarantine_days: Option<i64>,
    /// New default reservation lifetime, or `null` for none.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub reservation_default_days: Option<Option<i64>>,
    /// Per-site periods to set or remove.
    #[serde(default)]
    pub location_quarantine_days: Vec<LocationQuarantine>,
    /// New interval of scheduled full rule evaluations (1–10080 minutes), or `null` for none.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub rules_evaluation_minutes: Option<Option<i64>>,
}
