//! One entry point for every request: it routes by hand (so 404 and 405 come in Graph's
//! envelope and `operations('ID')` needs no router tricks), then applies what Graph applies
//! to every call: request ids, bearer check, throttling and other faults, latency.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::state::Tenant;

/// Content type of real Graph JSON responses (contract §6.1 \[O\]).
const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// What a handler answers, rendered (with the request's ids) by [`render`].
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
}

pub(crate) enum Body {
    Empty,
    Json(Value),
    /// JSON already serialized, for big pages written straight from borrowed state.
    Raw(Vec<u8>),
    /// Graph's error envelope; `inner` adds fields to `innerError` (contract §6.1).
    GraphError {
        code: String,
        message: String,
        inner: Vec<(&'static str, Value)>,
    },
}

impl Reply {
    pub(crate) fn json(status: StatusCode, v: Value) -> Reply {
        Reply {
            status,
            body: Body::Json(v),
            headers: Vec::new(),
        }
    }

    /// A 200 with `v` serialized now (while the caller still holds the borrowed state).
    pub(crate) fn ok_serialized(v: &impl serde::Serialize) -> Reply {
        match serde_json::to_vec(v) {
            Ok(bytes) => Reply {
                status: StatusCode::OK,
                body: Body::Raw(bytes),
                headers: Vec::new(),
            },
            Err(e) => Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                e.to_string(),
            ),
        }
    }

    pub(crate) fn ok(v: Value) -> Reply {
        Reply::json(StatusCode::OK, v)
    }

