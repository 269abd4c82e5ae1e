//! The one way the app talks to the server: `fetch` on the same origin with the session
//! cookie, the CSRF header on every write, and the error envelope decoded into
//! [`ApiError`].
//!
//! The session token lives only in an HttpOnly cookie the server sets; scripts never see
//! it. The CSRF token is kept in memory here (never in storage), so a reload asks the
//! server for it again (`GET /api/v1/auth/session`).

use std::cell::RefCell;

use serde::{Serialize, de::DeserializeOwned};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCredentials, RequestInit, Response};

thread_local! {
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
    static ON_UNAUTHENTICATED: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
}

/// The cookie session as `POST`/`GET /api/v1/auth/session` answer it (the server's type).
pub use api_types::SessionInfo as Session;

/// A failed call: the server's error envelope, or a network failure (`status` 0).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status; 0 when the server was not reached.
    pub status: u16,
    /// Stable snake_case code (`number_reserved`, …); `network` when unreachable.
    pub code: String,
    /// The sentence to show.
    pub message: String,
    /// Structured context (`field`, `reservation`, `available_from`, …).
    pub details: serde_json::Value,
}

impl ApiError {
    fn network(what: &str) -> Self {
        ApiError {
            status: 0,
            code: "network".into(),
            message: format!(
                "The server could not be reached ({what}). Check the connection and try again."
            ),
            details: serde_json::Value::Null,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Remembers the CSRF token of a fresh or restored session (or forgets it on logout).
pub fn set_csrf(token: Option<String>) {
    CSRF.with(|c| *c.borrow_mut() = token);
}

/// What to do when any call answers 401: the app goes back to the login screen.
pub fn on_unauthenticated(f: impl Fn() + 'static) {
    ON_UNAUTHENTICATED.with(|h| *h.borrow_mut() = Some(Box::new(f)));
}

/// `path?query` from one of api-types' query structs (`None` fields are left out).
pub fn with_query<Q: Serialize>(path: &str, query: &Q) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path.to_string(),
    }
}

/// Percent-encodes one path segment (an E.164 number's `+` and `;ext=`).
pub fn segment(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// `GET path`, decoded as `T`.
pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    decode(call("GET", path, None, None, None).await)
}

/// `GET path` as text, for a screen that decodes it itself: one compiled path for every
/// paged list (`pages::estate`) instead of a request per list type.
pub async fn get_text(path: &str) -> Result<String, ApiError> {
    call("GET", path, None, None, None).await.map(|r| r.1)
}

/// An answer's text decoded as `T`.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| bad_response(200, &e))
}

/// `DELETE path`, with `If-Match` on `version` when given.
pub async fn delete(path: &str, version: Option<i64>) -> Result<(), ApiError> {
    call("DELETE", path, None, None, version).await.map(|_| ())
}

/// `GET path`, decoded as `T`, with the version its `ETag` gives (for `If-Match`, where
/// the wire type carries none, as with admin accounts).
pub async fn get_versioned<T: DeserializeOwned>(path: &str) -> Result<(T, Option<i64>), ApiError> {
    let answer = call("GET", path, None, None, None).await;
    let version = answer.as_ref().ok().and_then(|a| a.2);
    decode(answer).map(|v| (v, version))
}

/// A write with a JSON body (or none), decoded as `T` (`()` for an empty answer).
pub async fn send<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&B>,
) -> Result<T, ApiError> {
    let body = json(body)?;
    decode(call(method, path, body, Some("application/json"), None).await)
}

/// A write (with a JSON body, or none) guarded by `If-Match` on the version the screen
/// showed: a change made meanwhile by someone else is a 412, never silently overwritten.
pub async fn send_if_match<B: Serialize, T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: Option<&B>,
    version: i64,
) -> Result<T, ApiError> {
    let body = json(body)?;
    decode(call(method, path, body, Some("application/json"), Some(version)).await)
}

/// A write whose body is a file or text of the given content type (an import's CSV).
pub async fn send_raw<T: DeserializeOwned>(
    method: &str,
    path: &str,
    body: JsValue,
    content_type: &str,
) -> Result<T, ApiError> {
    decode(call(method, path, Some(body), Some(content_type), None).await)
}

// The generic functions above stay a few lines each: everything that does not depend on
// the type (the request, the error envelope, the 401 hook) is in `call`, compiled once
// rather than once per response type.

