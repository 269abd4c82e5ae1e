//! Authentication and authorization, in one place for every route.
//!
//! A handler states the action it performs by the extractor it takes —
//! `Authorized<Read>`, `Authorized<Operate>`, `Authorized<Manage>`, `Authorized<Govern>` —
//! and the extractor authenticates the bearer token (a JWT from login, or an API token),
//! checks the role, and hands the handler a [`Permit`] that store writes require. Scope is
//! applied by the store's queries using that permit.

use api_types::ErrorCode;
use std::{future::Future, marker::PhantomData, pin::Pin};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, http::header, web};
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
}

const ISSUER: &str = "telestate";

/// A verified login token: whose, issued at which credential version, valid until when.
#[derive(Debug, Clone, Copy)]
struct Session {
    admin_id: i64,
    version: i64,
    expires_at: i64,
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

    /// Issues a token for an admin account at its current credential version.
    pub fn issue(&self, admin_id: i64, credential_version: i64) -> Result<(String, i64), ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: admin_id.to_string(),
            iat: now,
            exp: now + self.ttl_seconds,
            iss: ISSUER.into(),
            ver: credential_version,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|t| (t, self.ttl_seconds))
            .map_err(|e| ApiError::Internal(format!("signing a token failed: {e}")))
    }

    fn verify(&self, token: &str) -> Option<Session> {
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

/// Resolves the bearer token of a request to a principal.
async fn authenticate(
    state: web::Data<AppState>,
    bearer: Option<String>,
) -> Result<Caller, ApiError> {
    let token = bearer.ok_or_else(|| {
        unauthenticated(
            "send Authorization: Bearer <token> (from POST /api/v1/auth/login, or an API token)",
        )
    })?;
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
        let token = bearer(req);
        let source = source(req);
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let Caller {
                principal,
                credential,
            } = authenticate(state, token).await?;
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
