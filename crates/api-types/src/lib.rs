//! Telestate's JSON wire types: what the REST API accepts and returns.
//!
//! Shared by the server and by Rust clients (the web app). Field names here are the
//! public contract of SPEC §6: add fields freely, never rename or remove one.
//! Ids are strings and times are RFC 3339 UTC on the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

pub mod lifecycle;
pub use lifecycle::*;

mod rfc3339;

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

pub mod directory;
pub use directory::*;

pub mod events;
pub use events::*;

pub mod imports;
pub use imports::*;

pub mod platforms;
pub use platforms::*;

pub mod provisioning;
pub use provisioning::*;

pub mod rules;
pub use rules::*;

pub use domain::{
    ActorKind, CallerKind, ChangeOp, NumberStatus, NumberType, PlanKind, PlanStatus, PlatformKind,
    ProvisioningState, Role, ServiceKind, Source, TargetKind,
};

/// Lets a PATCH tell "absent" (leave as is) from `null` (clear it).
pub(crate) fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// For a PATCH field that cannot be cleared: absent keeps the value, and `null` is refused
/// (naming the field) instead of being read as "keep" — a value sent is never dropped.
pub(crate) fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => Err(serde::de::Error::custom(
            "null is not allowed here: leave the field out to keep its value",
        )),
    }
}

/// The one error envelope: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for machines (`code`) and people (`message`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `number_not_available`; see `ERROR_CODES`.
    pub code: String,
    /// A sentence saying what happened and what would allow the request.
    pub message: String,
    /// Structured context: the offending `field`, current state, conflicting objects.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

/// Declares [`ErrorCode`] and [`ERROR_CODES`] from one list, so the two cannot drift.
macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $what:literal)),+ $(,)?) => {
        /// A stable, machine-readable error code, as `error.code` carries it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $what] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the documented order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The snake_case word on the wire.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            /// The HTTP status the code is answered with.
            pub const fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),+ }
            }

            /// What the code means, for client authors.
            pub const fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $what),+ }
            }

            /// The code spelled `word`, if the API documents one.
            pub fn from_word(word: &str) -> Option<ErrorCode> {
                match word { $($code => Some(ErrorCode::$variant),)+ _ => None }
            }
        }

        /// Every error code the API answers with, for client authors: `(code, HTTP status,
        /// meaning)`, in [`ErrorCode`] order.
        pub const ERROR_CODES: &[(&str, u16, &str)] = &[$(($code, $status, $what)),+];
    };
}

