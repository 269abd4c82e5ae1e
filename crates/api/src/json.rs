//! A JSON body extractor whose errors name the offending field by its path
//! (`items[3].number`), in the API's error envelope. actix's own `web::Json` reports
//! serde's message only, which rarely says which field was wrong.

use api_types::ErrorCode;
use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body accepted (a batch of 10,000 numbers fits comfortably).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A JSON request body, or why it could not be read.
///
/// Extraction itself never fails: actix runs extractors side by side, and a malformed body
/// must not answer 400 before `Authorized` has answered 401/403. The handler, already
/// authorized, gets the error from [`Json::into_inner`].
pub struct Json<T>(Result<T, ApiError>);

impl<T> Json<T> {
    /// The body, or the 400/413/415 describing what is wrong with it.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    let ct = req.content_type();
    ct == "application/json" || ct.ends_with("+json")
}

/// The field serde named in a message like "missing field `name`", if any.
fn quoted_field(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_string())
}

fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let field = if path == "." {
        quoted_field(&inner.to_string())
    } else {
        Some(path)
    };
    let message = match &field {
        Some(f) => format!("{f}: {inner}"),
        None => format!("the body is not valid JSON of the expected shape: {inner}"),
    };
    ApiError::BadRequest {
        code: ErrorCode::InvalidJson,
        field,
        message,
    }
}

/// Deserialises a body, naming the offending field by its path on failure.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(path_error)
}

/// Deserialises an already-parsed body (for bodies with alternative shapes).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

/// A body that may be left out entirely (empty): then `T::default()`.
pub fn decode_optional<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    bytes: &[u8],
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !is_json(req) {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    decode(bytes)
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move { Ok(Json(read(json, body).await)) })
    }
}

async fn read<T: DeserializeOwned>(
    json: bool,
    body: <web::Bytes as FromRequest>::Future,
) -> Result<T, ApiError> {
    if !json {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    let bytes = body
        .await
        .map_err(|e| match e.as_response_error().status_code().as_u16() {
            413 => {
                ApiError::PayloadTooLarge(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
            }
            _ => ApiError::BadRequest {
                code: ErrorCode::InvalidJson,
                field: None,
                message: format!("the body could not be read: {e}"),
            },
        })?;
    decode(&bytes)
}
