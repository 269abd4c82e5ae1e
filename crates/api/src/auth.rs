//! Authentication and authorization, in one place for every route.
//!
//! A handler states the action it performs by the extractor it takes —
//! `Authorized<Read>`, `Authorized<Operate>`, `Authorized<Manage>`, `Authorized<Govern>` —
//! and the extractor authenticates the bearer token (a JWT from login, or an API token),
//! checks the role, and hands the handler a [`Permit`] that store writes require. Scope is
//! applied by the store's queries using that permit.
//!
//! Two ways to present a login token: `Authorization: Bearer` (scripts, integrations), or
//! the `HttpOnly` cookie [`SESSION_COOKIE`] that `POST /api/v1/auth/session` sets for the
//! web app. A bearer always wins and needs nothing more. A browser sends cookies on
//! requests that other sites make it send, so a cookie-authenticated request that changes
//! state (any method but GET, HEAD, OPTIONS, TRACE) must also carry [`CSRF_HEADER`] equal
//! to the session's own CSRF token — a random `csrf` claim inside the signed token, which
//! only the page that logged in was told (403 `csrf_failed` otherwise).

use api_types::ErrorCode;
use std::{future::Future, marker::PhantomData, pin::Pin};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    dev::Payload,
    http::{Method, header},
    web,
};
use chrono::Utc;
use domain::{Action, Permit, Principal, Source};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{AppState, error::ApiError, observe::RequestId};

/// The HMAC keys for login tokens. The key is derived from `TELESTATE_SECRET_KEY` and a
/// salt in the database (`store::settings::jwt_signing_key`), so every instance with the
/// same secret agrees and the database alone does not sign tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_seconds: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    iss: String,
    /// The account's credential version when the token was issued; a token whose
    /// version is not the account's current one is refused.
    ver: i64,
    /// The session's CSRF token (random, base64url); absent from tokens issued before
    /// cookie sessions existed, which then cannot change anything through a cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
}

/// The cookie holding a browser's login token (`HttpOnly`, so page scripts never see it).
pub const SESSION_COOKIE: &str = "telestate_session";
/// The header a cookie-authenticated state-changing request carries its CSRF token in.
pub const CSRF_HEADER: &str = "X-Telestate-CSRF";

const ISSUER: &str = "telestate";

/// A verified login token: whose, issued at which credential version, valid until when.
#[derive(Debug, Clone)]
pub struct Session {
    admin_id: i64,
    version: i64,
    expires_at: i64,
    csrf: Option<String>,
}

impl Session {
    /// The session's CSRF token, if the token carries one.
    pub fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }

    /// When the token expires, as a Unix time.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// A freshly signed login token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// Seconds it lives.
    pub expires_in: i64,
    /// When it expires, as a Unix time.
    pub expires_at: i64,
    /// Its CSRF token (for the cookie session's answer).
    pub csrf: String,
}

impl JwtKeys {
    /// Keys from the signing key; tokens live `ttl_seconds`.
    pub fn new(key: &[u8], ttl_seconds: i64) -> Self {
        JwtKeys {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            ttl_seconds,
        }
    }

    /// Seconds a login token lives (the cookie's `Max-Age`).
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl_seconds
    }

    /// Issues a token for an admin account at its current credential version, with a
    /// fresh CSRF token of its own.
    pub fn issue(&self, admin_id: i64, credential_version: i64) -> Result<Issued, ApiError> {
        use base64::Engine as _;
        let now = Utc::now().timestamp();
        let csrf =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
        let claims = Claims {
            sub: admin_id.to_string(),
            iat: now,
            exp: now + self.ttl_seconds,
            iss: ISSUER.into(),
            ver: credential_version,
            csrf: Some(csrf.clone()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing a token failed: {e}")))?;
        Ok(Issued {
            token,
            expires_in: self.ttl_seconds,
            expires_at: claims.exp,
            csrf,
        })
    }

    /// The session a login token stands for, if it is ours, unexpired and well formed.
    pub fn verify(&self, token: &str) -> Option<Session> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.leeway = 5;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .ok()?
            .claims;
        Some(Session {
            admin_id: claims.sub.parse().ok()?,
            version: claims.ver,
            expires_at: claims.exp,
            csrf: claims.csrf,
        })
    }
}

/// What a caller authenticated with, so a long request (an event stream) can ask later
/// whether it still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A login token of this account, issued at this credential version.
    Session {
        /// The account.
        admin_id: i64,
        /// Its credential version in the token.
        version: i64,
        /// The token's expiry, as a Unix time.
        expires_at: i64,
    },
    /// An API token.
    Token {
        /// The token's id.
        id: i64,
    },
}

