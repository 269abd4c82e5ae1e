//! Wire types of platforms: where numbers are provisioned (a Teams tenant, a webhook, or
//! none). Secrets are write-only: a response says only whether one is stored
//! (`has_client_secret`, `has_signing_secret`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

use crate::double_option;
use domain::PlatformKind;

/// A platform. Never carries a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Platform {
    /// Id.
    pub id: String,
    /// Unique name (case-insensitive).
    pub name: String,
    /// `teams`, `webhook` or `none`; fixed at creation.
    pub kind: PlatformKind,
    /// Teams: the Entra tenant (GUID or domain).
    pub tenant_id: Option<String>,
    /// Teams: the app registration's client id.
    pub client_id: Option<String>,
    /// Teams: the name of the worker's environment variable that holds the client secret.
    pub client_secret_env: Option<String>,
    /// Teams: a client secret is stored (encrypted); it is never returned.
    pub has_client_secret: bool,
    /// Teams: Graph's base URL; `null` means `https://graph.microsoft.com/v1.0`.
    pub graph_base_url: Option<String>,
    /// Teams: the login base URL; `null` means `https://login.microsoftonline.com`.
    pub login_base_url: Option<String>,
    /// Teams: seconds between directory syncs; `null` means 900.
    pub sync_interval_seconds: Option<i64>,
    /// Webhook: where signed events are POSTed.
    pub url: Option<String>,
    /// Webhook: a signing secret is stored (encrypted); it is never returned.
    pub has_signing_secret: bool,
    /// Teams: the directory sync's state; `null` before the first request or run.
    pub sync: Option<SyncStatus>,
    /// Increases on every change; also the `ETag`.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A Teams platform's directory sync, as the worker last recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SyncStatus {
    /// When a sync was last asked for.
    pub requested_at: Option<DateTime<Utc>>,
    /// When the last run started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the last run finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long the last run took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// The last run read everything rather than the changes since the one before.
    pub full_sync: bool,
    /// Users added or changed by the last run.
    pub users_changed: i64,
    /// Users flagged deleted or disabled by the last run.
    pub users_removed: i64,
    /// Groups added or changed by the last run.
    pub groups_changed: i64,
    /// Group memberships written by the last run.
    pub memberships: i64,
    /// Why the last run failed, if it did.
    pub error: Option<String>,
    /// When Teams' number assignments were last listed.
    pub teams_numbers_at: Option<DateTime<Utc>>,
    /// How many number assignments Teams listed then.
    pub teams_numbers: i64,
}

/// A platform to create. Only the fields of its kind may be sent (any other is a 400
/// naming it). `teams`: `tenant_id`, `client_id`, exactly one of `client_secret_env` or
/// `client_secret`, optional `graph_base_url`, `login_base_url`, `sync_interval_seconds`.
/// `webhook`: `url`, `signing_secret`. `none`: nothing else. Secrets need the owner role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewPlatform {
    /// Unique name (case-insensitive), 1–100 characters.
    pub name: String,
    /// `teams`, `webhook` or `none`.
    #[cfg_attr(feature = "openapi", schema(value_type = domain::PlatformKind))]
    pub kind: String,
    /// Teams: the tenant's GUID or one of its domains (`contoso.onmicrosoft.com`).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Teams: the app registration's client id (a GUID).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Teams: the name of the worker's environment variable holding the client secret
    /// (`[A-Z_][A-Z0-9_]*`, at most 128); read by the worker each time it logs in.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Teams: the client secret itself (1–1024 characters), stored encrypted; write-only.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Teams: Graph's base URL (https; http only to localhost).
    #[serde(default)]
    pub graph_base_url: Option<String>,
    /// Teams: the login base URL (https; http only to localhost).
    #[serde(default)]
    pub login_base_url: Option<String>,
    /// Teams: seconds between directory syncs, 5–86400 (default 900).
    #[serde(default)]
    pub sync_interval_seconds: Option<i64>,
    /// Webhook: where events are POSTed (https; http only to localhost).
    #[serde(default)]
    pub url: Option<String>,
    /// Webhook: the key events are signed with (16–1024 characters), stored encrypted;
    /// write-only.
    #[serde(default)]
    pub signing_secret: Option<String>,
}

/// Changes to a platform: absent fields stay; `null` returns an optional Teams setting
/// to its default. Sending `client_secret` switches to a stored secret (dropping
/// `client_secret_env`), sending `client_secret_env` switches to the reference (dropping
/// the stored secret). Secrets and the base URLs need the owner role; the kind never changes.
/// A field that cannot be cleared refuses `null` (400 naming it) rather than keeping it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlatformPatch {
    /// New name.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: Option<String>,
    /// The kind: accepted only when it is the current one.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = domain::PlatformKind))]
    pub kind: Option<String>,
    /// Teams: new tenant.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant_id: Option<String>,
    /// Teams: new client id.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub client_id: Option<String>,
    /// Teams: take the client secret from this environment variable from now on.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub client_secret_env: Option<String>,
    /// Teams: store this client secret (encrypted) from now on; write-only.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub client_secret: Option<String>,
    /// Teams: new Graph base URL, or `null` for the default.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub graph_base_url: Option<Option<String>>,
    /// Teams: new login base URL, or `null` for the default.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub login_base_url: Option<Option<String>>,
    /// Teams: new sync interval in seconds, or `null` for the default.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub sync_interval_seconds: Option<Option<i64>>,
    /// Webhook: new URL.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub url: Option<String>,
    /// Webhook: new signing secret; write-only.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub signing_secret: Option<String>,
}

/// Filters for `GET /api/v1/platforms`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct PlatformQuery {
    /// Text in the name.
    pub q: Option<String>,
    /// A platform kind.
    #[cfg_attr(feature = "openapi", param(value_type = Option<domain::PlatformKind>))]
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of platforms.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PlatformList {
    /// Platforms by id.
    pub items: Vec<Platform>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}