error_codes! {
    InvalidJson => ("invalid_json", 400, "the body is not valid JSON of the documented shape; details.field names the field"),
    InvalidQuery => ("invalid_query", 400, "a query parameter is malformed"),
    InvalidPath => ("invalid_path", 400, "a path parameter is malformed"),
    InvalidNumber => ("invalid_number", 400, "a telephone number did not parse as E.164"),
    InvalidField => ("invalid_field", 400, "a field's value is not acceptable; details.field names it"),
    InvalidCursor => ("invalid_cursor", 400, "the cursor was not issued by this server"),
    InvalidLimit => ("invalid_limit", 400, "limit outside 1..=1000"),
    UnsupportedMediaType => ("unsupported_media_type", 415, "the body's Content-Type is not application/json"),
    PayloadTooLarge => ("payload_too_large", 413, "the body is larger than allowed"),
    Unauthenticated => ("unauthenticated", 401, "no valid bearer token (JWT or API token) or session cookie"),
    InvalidCredentials => ("invalid_credentials", 401, "wrong username or password"),
    TooManyAttempts => ("too_many_attempts", 429, "too many login attempts (from this address, for this username from this address, or on this server); see Retry-After"),
    Busy => ("busy", 429, "the server is already running as many of these costly requests (rule previews) as it allows at once; retry after Retry-After"),
    Forbidden => ("forbidden", 403, "the caller's role does not allow this action"),
    CsrfFailed => ("csrf_failed", 403, "a request authenticated by the session cookie changes state but its X-Telestate-CSRF header is missing or is not the session's CSRF token"),
    OutOfScope => ("out_of_scope", 403, "the result would lie outside the caller's scope"),
    NotFound => ("not_found", 404, "no such object within the caller's scope, or no such route"),
    MethodNotAllowed => ("method_not_allowed", 405, "the route exists but not with this method"),
    AlreadyExists => ("already_exists", 409, "a unique value is taken"),
    Conflict => ("conflict", 409, "the request conflicts with existing data the caller cannot see (outside its scope); no details are given"),
    NumberExists => ("number_exists", 409, "the number is already in the inventory"),
    NumberNotAvailable => ("number_not_available", 409, "the action needs an available number"),
    RangeOverlap => ("range_overlap", 409, "the range overlaps another range"),
    NumbersExist => ("numbers_exist", 409, "the range contains numbers already in the inventory"),
    RangeInUse => ("range_in_use", 409, "some numbers of the range are not available"),
    LocationExists => ("location_exists", 409, "a location with that name exists"),
    LocationInUse => ("location_in_use", 409, "numbers or ranges still use the location"),
    UsernameTaken => ("username_taken", 409, "the username is taken"),
    ServiceExists => ("service_exists", 409, "a service with that name exists"),
    ServiceInUse => ("service_in_use", 409, "numbers are still assigned to the service"),
    PlatformExists => ("platform_exists", 409, "a platform with that name exists"),
    PlatformInUse => ("platform_in_use", 409, "numbers, ranges or services still use the platform; details count them"),
    NotSyncable => ("not_syncable", 409, "only a teams platform has a directory to sync"),
    SecretUnavailable => ("secret_unavailable", 409, "the environment variable a platform takes its secret from is not set"),
    UnknownTarget => ("unknown_target", 400, "no user or service with that id, UPN or name; details.field names it"),
    TargetDeleted => ("target_deleted", 409, "the directory user was deleted"),
    TargetDisabled => ("target_disabled", 409, "the directory user's account is disabled"),
    LastOwner => ("last_owner", 409, "the change would leave no owner"),
    CannotDeleteSelf => ("cannot_delete_self", 409, "accounts cannot delete themselves"),
    ConcurrentChange => ("concurrent_change", 409, "a concurrent change interfered; retry"),
    InvalidName => ("invalid_name", 400, "a name is empty or too long; details.field names it"),
    InvalidUsername => ("invalid_username", 400, "the username is empty, too long or has control characters"),
    WeakPassword => ("weak_password", 400, "the password is shorter than 8 characters"),
    InvalidCountry => ("invalid_country", 400, "not an ISO 3166-1 alpha-2 country code"),
    InvalidExpiry => ("invalid_expiry", 400, "an expiry must lie in the future"),
    InvalidTag => ("invalid_tag", 400, "a tag is empty, longer than 64 characters or contains ';'"),
    TooLong => ("too_long", 400, "a text field is longer than allowed"),
    DuplicateNumber => ("duplicate_number", 400, "the same number appears twice in one request"),
    JobNotFailed => ("job_not_failed", 409, "only a provisioning job that failed for good can be retried"),
    BatchTooLarge => ("batch_too_large", 400, "more than 10,000 numbers in one request"),
    UnknownLocation => ("unknown_location", 400, "the location id does not exist"),
    UnknownPlatform => ("unknown_platform", 400, "the platform id does not exist"),
    OwnerScoped => ("owner_scoped", 400, "owners are never scoped"),
    InUse => ("in_use", 409, "the object is referenced by others"),
    NumberReserved => ("number_reserved", 409, "the number is reserved; an admin may assign it with override_reservation"),
    NumberQuarantined => ("number_quarantined", 409, "the number is quarantined; details.available_from says when it frees"),
    NumberAssigned => ("number_assigned", 409, "the number is assigned; unassign it first"),
    NumberNotAssigned => ("number_not_assigned", 409, "the action needs an assigned number"),
    NumberNotHeld => ("number_not_held", 409, "only a reserved or quarantined number can be released"),
    PoolExhausted => ("pool_exhausted", 409, "no available number matches the allocation pool"),
    UnknownGroup => ("unknown_group", 400, "a rule names a group the directory does not have (by id or display name); details.field names the value"),
    UnknownRange => ("unknown_range", 400, "the range id does not exist"),
    UnknownTag => ("unknown_tag", 400, "no number or range carries the tag"),
    PlatformNotTeams => ("platform_not_teams", 400, "a rule's pool must be on a teams platform"),
    RuleExists => ("rule_exists", 409, "a rule with that name exists"),
    PriorityTaken => ("priority_taken", 409, "another rule has that priority; priorities are unique"),
    TooManyRules => ("too_many_rules", 409, "the installation holds the most rules it may"),
    IdempotencyKeyReused => ("idempotency_key_reused", 409, "the Idempotency-Key was first used with another request"),
    IdempotencyInFlight => ("idempotency_in_flight", 409, "a request with the same Idempotency-Key is being processed"),
    OverrideForbidden => ("override_forbidden", 403, "overriding a reservation or quarantine needs the admin role"),
    PreconditionFailed => ("precondition_failed", 412, "If-Match does not match the current version"),
    InvalidMultipart => ("invalid_multipart", 400, "the multipart upload has no readable file part"),
    PlanHasErrors => ("plan_has_errors", 409, "the import plan has errors; fix the file and plan again"),
    PlanExpired => ("plan_expired", 409, "the import plan expired; make a new plan"),
    PlanAlreadyApplied => ("plan_already_applied", 409, "the import plan was applied already"),
    PlanNotReady => ("plan_not_ready", 409, "the import plan is still being made; apply it once its status is planned"),
    PlanStale => ("plan_stale", 409, "numbers in the plan changed since it was made; details.numbers names up to ten"),
    Unavailable => ("unavailable", 503, "the database is unreachable or saturated"),
    Internal => ("internal", 500, "an unexpected error; the request id is in the logs"),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Credentials for `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Account name (case-insensitive).
    pub username: String,
    /// Password.
    pub password: String,
}

/// A bearer token for the other endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// A browser's cookie session (`/api/v1/auth/session`). The session token itself travels
/// only in the `HttpOnly` cookie `telestate_session`, never in a body, so page scripts
/// cannot read it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionInfo {
    /// Send as the `X-Telestate-CSRF` header on every POST, PUT, PATCH and DELETE that
    /// the cookie authenticates; it belongs to this session only.
    pub csrf_token: String,
    /// When the session ends (RFC 3339 UTC); log in again after it.
    pub expires_at: DateTime<Utc>,
}

/// Where a grant reaches: empty lists leave that dimension open; both set means both apply.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    /// Location ids.
    #[serde(default)]
    pub locations: Vec<String>,
    /// Tags (matched case-insensitively).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The caller as the server sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Me {
    /// `admin` or `token`.
    pub kind: CallerKind,
    /// Account or token id.
    pub id: String,
    /// Username or token name.
    pub name: String,
    /// `viewer`, `operator`, `admin` or `owner`.
    pub role: Role,
    /// The grant's reach (owners: always empty).
    pub scope: ScopeBody,
}

/// A number in the inventory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Number {
    /// Canonical E.164, with `;ext=` for an extension.
    pub number: String,
    /// The base number without extension.
    pub base: String,
    /// Extension digits, if any.
    pub extension: Option<String>,
    /// ISO 3166-1 alpha-2 (or `001` for non-geographic numbers).
    pub country: String,
    /// `available`, `reserved`, `assigned` or `quarantined`.
    pub status: NumberStatus,
    /// Its range.
    pub range_id: Option<String>,
    /// Its site.
    pub location_id: Option<String>,
    /// Labels, as entered.
    pub tags: Vec<String>,
    /// Free text.
    pub description: String,
    /// Its voice platform.
    pub platform_id: Option<String>,
    /// `direct_routing`, `operator_connect` or `calling_plan`.
    pub number_type: Option<NumberType>,
    /// Set while reserved.
    pub reservation: Option<crate::lifecycle::Reservation>,
    /// Set while quarantined.
    pub quarantine: Option<crate::lifecycle::Quarantine>,
    /// Set while assigned.
    pub assignment: Option<crate::lifecycle::Assignment>,
    /// Increases on every change; also the `ETag`.
    pub version: i64,
    /// When it was added.
    #[serde(serialize_with = "crate::rfc3339::time")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(serialize_with = "crate::rfc3339::time")]
    pub updated_at: DateTime<Utc>,
}

/// A number to add.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewNumber {
    /// Any common notation: `+44 20 7123 4567`, `442071234567`, `'+44…`, `+1 425 555 0100;ext=12`.
    pub number: String,
    /// Site id.
    #[serde(default)]
    pub location_id: Option<String>,
    /// Labels (1–64 characters each, at most 50).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free text, at most 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Platform id.
    #[serde(default)]
    pub platform_id: Option<String>,
    /// `direct_routing`, `operator_connect` or `calling_plan`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<domain::NumberType>))]
    pub number_type: Option<String>,
}

