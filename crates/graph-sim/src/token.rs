//! The Microsoft identity platform token endpoint, client-credentials grant only
//! (contract §1). Tokens are opaque random strings mapped to an expiry, not JWTs: a client
//! must treat them as opaque anyway.

use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use serde_json::json;

use crate::http::{Body, Reply};
use crate::state::{AccessToken, State, Tenant};

/// The only scope the client-credentials grant accepts for Graph (contract §1.1).
const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

pub(crate) fn handle(
    tenant: &Tenant,
    req: &HttpRequest,
    method: &str,
    tenant_segment: &str,
    body: &[u8],
) -> Reply {
    let mut state = tenant.lock();
    *state
        .stats
        .requests
        .entry(format!("{method} /{{tenant}}/oauth2/v2.0/token"))
        .or_insert(0) += 1;
    if method != "POST" {
        return aad_error(
            &mut state,
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    if !tenant_segment.eq_ignore_ascii_case(&state.config.tenant_id) {
        // [U] status and error (contract §1.3 table); the message is the observed one.
        return aad_error(
            &mut state,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (basic_id, basic_secret) = basic_credentials(req).unzip();
    let client_id = basic_id.or_else(|| field("client_id"));
    let secret = basic_secret.or_else(|| field("client_secret"));
    let Some(grant_type) = field("grant_type") else {
        return missing(&mut state, "grant_type");
    };
    if let Some(id) = &client_id
        && let Some(reply) =
            crate::http::early_retry(&mut state, &format!("client:{id}"), None, Instant::now())
    {
        return reply;
    }
    let faults = state.config.faults.clone();
    if state.roll(faults.token_error_rate) {
        // A transient failure with Retry-After, as AAD sends when it sheds load [U]; a
        // permanent-looking invalid_client would make a correct client give up, which is
        // not what a transient fault should test.
        let secs = faults.effective_retry_after_secs();
        if let Some(id) = &client_id {
            state.retry_after.insert(
                format!("client:{id}"),
                Instant::now() + Duration::from_secs(secs),
            );
        }
        return aad_error(
            &mut state,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        )
        .header("Retry-After", secs.to_string());
    }
    if grant_type != "client_credentials" {
        return aad_error(
            &mut state,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    let Some(client_id) = client_id else {
        return missing(&mut state, "client_id");
    };
    if client_id != state.config.client_id {
        // [U] status and error, contract §1.3.
        let t = state.config.tenant_id.clone();
        return aad_error(
            &mut state,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{t}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        );
    }
    if secret.as_deref() != Some(state.config.client_secret.as_str()) {
        return aad_error(
            &mut state,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
        );
    }
    let Some(scope) = field("scope") else {
        return missing(&mut state, "scope");
    };
    if scope != GRAPH_DEFAULT_SCOPE {
        return aad_error(
            &mut state,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    }
    let raw: [u8; 48] = state.rng.random();
    let token = URL_SAFE_NO_PAD.encode(raw);
    let lifetime = state.config.token_lifetime;
    let now = Instant::now();
    state.tokens.retain(|_, t| t.expires > now);
    let roles = state.config.granted_roles.clone();
    state.tokens.insert(
        token.clone(),
        AccessToken {
            expires: now + lifetime,
            roles,
        },
    );
    state.stats.tokens_issued += 1;
    Reply::ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    }))
}

/// RFC 6749 §2.3.1: both parts are form-urlencoded before the Basic encoding.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn missing(state: &mut State, name: &str) -> Reply {
    aad_error(
        state,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// The AAD error body of contract §1.3.
fn aad_error(
    state: &mut State,
    status: StatusCode,
    error: &str,
    code: u32,
    message: &str,
) -> Reply {
    let trace = state.guid();
    let correlation = state.guid();
    let timestamp = state.now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    Reply {
        status,
        body: Body::Json(json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        })),
        headers: Vec::new(),
    }
}