impl Credential {
    /// Seconds until the credential expires by itself, if it does.
    pub fn expires_in_seconds(&self) -> Option<i64> {
        match self {
            Credential::Session { expires_at, .. } => Some(expires_at - Utc::now().timestamp()),
            Credential::Token { .. } => None,
        }
    }
}

/// Asks the database (never the cache) whether `credential` still works: the account's
/// credential version is unchanged and the login token unexpired, or the API token is
/// neither revoked nor expired.
pub async fn still_holds(state: &AppState, credential: Credential) -> Result<bool, ApiError> {
    match credential {
        Credential::Session {
            admin_id, version, ..
        } => {
            if credential.expires_in_seconds().is_some_and(|s| s <= 0) {
                return Ok(false);
            }
            state
                .read(move |c| store::admins::session_holds(c, admin_id, version))
                .await
        }
        Credential::Token { id } => state.read(move |c| store::tokens::is_live(c, id)).await,
    }
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::Unauthenticated {
        code: ErrorCode::Unauthenticated,
        message: message.into(),
    }
}

/// How long a resolved caller is reused before the database is asked again. A change
/// made through this instance clears the cache at once; through another instance, a
/// changed password, role or scope, a deleted account or a revoked token takes effect
/// here within this time.
pub const PRINCIPAL_CACHE_SECONDS: u64 = 2;
const PRINCIPAL_CACHE_MAX: usize = 10_000;

/// Recently resolved callers, so a busy client costs one database lookup per
/// [`PRINCIPAL_CACHE_SECONDS`] instead of one per request.
#[derive(Default)]
pub struct PrincipalCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Caller)>>,
}

/// A resolved caller: who, and by which credential.
#[derive(Debug, Clone)]
struct Caller {
    principal: Principal,
    credential: Credential,
}

impl PrincipalCache {
    fn get(&self, key: &str) -> Option<Caller> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed().as_secs() < PRINCIPAL_CACHE_SECONDS)
            .map(|(_, p)| p.clone())
    }

    /// Forgets every cached caller; called after any change to accounts or tokens, so
    /// this instance applies it at once (others within the cache time).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn put(&self, key: String, caller: &Caller) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= PRINCIPAL_CACHE_MAX {
            entries.retain(|_, (at, _)| at.elapsed().as_secs() < PRINCIPAL_CACHE_SECONDS);
            if entries.len() >= PRINCIPAL_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (std::time::Instant::now(), caller.clone()));
    }
}

/// How a request presents its credential.
enum Presented {
    /// `Authorization: Bearer …`: a login JWT or an API token.
    Bearer(String),
    /// Every [`SESSION_COOKIE`] sent: login JWTs only (see [`session_of`]).
    Cookie(Vec<String>),
    /// Nothing.
    Nothing,
}

fn presented(req: &HttpRequest) -> Presented {
    let cookies = session_cookies(req);
    match bearer(req) {
        Some(token) => Presented::Bearer(token),
        None if !cookies.is_empty() => Presented::Cookie(cookies),
        None => Presented::Nothing,
    }
}

/// The distinct values of the [`SESSION_COOKIE`]s the request sends. A browser sends
/// several when another site of the same domain set one with another path or domain,
/// in an order the planter can choose (longest path first), so none is trusted for its
/// place and none is left out: capping the list would let planted cookies push the real
/// one past the cap. (The request's header size bounds the work.) The header is read
/// as bytes, so a planted cookie that is not UTF-8 costs only itself.
fn session_cookies(req: &HttpRequest) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let pairs = req
        .headers()
        .get_all(header::COOKIE)
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'));
    for pair in pairs {
        let Some(value) = pair
            .trim_ascii()
            .strip_prefix(SESSION_COOKIE.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"="))
        else {
            continue;
        };
        let Ok(value) = std::str::from_utf8(value) else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        if !value.is_empty() && !out.iter().any(|v| v == value) {
            out.push(value.to_string());
        }
    }
    out
}