fn json<B: Serialize>(body: Option<&B>) -> Result<Option<JsValue>, ApiError> {
    match body {
        Some(b) => serde_json::to_string(b)
            .map(|s| Some(JsValue::from(s)))
            .map_err(|e| ApiError::network(&e.to_string())),
        None => Ok(None),
    }
}

fn decode<T: DeserializeOwned>(answer: Result<Reply, ApiError>) -> Result<T, ApiError> {
    let (status, text, _) = answer?;
    let text = if text.trim().is_empty() {
        "null"
    } else {
        text.as_str()
    };
    serde_json::from_str(text).map_err(|e| bad_response(status, &e))
}

fn bad_response(status: u16, e: &serde_json::Error) -> ApiError {
    ApiError {
        status,
        code: "bad_response".into(),
        message: format!("The server's answer was not understood ({e})."),
        details: serde_json::Value::Null,
    }
}

/// A 2xx answer: its status, body and the version its `ETag` names.
type Reply = (u16, String, Option<i64>);

/// A request under way: its reply, or the refusal.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, ApiError>>>>;

/// The request; a 2xx answers its status and body, anything else the decoded refusal.
/// Boxed, so its state machine is not copied into each caller's.
fn call(
    method: &str,
    path: &str,
    body: Option<JsValue>,
    content_type: Option<&str>,
    version: Option<i64>,
) -> Answer {
    let (method, path, content_type) = (
        method.to_string(),
        path.to_string(),
        content_type.map(str::to_string),
    );
    Box::pin(
        async move { call_inner(&method, &path, body, content_type.as_deref(), version).await },
    )
}

async fn call_inner(
    method: &str,
    path: &str,
    body: Option<JsValue>,
    content_type: Option<&str>,
    version: Option<i64>,
) -> Result<Reply, ApiError> {
    let tag = version.map(|v| format!("\"{v}\""));
    let extra: &[(&str, &str)] = match &tag {
        Some(t) => &[("If-Match", t.as_str())],
        None => &[],
    };
    let (status, text, etag) = raw(method, path, body, content_type, extra).await?;
    if (200..300).contains(&status) {
        return Ok((status, text, etag));
    }
    let err = match serde_json::from_str::<api_types::ErrorBody>(&text) {
        Ok(b) => ApiError {
            status,
            code: b.error.code,
            message: b.error.message,
            details: b.error.details,
        },
        Err(_) => ApiError {
            status,
            code: "http_error".into(),
            message: format!("The server answered {status}."),
            details: serde_json::Value::Null,
        },
    };
    // A 401 anywhere but on the session check itself means the session ended.
    if status == 401 && !path.starts_with("/api/v1/auth/session") {
        ON_UNAUTHENTICATED.with(|h| {
            if let Some(f) = h.borrow().as_ref() {
                f()
            }
        });
    }
    Err(err)
}

async fn raw(
    method: &str,
    path: &str,
    body: Option<JsValue>,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<Reply, ApiError> {
    let headers = Headers::new().map_err(|_| ApiError::network("headers"))?;
    for (k, v) in extra {
        let _ = headers.set(k, v);
    }
    let _ = headers.set("Accept", "application/json");
    if let (Some(ct), true) = (content_type, body.is_some()) {
        let _ = headers.set("Content-Type", ct);
    }
    if method != "GET"
        && let Some(token) = CSRF.with(|c| c.borrow().clone())
    {
        let _ = headers.set("X-Telestate-CSRF", &token);
    }
    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers);
    init.set_credentials(RequestCredentials::SameOrigin);
    if let Some(b) = &body {
        init.set_body(b);
    }
    let req =
        Request::new_with_str_and_init(path, &init).map_err(|_| ApiError::network("request"))?;
    let window = web_sys::window().ok_or_else(|| ApiError::network("window"))?;
    let resp: Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|_| ApiError::network("fetch failed"))?
        .unchecked_into();
    let text = JsFuture::from(resp.text().map_err(|_| ApiError::network("body"))?)
        .await
        .map_err(|_| ApiError::network("body"))?
        .as_string()
        .unwrap_or_default();
    // `"7"` (or `W/"7"`) → 7.
    let etag = resp
        .headers()
        .get("ETag")
        .ok()
        .flatten()
        .and_then(|t| t.trim_start_matches("W/").trim_matches('"').parse().ok());
    Ok((resp.status(), text, etag))
}
