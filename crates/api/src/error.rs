//! The API's one error type and its JSON envelope.
//!
//! Every failure — ours, the store's, and actix's own extractor errors — leaves as
//! `{"error": {"code", "message", "details"}}` with a stable code (listed in
//! `api_types::ERROR_CODES`). Rule for bad input: anything the caller sent that we cannot
//! accept is a 400 whose `details.field` names the field; 422 is never used.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{PathError, QueryPayloadError},
    http::{StatusCode, header},
};
use api_types::ErrorCode;
use api_types::{ErrorBody, ErrorDetail};
use serde_json::{Value, json};
use store::StoreError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: bad input; `field` names it.
    #[error("{message}")]
    BadRequest {
        code: ErrorCode,
        field: Option<String>,
        message: String,
    },
    /// 401: no or bad credentials.
    #[error("{message}")]
    Unauthenticated { code: ErrorCode, message: String },
    /// 403: the role or scope does not allow it.
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    /// 404: no such object (or out of scope), or no such route.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with the current state.
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: String,
        details: Value,
    },
    /// 412: `If-Match` is stale.
    #[error("{message}")]
    PreconditionFailed { message: String, current: i64 },
    /// 413: body too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many failed logins.
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after_seconds: i64,
    },
    /// 429: as many costly requests of this kind run as are allowed at once.
    #[error("{message}")]
    Busy {
        message: String,
        retry_after_seconds: i64,
    },
    /// 503: the database is unreachable.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug; logged once here, shown only as a request id.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 naming a field.
    pub fn invalid(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        ApiError::BadRequest {
            code,
            message: format!("{field}: {}", message.into()),
            field: Some(field),
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthenticated { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. } => *code,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::PreconditionFailed { .. } => ErrorCode::PreconditionFailed,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            ApiError::Busy { .. } => ErrorCode::Busy,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The documented code the store's `word` names. The store keeps its codes as words
    /// (it does not depend on the wire crate); one the API does not document is a bug,
    /// answered as a 500 rather than with a code clients were never told about.
    fn store_code(word: &'static str) -> Result<ErrorCode, ApiError> {
        ErrorCode::from_word(word).ok_or_else(|| {
            ApiError::Internal(format!(
                "the store answered with the undocumented code {word}"
            ))
        })
    }

    fn details(&self) -> Value {
        match self {
            ApiError::BadRequest { field: Some(f), .. } => json!({ "field": f }),
            ApiError::Conflict { details, .. } if !details.is_null() => details.clone(),
            ApiError::PreconditionFailed { current, .. } => json!({ "current_version": current }),
            ApiError::TooManyAttempts {
                retry_after_seconds,
                ..
            }
            | ApiError::Busy {
                retry_after_seconds,
                ..
            } => json!({ "retry_after_seconds": retry_after_seconds }),
            _ => json!({}),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyAttempts { .. } | ApiError::Busy { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(detail) => {
                tracing::error!(error.detail = %detail, "internal error");
                "an unexpected error occurred; the request id in the X-Request-Id header identifies it in the logs".to_string()
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(error.detail = %detail, "database unavailable");
                "the database is unavailable; retry shortly".to_string()
            }
            other => other.to_string(),
        };
        let mut res = HttpResponse::build(self.status_code());
        if let ApiError::Unauthenticated { .. } = self {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::TooManyAttempts {
            retry_after_seconds,
            ..
        }
        | ApiError::Busy {
            retry_after_seconds,
            ..
        } = self
        {
            res.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
        }
        if let ApiError::Unavailable(_) = self {
            res.insert_header((header::RETRY_AFTER, "5"));
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code().as_str().to_string(),
                message,
                details: self.details(),
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, id } => {
                ApiError::NotFound(format!("{entity} '{id}' was not found"))
            }
            StoreError::Conflict {
                code,
                message,
                details,
            } => match ApiError::store_code(code) {
                Ok(code) => ApiError::Conflict {
                    code,
                    message,
                    details,
                },
                Err(e) => e,
            },
            StoreError::PlanRefused {
                reason,
                message,
                details,
            } => match ApiError::store_code(reason.code()) {
                Ok(code) => ApiError::Conflict {
                    code,
                    message,
                    details,
                },
                Err(e) => e,
            },
            StoreError::Invalid {
                code,
                field,
                message,
            } => match ApiError::store_code(code) {
                Ok(code) => ApiError::invalid(code, field, message),
                Err(e) => e,
            },
            StoreError::Forbidden { code, message } => match ApiError::store_code(code) {
                Ok(code) => ApiError::Forbidden { code, message },
                Err(e) => e,
            },
            e @ StoreError::Stale { current, .. } => ApiError::PreconditionFailed {
                message: e.to_string(),
                current,
            },
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<domain::Denied> for ApiError {
    fn from(e: domain::Denied) -> Self {
        ApiError::Forbidden {
            code: ErrorCode::Forbidden,
            message: e.to_string(),
        }
    }
}

/// Pulls the field name out of serde's messages ("unknown field `x`").
fn field_from_serde(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_string())
}

/// Maps actix's query-string errors into the envelope.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let msg = err.to_string();
    ApiError::BadRequest {
        code: ErrorCode::InvalidQuery,
        field: field_from_serde(&msg),
        message: format!("the query string is not valid: {msg}"),
    }
    .into()
}

/// Maps actix's path errors into the envelope.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest {
        code: ErrorCode::InvalidPath,
        field: None,
        message: format!("the path is not valid: {err}"),
    }
    .into()
}

/// The answer for routes that do not exist.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