/// Several numbers added in one call: all of them or none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewNumbers {
    /// Up to 10,000 numbers.
    pub items: Vec<NewNumber>,
}

/// `POST /api/v1/numbers` takes one number, or `{items: [...]}` for many.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(untagged)]
pub enum CreateNumbers {
    /// Many numbers.
    Many(NewNumbers),
    /// One number.
    One(NewNumber),
}

/// What `POST /api/v1/numbers` created: the number, or `{items}` for a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(untagged)]
pub enum CreatedNumbers {
    /// The numbers of a batch.
    Many(NumberBatch),
    /// The one number.
    One(Box<Number>),
}

/// The numbers a batch created.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NumberBatch {
    /// The created numbers, in E.164 order.
    pub items: Vec<Number>,
}

/// Changes to a number's details; absent fields stay, `null` clears.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NumberPatch {
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New tag set (replaces the old one; at most 50 tags).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// New site id, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub location_id: Option<Option<String>>,
    /// New platform id, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub platform_id: Option<Option<String>>,
    /// New number type, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<domain::NumberType>))]
    pub number_type: Option<Option<String>>,
}

/// Filters for `GET /api/v1/numbers` and `GET /api/v1/export/numbers.csv` (which ignores
/// `cursor` and `limit`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct NumberQuery {
    /// `available`, `reserved`, `assigned` or `quarantined`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<domain::NumberStatus>))]
    pub status: Option<String>,
    /// A tag; comma-separate several (at most 50) to require all of them.
    pub tag: Option<String>,
    /// Location id.
    pub location: Option<String>,
    /// Range id.
    pub range: Option<String>,
    /// Platform id.
    pub platform: Option<String>,
    /// `direct_routing`, `operator_connect` or `calling_plan`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<domain::NumberType>))]
    pub number_type: Option<String>,
    /// ISO 3166-1 alpha-2 country code (`GB`, `de`).
    #[cfg_attr(feature = "openapi", param(pattern = "^[A-Za-z]{2}$"))]
    pub country: Option<String>,
    /// Free text, at most 200 characters with at least three letters or digits (of any
    /// script) in a row: digits match anywhere in the number, text in the description or
    /// the assignee's name (case-insensitive).
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub q: Option<String>,
    /// Assigned to this directory user (id or UPN) or service (id or name); at most 320
    /// characters.
    #[cfg_attr(feature = "openapi", param(max_length = 320))]
    pub assigned_to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NumberList {
    /// The numbers, ordered by E.164.
    pub items: Vec<Number>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// Counts by status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Utilisation {
    /// Free.
    pub available: i64,
    /// Held.
    pub reserved: i64,
    /// In use.
    pub assigned: i64,
    /// Resting after use.
    pub quarantined: i64,
    /// All.
    pub total: i64,
}

