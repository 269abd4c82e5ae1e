//! The store's one error type. Database errors are classified once, here, so callers
//! match on meaning (not found, conflict, invalid) rather than on driver details.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::PlanStatus;
use serde_json::Value;

/// Why applying an import plan was refused (each a 409 with its own code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanRefusal {
    /// The plan has errors.
    HasErrors,
    /// The plan is past its expiry.
    Expired,
    /// The plan was applied before.
    AlreadyApplied,
    /// The plan is still being made.
    NotReady,
    /// Numbers in the plan changed since it was made.
    Stale,
}

impl PlanRefusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            PlanRefusal::HasErrors => "plan_has_errors",
            PlanRefusal::Expired => "plan_expired",
            PlanRefusal::AlreadyApplied => "plan_already_applied",
            PlanRefusal::NotReady => "plan_not_ready",
            PlanRefusal::Stale => "plan_stale",
        }
    }

    /// The status to remember on the plan after this refusal, so that later applies are
    /// refused at once; the refused transaction itself rolled back, so the caller writes
    /// it (with `imports::mark`) in a transaction of its own.
    pub fn marks_plan(self) -> Option<PlanStatus> {
        match self {
            PlanRefusal::Stale => Some(PlanStatus::Failed),
            PlanRefusal::Expired => Some(PlanStatus::Expired),
            PlanRefusal::HasErrors | PlanRefusal::AlreadyApplied | PlanRefusal::NotReady => None,
        }
    }
}

/// What went wrong in a store call, in terms an API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist, or lies outside the caller's scope.
    #[error("{entity} '{id}' was not found")]
    NotFound { entity: &'static str, id: String },
    /// The change conflicts with the current state; `code` is stable and machine-readable.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Value,
    },
    /// Applying an import plan was refused (409 with `reason`'s code).
    #[error("{message}")]
    PlanRefused {
        reason: PlanRefusal,
        message: String,
        details: Value,
    },
    /// Input that is well-formed but not acceptable; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        code: &'static str,
        field: String,
        message: String,
    },
    /// The caller may not do this to this object.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// An `If-Match` version no longer matches.
    #[error("the object changed since version {expected}; it is now at version {current}")]
    Stale { expected: i64, current: i64 },
    /// The database cannot be reached or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a broken database. Logged by the API, never shown in detail.
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// A conflict without details.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Invalid input in a named field.
    pub fn invalid(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        StoreError::Invalid {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A missing (or out-of-scope) object.
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        StoreError::NotFound {
            entity,
            id: id.to_string(),
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::NotFound => StoreError::NotFound {
                entity: "object",
                id: String::new(),
            },
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict {
                    code: "already_exists",
                    message: "an object with the same unique value already exists".into(),
                    details: serde_json::json!({ "constraint": info.constraint_name(), "detail": info.details() }),
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                StoreError::Conflict {
                    code: "in_use",
                    message:
                        "the object is referenced by others, or references one that does not exist"
                            .into(),
                    details: Value::Null,
                }
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                StoreError::conflict(
                    "concurrent_change",
                    "a concurrent change interfered; retry the request",
                )
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            // PostgreSQL refuses NUL characters in text; it is the caller's input, not our bug.
            DieselError::DatabaseError(_, info)
                if info.message().contains("invalid byte sequence") =>
            {
                StoreError::Invalid {
                    code: "invalid_field",
                    field: "input".into(),
                    message: "text must not contain NUL characters".into(),
                }
            }
            DieselError::DatabaseError(_, info)
                if info.message().contains("database is locked") =>
            {
                StoreError::Unavailable("the SQLite database is busy".into())
            }
            other => StoreError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// A closed-vocabulary word read back from column `column`. The database only ever holds
/// words the store wrote, so one that does not parse is a broken database: an internal
/// error, never a panic and never a guess.
pub(crate) fn stored<T>(column: &'static str, text: &str) -> StoreResult<T>
where
    T: std::str::FromStr<Err = domain::ParseEnumError>,
{
    text.parse()
        .map_err(|e| StoreError::Internal(format!("{column} holds an unknown word: {e}")))
}

/// Results of store calls.
pub type StoreResult<T> = Result<T, StoreError>;
