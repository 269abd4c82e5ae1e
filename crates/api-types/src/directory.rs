//! Wire types of assignment targets: services, and the directory synced from Entra ID
//! (users and groups, read-only over the API).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

use crate::double_option;
use domain::ServiceKind;

/// A non-person assignment target: auto attendant, call queue, SIP trunk, …
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Service {
    /// Id.
    pub id: String,
    /// Unique name (case-insensitive).
    pub name: String,
    /// `auto_attendant`, `call_queue`, `resource_account`, `sip_trunk`, `contact_centre`,
    /// `fax`, `conference_bridge` or `other`.
    pub kind: ServiceKind,
    /// The platform that carries it.
    pub platform_id: Option<String>,
    /// Its id on that platform, e.g. a Teams resource account's object id.
    pub external_id: Option<String>,
    /// Free text.
    pub description: String,
    /// E.164 numbers assigned to it (those in the caller's scope).
    pub numbers: Vec<String>,
    /// Increases on every change; also the `ETag`.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A service to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// Unique name (case-insensitive), 1–200 characters.
    pub name: String,
    /// `auto_attendant`, `call_queue`, `resource_account`, `sip_trunk`, `contact_centre`,
    /// `fax`, `conference_bridge` or `other`.
    #[cfg_attr(feature = "openapi", schema(value_type = domain::ServiceKind))]
    pub kind: String,
    /// Platform id.
    #[serde(default)]
    pub platform_id: Option<String>,
    /// Its id on the platform.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Free text, at most 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// Changes to a service; absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New kind.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<domain::ServiceKind>))]
    pub kind: Option<String>,
    /// New platform id, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub platform_id: Option<Option<String>>,
    /// New external id, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub external_id: Option<Option<String>>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
}

/// Filters for `GET /api/v1/services`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ServiceQuery {
    /// Text in the name.
    pub q: Option<String>,
    /// A service kind.
    #[cfg_attr(feature = "openapi", param(value_type = Option<domain::ServiceKind>))]
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of services.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ServiceList {
    /// Services by name.
    pub items: Vec<Service>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}

/// A group as listed with a user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupRef {
    /// Entra object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
}

/// A person synced from Microsoft Entra ID (read-only here).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DirectoryUser {
    /// Entra object id.
    pub id: String,
    /// User principal name.
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// Primary mail address.
    pub mail: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Office location.
    pub office_location: Option<String>,
    /// Usage location (ISO 3166-1 alpha-2).
    pub usage_location: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country, as the directory holds it.
    pub country: Option<String>,
    /// Whether the account may sign in.
    pub account_enabled: bool,
    /// Deleted in the directory (kept, flagged).
    pub deleted: bool,
    /// Groups it belongs to, by name.
    pub groups: Vec<GroupRef>,
    /// E.164 numbers assigned to it (those in the caller's scope).
    pub numbers: Vec<String>,
    /// When the sync last wrote it.
    pub last_synced_at: DateTime<Utc>,
}

/// Filters for `GET /api/v1/users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Text in the display name, UPN or mail (case-insensitive).
    pub q: Option<String>,
    /// Department (case-insensitive).
    pub department: Option<String>,
    /// Member of this group (id).
    pub group: Option<String>,
    /// Office location or city (case-insensitive).
    pub location: Option<String>,
    /// `true`: only users with a number; `false`: only users without one.
    pub has_number: Option<bool>,
    /// Include users deleted in the directory (default `false`).
    pub include_deleted: Option<bool>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of directory users.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UserList {
    /// Users by UPN.
    pub items: Vec<DirectoryUser>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}

/// A group synced from Microsoft Entra ID.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Group {
    /// Entra object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Group mail address.
    pub mail: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Members that are not deleted.
    pub member_count: i64,
    /// When the sync last wrote it.
    pub last_synced_at: DateTime<Utc>,
}

/// Filters for `GET /api/v1/groups`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct GroupQuery {
    /// Text in the display name.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of groups.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupList {
    /// Groups by name.
    pub items: Vec<Group>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}