/// A block of consecutive numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Range {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Lowest number.
    pub start: String,
    /// Highest number.
    pub end: String,
    /// Country of all its numbers.
    pub country: String,
    /// How many numbers it spans.
    pub size: i64,
    /// Site of its numbers.
    pub location_id: Option<String>,
    /// Its tags (given to its numbers).
    pub tags: Vec<String>,
    /// Free text.
    pub description: String,
    /// Platform of its numbers.
    pub platform_id: Option<String>,
    /// Number type of its numbers.
    pub number_type: Option<NumberType>,
    /// Its numbers by status.
    pub utilisation: Utilisation,
    /// Increases on every change; also the `ETag`.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A range to create; every number from `start` to `end` is added as available.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRange {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Lowest number.
    pub start: String,
    /// Highest number (same country and length as `start`).
    pub end: String,
    /// Site id for its numbers.
    #[serde(default)]
    pub location_id: Option<String>,
    /// Tags for the range and its numbers (at most 50).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Platform id for its numbers.
    #[serde(default)]
    pub platform_id: Option<String>,
    /// Number type for its numbers.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<domain::NumberType>))]
    pub number_type: Option<String>,
}

/// Changes to a range; absent fields stay, `null` clears.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RangePatch {
    /// New name, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<Option<String>>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New tag set (at most 50 tags).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// New site id, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub location_id: Option<Option<String>>,
    /// New platform id, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub platform_id: Option<Option<String>>,
    /// New number type, or `null` to clear.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<domain::NumberType>))]
    pub number_type: Option<Option<String>>,
    /// Also apply site, platform, type and tag changes to the range's numbers.
    #[serde(default)]
    pub apply_to_numbers: bool,
}