/// The session that the request's session cookies name. A cookie that does not verify
/// is passed over, so a planted junk cookie cannot shadow the real one; two that verify
/// and differ are refused, since which login the person meant cannot be told (a
/// planted session of the attacker's own would otherwise make the victim act as them).
fn session_of(state: &AppState, tokens: &[String]) -> Result<Session, ApiError> {
    let mut found: Option<Session> = None;
    for token in tokens {
        let Some(session) = state.jwt.verify(token) else {
            continue;
        };
        // The values are distinct (`session_cookies`): a second valid one is another login.
        if found.is_some() {
            return Err(unauthenticated(
                "the request sends several valid session cookies (one may have been planted by another site of this domain); clear this site's cookies and log in again",
            ));
        }
        found = Some(session);
    }
    found.ok_or_else(|| {
        unauthenticated(
            "the session cookie is invalid or expired; log in again with POST /api/v1/auth/session",
        )
    })
}

/// Methods that change nothing, so a cookie alone authenticates them.
fn is_safe(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

/// Equality that takes the same time wherever the first difference lies.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a cookie-authenticated state-changing request's [`CSRF_HEADER`] against the
/// session's own token.
fn check_csrf(session: &Session, sent: Option<&str>) -> Result<(), ApiError> {
    let ok = match (session.csrf(), sent) {
        (Some(expected), Some(sent)) => same_secret(expected.as_bytes(), sent.trim().as_bytes()),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        code: ErrorCode::CsrfFailed,
        message: format!(
            "a request authenticated by the session cookie that changes state must send the {CSRF_HEADER} header with the session's csrf_token (from POST or GET /api/v1/auth/session)"
        ),
    })
}

/// Resolves a session cookie's token to the session and its caller: the token verifies
/// and its account still holds that credential version. `GET /api/v1/auth/session` uses it.
pub async fn cookie_session(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<Session, ApiError> {
    let tokens = session_cookies(req);
    if tokens.is_empty() {
        return Err(unauthenticated(
            "no session cookie: log in with POST /api/v1/auth/session",
        ));
    }
    let session = session_of(state, &tokens)?;
    authenticate_session(state.clone(), session.clone()).await?;
    Ok(session)
}

/// Resolves the credential a request presents to a principal; a cookie on a
/// state-changing request must come with its CSRF token.
async fn authenticate(
    state: web::Data<AppState>,
    presented: Presented,
    safe: bool,
    csrf: Option<String>,
) -> Result<Caller, ApiError> {
    let token = match presented {
        Presented::Bearer(token) => token,
        Presented::Cookie(tokens) => {
            let session = session_of(&state, &tokens)?;
            if !safe {
                check_csrf(&session, csrf.as_deref())?;
            }
            return authenticate_session(state, session).await;
        }
        Presented::Nothing => {
            return Err(unauthenticated(
                "send Authorization: Bearer <token> (from POST /api/v1/auth/login, or an API token), or log in with POST /api/v1/auth/session for a session cookie",
            ));
        }
    };
    if token.starts_with(store::secrets::TOKEN_PREFIX) {
        // Keyed by the token's hash: the secret itself is never kept in memory longer than the request.
        let key = format!("token:{}", store::secrets::token_hash(&token));
        if let Some(c) = state.principals.get(&key) {
            return Ok(c);
        }
        let found = state
            .read(move |c| store::tokens::authenticate(c, &token))
            .await?;
        let (record, due) =
            found.ok_or_else(|| unauthenticated("the API token is unknown, revoked or expired"))?;
        if due {
            let id = record.id;
            // Best effort: a busy database must not fail the request that merely used a token.
            if let Err(e) = state.write(move |c| store::tokens::touch(c, id)).await {
                tracing::debug!(token.id = id, error = %e, "could not record token use");
            }
        }
        let caller = Caller {
            principal: record.principal()?,
            credential: Credential::Token { id: record.id },
        };
        state.principals.put(key, &caller);
        return Ok(caller);
    }
    let session = state
        .jwt
        .verify(&token)
        .ok_or_else(|| unauthenticated("the token is invalid or expired; log in again"))?;
    authenticate_session(state, session).await
}

/// Resolves a verified login token to its account, if the account still exists at the
/// token's credential version.
async fn authenticate_session(
    state: web::Data<AppState>,
    session: Session,
) -> Result<Caller, ApiError> {
    // The version is part of the key: a token of an older version never hits the cache
    // entry of a newer one.
    let key = format!("admin:{}:{}", session.admin_id, session.version);
    if let Some(c) = state.principals.get(&key) {
        return Ok(c);
    }
    let admin_id = session.admin_id;
    let admin = state
        .read(move |c| store::admins::get(c, admin_id))
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => unauthenticated("the account no longer exists"),
            other => other,
        })?;
    if admin.credential_version != session.version {
        return Err(unauthenticated(
            "the session ended because the account's password, role or scope changed; log in again",
        ));
    }
    let caller = Caller {
        principal: admin.principal()?,
        credential: Credential::Session {
            admin_id,
            version: session.version,
            expires_at: session.expires_at,
        },
    };
    state.principals.put(key, &caller);
    Ok(caller)
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The source a client claims with `X-Telestate-Source`: `ui` or, for anything else or
/// nothing, `api`. Only a login session (the web app) keeps `ui` (see `from_request`); the
/// other sources (import, rule, sync, scheduler, cli) are set by Telestate itself and can
/// never be claimed.
fn source(req: &HttpRequest) -> Source {
    match req
        .headers()
        .get("x-telestate-source")
        .and_then(|v| v.to_str().ok())
    {
        Some(s) if s.eq_ignore_ascii_case("ui") => Source::Ui,
        _ => Source::Api,
    }
}