    pub(crate) fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: Body::Empty,
            headers: Vec::new(),
        }
    }

    pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: Body::GraphError {
                code: code.to_owned(),
                message: message.into(),
                inner: Vec::new(),
            },
            headers: Vec::new(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Reply {
        Reply::error(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// What every handler knows about the request it answers.
pub(crate) struct Ctx {
    pub request_id: String,
    pub client_request_id: Option<String>,
    /// "http://host:port", from the request's Host, so links point back at this server.
    pub origin: String,
    /// "v1.0" or "beta" for Graph routes.
    pub version: &'static str,
    pub query: Vec<(String, String)>,
    /// The query string as received, for a link back to this very request.
    pub raw_query: String,
    pub prefer_minimal: bool,
}

impl Ctx {
    /// "http://host:port/v1.0".
    pub(crate) fn root(&self) -> String {
        format!("{}/{}", self.origin, self.version)
    }

    /// The value of a query option; OData option names are case-insensitive.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The single actix handler behind every path.
pub(crate) async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    tenant: web::Data<Tenant>,
) -> HttpResponse {
    let path = percent_decode(req.path());
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut ctx = Ctx {
        request_id: tenant.lock().guid(),
        client_request_id: req
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        origin: format!("http://{}", req.connection_info().host()),
        version: "v1.0",
        query: form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect(),
        raw_query: req.query_string().to_owned(),
        prefer_minimal: req
            .headers()
            .get_all("prefer")
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("return=minimal")),
    };
    let method = req.method().as_str().to_owned();
    match segments.first().copied() {
        Some("_sim") => {
            let reply = crate::admin::handle(&tenant, &method, &segments[1..], &ctx, &body);
            render(&ctx, reply)
        }
        Some(v @ ("v1.0" | "beta")) => {
            ctx.version = if v == "beta" { "beta" } else { "v1.0" };
            graph(&tenant, &req, &method, &segments[1..], &ctx, &body).await
        }
        _ if segments.len() == 4 && segments[1..] == ["oauth2", "v2.0", "token"] => {
            let reply = crate::token::handle(&tenant, &req, &method, segments[0], &body);
            let mut response = render(&ctx, reply);
            if response.headers().contains_key(CONTENT_TYPE) {
                // The identity platform is not an OData service.
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
            }
            *tenant
                .lock()
                .stats
                .responses
                .entry(response.status().as_u16())
                .or_insert(0) += 1;
            response
        }
        _ => render(
            &ctx,
            Reply::error(
                StatusCode::NOT_FOUND,
                "UnknownError",
                format!("No HTTP resource was found that matches '{path}'."),
            ),
        ),
    }
}

/// What the pre-handler checks decided.
enum Gate {
    Pass { slow: Duration, lose_response: bool },
    Stop(Reply),
}

async fn graph(
    tenant: &Tenant,
    req: &HttpRequest,
    method: &str,
    segs: &[&str],
    ctx: &Ctx,
    body: &[u8],
) -> HttpResponse {
    let route = crate::teams::route_of(segs).or_else(|| crate::directory::route_of(segs));
    let route_key = format!(
        "{method} {}",
        route.map_or("<unknown>".to_owned(), |r| r.template.to_owned())
    );
    let bearer = bearer_token(req);
    let signature = request_signature(method, req, body);
    let (gate, latency) = {
        let mut state = tenant.lock();
        state.settle();
        *state.stats.requests.entry(route_key).or_insert(0) += 1;
        let latency = state.config.latency;
        (
            gate(
                &mut state,
                bearer.as_deref(),
                route.map(|r| r.permissions),
                signature,
            ),
            latency,
        )
    };
    let reply = match gate {
        Gate::Stop(reply) => reply,
        Gate::Pass {
            slow,
            lose_response,
        } => {
            if !slow.is_zero() {
                tokio::time::sleep(slow).await;
            }
            let reply = match route {
                None => Reply::error(
                    StatusCode::NOT_FOUND,
                    "UnknownError",
                    format!(
                        "Resource not found for the segment '{}'.",
                        segs.first().copied().unwrap_or("")
                    ),
                ),
                Some(r) if !r.methods.contains(&method) => Reply::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Request_BadRequest",
                    "Specified HTTP method is not allowed for the request target.",
                ),
                Some(r) => (r.handler)(tenant, method, segs, ctx, body),
            };
            if lose_response {
                Reply::error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "UnknownError",
                    "The gateway timed out (injected fault; the request was carried out).",
                )
            } else {
                reply
            }
        }
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = render(ctx, reply);
    let mut state = tenant.lock();
    *state
        .stats
        .responses
        .entry(response.status().as_u16())
        .or_insert(0) += 1;
    response
}

/// Retry-After discipline, the bearer check, then injected faults, in that order: a client
/// that retries too early is told again whatever its token, and faults hit only calls that
/// would otherwise have been served.
fn gate(
    state: &mut crate::state::State,
    bearer: Option<&str>,
    permissions: Option<&[&str]>,
    signature: u64,
) -> Gate {
    let now = Instant::now();
    if let Some(token) = bearer
        && let Some(reply) = early_retry(state, token, Some(signature), now)
    {
        return Gate::Stop(reply);
    }
    let Some(token) = bearer else {
        return Gate::Stop(unauthorized("Access token is empty."));
    };
    match state.tokens.get(token) {
        None => return Gate::Stop(unauthorized("Invalid JWT token. The token is malformed.")),
        Some(t) if t.expires <= now => {
            return Gate::Stop(unauthorized(
                "Access token has expired or is not yet valid.",
            ));
        }
        Some(t) => {
            if let (Some(roles), Some(needed)) = (&t.roles, permissions)
                && !needed.iter().any(|p| roles.iter().any(|r| r == p))
            {
                return Gate::Stop(Reply::error(
                    StatusCode::FORBIDDEN,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                ));
            }
        }
    }
    let faults = state.config.faults.clone();
    let retry_after = faults.effective_retry_after_secs();
    if state.roll(faults.throttle_rate) {
        state.stats.throttled += 1;
        state
            .retry_after
            .insert(token.to_owned(), now + Duration::from_secs(retry_after));
        state
            .throttled_requests
            .insert((token.to_owned(), signature));
        return Gate::Stop(throttled(retry_after));
    }
    if state.roll(faults.server_error_rate) {
        let pick = state.rng_index(4);
        let (status, code) = match pick {
            0 => (StatusCode::INTERNAL_SERVER_ERROR, "generalException"),
            1 => (StatusCode::BAD_GATEWAY, "UnknownError"),
            2 => (StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable"),
            _ => (StatusCode::GATEWAY_TIMEOUT, "UnknownError"),
        };
        let mut reply = Reply::error(
            status,
            code,
            "The service is temporarily unavailable (injected fault).",
        );
        // errors.md: a 503 "may" carry Retry-After; half of them do.
        if status == StatusCode::SERVICE_UNAVAILABLE && state.roll(0.5) {
            state
                .retry_after
                .insert(token.to_owned(), now + Duration::from_secs(retry_after));
            state
                .throttled_requests
                .insert((token.to_owned(), signature));
            reply = reply.header("Retry-After", retry_after.to_string());
        }
        return Gate::Stop(reply);
    }
    let slow = if state.roll(faults.slow_rate) {
        faults.slow_delay
    } else {
        Duration::ZERO
    };
    let lose_response = state.roll(faults.lost_response_rate);
    Gate::Pass {
        slow,
        lose_response,
    }
}

/// A 429 for a principal still inside its `Retry-After` (throttling is per app, so every
/// request waits). Sending a request that was itself told to wait again before its time
/// is a violation; another request that was already on its way when the first was told
/// is throttled too but not counted (a client cannot recall what it already sent).
/// `signature` is `None` for the token endpoint, where every request is the same one.
pub(crate) fn early_retry(
    state: &mut crate::state::State,
    principal: &str,
    signature: Option<u64>,
    now: Instant,
) -> Option<Reply> {
    let until = *state.retry_after.get(principal)?;
    if until <= now {
        state.retry_after.remove(principal);
        state.throttled_requests.retain(|(p, _)| p != principal);
        return None;
    }
    let key = (principal.to_owned(), signature.unwrap_or(0));
    if signature.is_none() || state.throttled_requests.contains(&key) {
        state.stats.retry_after_violations += 1;
    }
    state.throttled_requests.insert(key);
    state.stats.throttled += 1;
    let remaining = (until - now).as_secs_f64().ceil().max(1.0) as u64;
    tracing::debug!(
        retry_after_secs = remaining,
        "request before Retry-After elapsed"
    );
    Some(throttled(remaining))
}

/// Identifies a request for Retry-After bookkeeping: method, path with query, and body.
fn request_signature(method: &str, req: &HttpRequest, body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    method.hash(&mut h);
    req.uri().path().hash(&mut h);
    req.uri().query().unwrap_or("").hash(&mut h);
    body.hash(&mut h);
    h.finish()
}

/// The 429 of contract §6.2.
pub(crate) fn throttled(retry_after: u64) -> Reply {
    Reply {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: Body::GraphError {
            code: "TooManyRequests".to_owned(),
            message: "Please retry again later.".to_owned(),
            inner: vec![
                ("code", json!("429")),
                ("message", json!("Please retry after")),
                ("status", json!("429")),
            ],
        },
        headers: vec![("Retry-After", retry_after.to_string())],
    }
}

fn unauthorized(message: &str) -> Reply {
    Reply::error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message).header(
        "WWW-Authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
    )
}

fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Turns a reply into the HTTP response, with `request-id` and the echoed `client-request-id`.
pub(crate) fn render(ctx: &Ctx, reply: Reply) -> HttpResponse {
    let mut builder = HttpResponse::build(reply.status);
    builder.insert_header(("request-id", ctx.request_id.as_str()));
    if let Some(c) = &ctx.client_request_id {
        builder.insert_header(("client-request-id", c.as_str()));
    }
    for (name, value) in &reply.headers {
        builder.insert_header((*name, value.as_str()));
    }
    let value = match reply.body {
        Body::Empty => return builder.finish(),
        Body::Json(v) => v,
        Body::Raw(bytes) => {
            return builder
                .insert_header(("content-type", GRAPH_JSON))
                .body(bytes);
        }
        Body::GraphError {
            code,
            message,
            inner,
        } => {
            let mut inner_error = serde_json::Map::new();
            inner_error.insert(
                "date".into(),
                json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()),
            );
            inner_error.insert("request-id".into(), json!(ctx.request_id));
            inner_error.insert(
                "client-request-id".into(),
                json!(ctx.client_request_id.as_deref().unwrap_or(&ctx.request_id)),
            );
            for (k, v) in inner {
                inner_error.insert(k.to_owned(), v);
            }
            json!({"error": {"code": code, "message": message, "innerError": inner_error}})
        }
    };
    match serde_json::to_vec(&value) {
        Ok(bytes) => builder
            .insert_header(("content-type", GRAPH_JSON))
            .body(bytes),
        Err(e) => {
            tracing::error!(error = %e, "serializing a simulator response");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Decodes %XX escapes in a path (not '+', which is literal in paths).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Graph route: its template for statistics, allowed methods and handler.
#[derive(Clone, Copy)]
pub(crate) struct Route {
    pub template: &'static str,
    /// Application permissions any one of which allows the call (contract §1.4).
    pub permissions: &'static [&'static str],
    pub methods: &'static [&'static str],
    pub handler: fn(&Tenant, &str, &[&str], &Ctx, &[u8]) -> Reply,
}

/// Who may read users (contract §1.4: least privileged first).
pub(crate) const USER_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Who may read groups and their members.
pub(crate) const GROUP_READ: &[&str] = &[
    "GroupMember.Read.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Who may read numbers and operations.
pub(crate) const TEAMS_NUMBER_READ: &[&str] = &[
    "TeamsTelephoneNumber.Read.All",
    "TeamsTelephoneNumber.ReadWrite.All",
];
/// Who may assign, unassign and update numbers (nothing lower, §1.4).
pub(crate) const TEAMS_NUMBER_WRITE: &[&str] = &["TeamsTelephoneNumber.ReadWrite.All"];
/// Who may read Teams user configurations.
pub(crate) const TEAMS_USER_CONFIG: &[&str] = &["TeamsUserConfiguration.Read.All"];

/// Compares path segments case-insensitively, as Graph does.
pub(crate) fn seg_eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl crate::state::State {
    /// A uniform index below `n` from the seeded generator.
    pub(crate) fn rng_index(&mut self, n: usize) -> usize {
        use rand::Rng;
        self.rng.random_range(0..n)
    }
}

/// Builds a query string the way Graph writes its links: `$` and OData punctuation kept
/// literal (`$skiptoken=`, not `%24skiptoken=`), everything else percent-encoded.
pub(crate) fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    fn escape(s: &str, out: &mut String) {
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~$,'()*:/@!".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        escape(k, &mut out);
        out.push('=');
        escape(v, &mut out);
    }
    out
}