/// Filters for `GET /api/v1/ranges`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// Location id.
    pub location: Option<String>,
    /// ISO country.
    pub country: Option<String>,
    /// A tag the range carries.
    pub tag: Option<String>,
    /// Text in the name or description.
    pub q: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of ranges.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RangeList {
    /// Ranges in creation order.
    pub items: Vec<Range>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}

/// A site.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Location {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Region or state.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Street address.
    pub address: Option<String>,
    /// The platform's emergency-location id.
    pub emergency_location_id: Option<String>,
    /// Increases on every change; also the `ETag`.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A site to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    /// Unique name (case-insensitive), 1–200 characters.
    pub name: String,
    /// ISO 3166-1 alpha-2, e.g. `GB`.
    pub country: String,
    /// Region or state.
    #[serde(default)]
    pub region: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Street address.
    #[serde(default)]
    pub address: Option<String>,
    /// The platform's emergency-location id.
    #[serde(default)]
    pub emergency_location_id: Option<String>,
}

/// Changes to a site; absent fields stay, `null` clears an optional one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LocationPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New country.
    #[serde(default)]
    pub country: Option<String>,
    /// New region, or `null`.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub region: Option<Option<String>>,
    /// New city, or `null`.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub city: Option<Option<String>>,
    /// New address, or `null`.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub address: Option<Option<String>>,
    /// New emergency-location id, or `null`.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub emergency_location_id: Option<Option<String>>,
}

/// Filters for `GET /api/v1/locations`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct LocationQuery {
    /// Text in the name, city or region.
    pub q: Option<String>,
    /// ISO country.
    pub country: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of sites.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LocationList {
    /// Sites by name.
    pub items: Vec<Location>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}

/// A tag and how much carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TagUsage {
    /// The label.
    pub name: String,
    /// Numbers (in the caller's scope) carrying it.
    pub numbers: i64,
    /// Ranges carrying it.
    pub ranges: i64,
}

/// Every tag in use.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TagList {
    /// Tags by name.
    pub items: Vec<TagUsage>,
    /// Always `null`: the tag list is not paged.
    pub next_cursor: Option<String>,
}

/// Options of `GET /api/v1/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// How many UTC days, today included, the `daily` series covers: 1–366 (default 30).
    /// The rates and runways always look at the last 30 days.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 366))]
    pub days: Option<i64>,
}

/// Counts of one group by status.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatsGroup {
    /// Location or range id, or the tag; empty for numbers without one.
    pub id: String,
    /// A name to show.
    pub name: String,
    /// Counts by status.
    pub counts: Utilisation,
    /// `number.assign` records of its numbers in the last 30 UTC days (today included).
    pub assignments_last_30_days: i64,
    /// Those per day (divided by 30).
    pub assignments_per_day: f64,
    /// Days until its available numbers run out at that rate; `null` when nothing was
    /// assigned.
    pub days_until_exhausted: Option<f64>,
}

/// Assignments on one UTC day.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DailyAssignments {
    /// The day, `YYYY-MM-DD`.
    pub day: chrono::NaiveDate,
    /// `number.assign` records that day.
    pub assignments: i64,
}

/// The dashboard's counts, within the caller's scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Stats {
    /// All numbers by status.
    pub totals: Utilisation,
    /// Per site.
    pub by_location: Vec<StatsGroup>,
    /// Per range.
    pub by_range: Vec<StatsGroup>,
    /// Per tag.
    pub by_tag: Vec<StatsGroup>,
    /// `number.assign` records in scope in the last 30 UTC days (today included).
    pub assignments_last_30_days: i64,
    /// Those per day (divided by 30).
    pub assignments_per_day: f64,
    /// Days until the available numbers in scope run out at that rate; `null` when
    /// nothing was assigned.
    pub days_until_exhausted: Option<f64>,
    /// Assignments per day over the requested days (`days`, default the same 30), oldest
    /// first, ending today, every day listed.
    pub daily: Vec<DailyAssignments>,
}