/// A kind of action a route performs; see [`Authorized`].
pub trait RouteAction {
    /// The domain action checked against the caller's role.
    const ACTION: Action;
}

/// Reading what is in scope (any role).
pub struct Read;
/// Day-to-day number work (operator and above).
pub struct Operate;
/// Structural changes (admin and above).
pub struct Manage;
/// Accounts, tokens and settings (owner).
pub struct Govern;

impl RouteAction for Read {
    const ACTION: Action = Action::Read;
}
impl RouteAction for Operate {
    const ACTION: Action = Action::Operate;
}
impl RouteAction for Manage {
    const ACTION: Action = Action::Manage;
}
impl RouteAction for Govern {
    const ACTION: Action = Action::Govern;
}

/// An authenticated caller whose role allows action `A`.
pub struct Authorized<A> {
    /// Proof of authorization, carrying actor, scope, source and request id.
    pub permit: Permit,
    /// The caller.
    pub principal: Principal,
    /// What the caller authenticated with (an event stream re-checks it).
    pub credential: Credential,
    _action: PhantomData<A>,
}

impl<A: RouteAction> FromRequest for Authorized<A> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = presented(req);
        let safe = is_safe(req.method());
        let csrf = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let source = source(req);
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let Caller {
                principal,
                credential,
            } = authenticate(state, presented, safe, csrf).await?;
            // An API token is an integration, whatever it says it is.
            let source = match principal.actor.kind {
                domain::ActorKind::Admin => source,
                _ => Source::Api,
            };
            let permit = Permit::authorize(&principal, A::ACTION, source, request_id)?;
            Ok(Authorized {
                permit,
                principal,
                credential,
                _action: PhantomData,
            })
        })
    }
}

/// When the session cookie carries `Secure` (`TELESTATE_COOKIE_SECURE`).
///
/// A browser never sends a `Secure` cookie over plain http and may refuse to store one
/// received over it (Chromium and Firefox make an exception for `localhost` and
/// `127.0.0.1`; Safari does not), so `Auto` adds it exactly when the browser reached us
/// over https: a TLS connection, or a proxy saying so (`X-Forwarded-Proto: https`,
/// `Forwarded: proto=https`). Behind a TLS proxy that says nothing, use `Always`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CookieSecure {
    /// `Secure` when the request came over https (the default).
    #[default]
    Auto,
    /// Always `Secure`.
    Always,
    /// Never `Secure` (plain-http deployments reached by name from another machine).
    Never,
}

impl std::str::FromStr for CookieSecure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(CookieSecure::Auto),
            "always" | "on" | "true" => Ok(CookieSecure::Always),
            "never" | "off" | "false" => Ok(CookieSecure::Never),
            _ => Err("use auto, always or never".into()),
        }
    }
}

impl CookieSecure {
    /// Whether the cookie for this request is `Secure`.
    fn applies(self, req: &HttpRequest) -> bool {
        match self {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => req.connection_info().scheme() == "https",
        }
    }
}

/// The `Set-Cookie` value that stores `token` for `max_age` seconds (0: removes it).
/// `Path=/api`: the cookie goes to the API (and the event stream) only, never with the
/// app's files; `SameSite=Strict`: other sites cannot make the browser send it.
pub fn session_cookie_header(
    req: &HttpRequest,
    secure: CookieSecure,
    token: &str,
    max_age: i64,
) -> String {
    let mut cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/api; Max-Age={}",
        max_age.max(0)
    );
    if secure.applies(req) {
        cookie.push_str("; Secure");
    }
    cookie
}
