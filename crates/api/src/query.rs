//! A query-string extractor whose errors name the offending parameter (`limit`, `since`),
//! in the API's error envelope. actix's own `web::Query` reports serde's message only.

use api_types::ErrorCode;
use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Query parameters, or why they could not be read. Like [`crate::json::Json`], the error
/// waits for the handler so that authentication answers first.
pub struct Query<T>(Result<T, ApiError>);

impl<T> Query<T> {
    /// The parameters, or the 400 naming the bad one.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

/// Parses a query string, naming the parameter on failure.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // No database stores NUL inside text (PostgreSQL refuses it): say so, naming the parameter.
    if let Some((name, _)) =
        form_urlencoded::parse(query.as_bytes()).find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(ApiError::invalid(
            ErrorCode::InvalidQuery,
            name.replace('\0', ""),
            "must not contain NUL characters",
        ));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = if path == "." {
            // "unknown field `x`" and "missing field `x`" name it in the message.
            inner.split('`').nth(1).map(str::to_string)
        } else {
            Some(path)
        };
        let message = match &field {
            Some(f) => format!("{f}: {inner}"),
            None => format!("the query string is not valid: {inner}"),
        };
        ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            field,
            message,
        }
    })
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Query(parse(req.query_string()))))
    }
}