/// An admin account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Admin {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// `viewer`, `operator`, `admin` or `owner`.
    pub role: Role,
    /// The grant's reach.
    pub scope: ScopeBody,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// The latest lock after repeated failed logins: the address they came from is
    /// refused until then (other addresses are not).
    pub locked_until: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An account to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    /// Login name, unique (case-insensitive).
    pub username: String,
    /// At least 8 characters.
    pub password: String,
    /// `viewer`, `operator`, `admin` or `owner`.
    #[cfg_attr(feature = "openapi", schema(value_type = domain::Role))]
    pub role: String,
    /// Reach of the grant; owners take none.
    #[serde(default)]
    pub scope: Option<ScopeBody>,
}

/// Changes to an account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdminPatch {
    /// New password (at least 8 characters).
    #[serde(default)]
    pub password: Option<String>,
    /// New role.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<domain::Role>))]
    pub role: Option<String>,
    /// New scope.
    #[serde(default)]
    pub scope: Option<ScopeBody>,
}

/// A page of accounts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AdminList {
    /// Accounts by id.
    pub items: Vec<Admin>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}

/// An integration token's record (never the secret, except once on creation).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiToken {
    /// Id.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// The secret's first characters.
    pub prefix: String,
    /// Its role.
    pub role: Role,
    /// Its reach.
    pub scope: ScopeBody,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: String,
    /// Roughly when it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A token to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// What it is for.
    pub name: String,
    /// `viewer`, `operator`, `admin` or `owner`.
    #[cfg_attr(feature = "openapi", schema(value_type = domain::Role))]
    pub role: String,
    /// Its reach.
    #[serde(default)]
    pub scope: Option<ScopeBody>,
    /// When it stops working (RFC 3339, in the future).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created token: its record and the secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatedApiToken {
    /// The record.
    #[serde(flatten)]
    pub record: ApiToken,
    /// The secret to send as `Authorization: Bearer …`; not retrievable later.
    pub token: String,
}

/// A page of tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiTokenList {
    /// Tokens by id.
    pub items: Vec<ApiToken>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}

/// Who made a change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditActor {
    /// `admin`, `token` or `system`.
    pub kind: ActorKind,
    /// Its id.
    pub id: String,
    /// Its name at the time.
    pub name: String,
}

/// One audited change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditRecord {
    /// Id; records are ordered by it.
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: AuditActor,
    /// What, as `entity.verb`.
    pub action: String,
    /// The kind of thing changed.
    pub entity: String,
    /// Its id (E.164 for numbers).
    pub entity_id: String,
    /// State before.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<serde_json::Value>,
    /// State after.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<serde_json::Value>,
    /// The request that carried it.
    pub request_id: Option<String>,
    /// `ui`, `api`, `import`, `rule`, `sync`, `scheduler` or `cli`.
    pub source: Source,
    /// The change set it belongs to.
    pub change_set_id: Option<String>,
}

/// Filters for `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entity kind: `number`, `range`, `location`, `admin`, `api_token`, `auth`.
    pub entity: Option<String>,
    /// Entity id (with `entity`).
    pub entity_id: Option<String>,
    /// A number's history (any notation).
    pub number: Option<String>,
    /// Actor id or name.
    pub actor: Option<String>,
    /// Action, e.g. `number.update`.
    pub action: Option<String>,
    /// Source, e.g. `api`.
    #[cfg_attr(feature = "openapi", param(value_type = Option<domain::Source>))]
    pub source: Option<String>,
    /// At or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Before this instant (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// Paging for lists without other filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// A page of audit records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AuditList {
    /// Records, newest first.
    pub items: Vec<AuditRecord>,
    /// Next page's cursor, `null` at the end.
    pub next_cursor: Option<String>,
}

/// Liveness and readiness answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// `ok`, or `unavailable` with a reason.
    pub status: String,
    /// The database backend (`sqlite` or `postgres`).
    pub database: Option<String>,
}
