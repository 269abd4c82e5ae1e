//! Login (a bearer token, or the web app's cookie session) and "who am I".
//!
//! `login` and `create_session` check credentials through one function,
//! [`check_credentials`]: the same throttles, guess limit, answers and audit records.
//! They differ only in how the token leaves: in the body, or in an `HttpOnly` cookie the
//! page's scripts cannot read.

use actix_web::{HttpRequest, HttpResponse, delete, get, http::header, post, web};
use api_types::ErrorCode;
use api_types::{LoginRequest, LoginResponse, Me, ScopeBody, SessionInfo};
use chrono::{DateTime, Utc};
use domain::{ActorKind, CallerKind};
use store::admins::{Begin, Login, LoginAttempt};

use crate::{
    AppState,
    auth::{self, Authorized, Read},
    error::ApiError,
    json::Json,
    observe::RequestId,
    throttle,
};

/// Longest username a login accepts, in bytes (no account's name is longer).
const MAX_USERNAME_BYTES: usize = 400;

fn locked(until: chrono::NaiveDateTime) -> ApiError {
    // The same words for every username, existing or not.
    ApiError::TooManyAttempts {
        message: "too many failed logins from this address; retry later".into(),
        retry_after_seconds: (until.and_utc() - Utc::now()).num_seconds().max(1),
    }
}

/// Exchanges a username and password for a short-lived bearer token.
///
/// Wrong credentials answer 401 without saying which part was wrong, and an unknown
/// username is answered exactly like a wrong password. After five wrong passwords for a
/// username from one client address, that address is locked out for it for 30 s,
/// doubling per further failure up to 15 min (429 with `Retry-After`); other addresses
/// are not. Attempts are also limited per client address and per server (429 with
/// `Retry-After`). A password longer than 1,024 bytes is a 400.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "A bearer token", body = LoginResponse)),
    security(())
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
    request_id: Option<web::ReqData<RequestId>>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let issued = check_credentials(&state, &req, body, request_id).await?;
    Ok(web::Json(LoginResponse {
        access_token: issued.token,
        token_type: "Bearer".into(),
        expires_in: issued.expires_in,
    }))
}

/// Logs a browser in: the same checks, limits and answers as `POST /api/v1/auth/login`,
/// but the token is set as the `HttpOnly` cookie `telestate_session` (`SameSite=Strict`,
/// `Path=/api`, `Secure` over https) instead of being returned, so page scripts can never
/// read it.
///
/// The body carries the session's CSRF token: send it as `X-Telestate-CSRF` on every
/// POST, PUT, PATCH and DELETE the cookie authenticates (403 `csrf_failed` otherwise).
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "Logged in; the session token is in the Set-Cookie header", body = SessionInfo,
        headers(("Set-Cookie" = String, description = "telestate_session=<token>; HttpOnly; SameSite=Strict; Path=/api; Max-Age=<seconds>[; Secure]")))),
    security(())
)]
#[post("/auth/session")]
pub async fn create_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
    request_id: Option<web::ReqData<RequestId>>,
) -> Result<HttpResponse, ApiError> {
    let issued = check_credentials(&state, &req, body, request_id).await?;
    let cookie = auth::session_cookie_header(
        &req,
        state.config.cookie_secure,
        &issued.token,
        issued.expires_in,
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(session_info(issued.csrf, issued.expires_at)?))
}

/// The cookie session: its CSRF token and expiry, so the web app can pick them up again
/// after a reload. 401 without a valid session cookie (a bearer token does not count).
#[utoipa::path(
    tag = "auth",
    responses((status = 200, description = "The current cookie session", body = SessionInfo))
)]
#[get("/auth/session")]
pub async fn get_session(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let session = auth::cookie_session(&state, &req).await?;
    let csrf = session.csrf().ok_or_else(|| ApiError::Unauthenticated {
        code: ErrorCode::Unauthenticated,
        message:
            "the session predates cookie sessions; log in again with POST /api/v1/auth/session"
                .into(),
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(session_info(csrf.to_string(), session.expires_at())?))
}

/// Logs a browser out: the cookie is removed (`Max-Age=0`). Always 204, with or without
/// a session. The token is not revoked on the server: a copy of it stays valid until it
/// expires (`TELESTATE_JWT_TTL_SECONDS`), but the browser's only copy is gone and page
/// scripts never saw it.
#[utoipa::path(
    tag = "auth",
    responses((status = 204, description = "The session cookie is removed",
        headers(("Set-Cookie" = String, description = "telestate_session=; …; Max-Age=0")))),
    security(())
)]
#[delete("/auth/session")]
pub async fn delete_session(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let cookie = auth::session_cookie_header(&req, state.config.cookie_secure, "", 0);
    HttpResponse::NoContent()
        .insert_header((header::SET_COOKIE, cookie))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn session_info(csrf_token: String, expires_at: i64) -> Result<SessionInfo, ApiError> {
    let expires_at = DateTime::<Utc>::from_timestamp(expires_at, 0)
        .ok_or_else(|| ApiError::Internal(format!("expiry {expires_at} is out of range")))?;
    Ok(SessionInfo {
        csrf_token,
        expires_at,
    })
}

/// Checks a username and password and signs a login token: the client's and the
/// instance's throttles, input lengths, the guess limit per (username, client address),
/// argon2 on the blocking pool, and the audit records. Shared by both ways to log in.
async fn check_credentials(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    body: Json<LoginRequest>,
    request_id: Option<web::ReqData<RequestId>>,
) -> Result<auth::Issued, ApiError> {
    let client = throttle::client_of(req);
    state.login.admit(&client)?;
    let LoginRequest { username, password } = body.into_inner()?;
    if username.len() > MAX_USERNAME_BYTES {
        return Err(ApiError::invalid(
            ErrorCode::TooLong,
            "username",
            format!("must be at most {MAX_USERNAME_BYTES} bytes"),
        ));
    }
    store::secrets::check_password_length(&password)?;
    let rid = request_id.map(|r| r.into_inner().0);
    let max_failures = state.login.limits().max_failures;
    // Taken before the guess is claimed, so a guess is only counted when it is checked.
    let _slot = state.login.hashing().await?;
    let begin = state
        .with_db(move |db| {
            store::admins::begin_login(
                db,
                &LoginAttempt {
                    username: &username,
                    client: &client,
                    request_id: rid.as_deref(),
                    max_failures,
                },
            )
        })
        .await?;
    let pending = match begin {
        Begin::Refused(until) => return Err(locked(until)),
        Begin::Check(pending) => pending,
    };
    let outcome = state
        .with_db(move |db| {
            let matched = pending.verify(&password);
            store::admins::finish_login(db, *pending, matched)
        })
        .await?;
    match outcome {
        Login::Ok(admin) => state.jwt.issue(admin.id, admin.credential_version),
        Login::Failed => Err(ApiError::Unauthenticated {
            code: ErrorCode::InvalidCredentials,
            message: "wrong username or password".into(),
        }),
        Login::Locked(until) => Err(locked(until)),
    }
}

/// The caller: account or token, role and scope.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The caller", body = Me)))]
#[get("/me")]
pub async fn get_me(auth: Authorized<Read>) -> web::Json<Me> {
    let p = auth.principal;
    let scope = p.effective_scope();
    web::Json(Me {
        kind: match p.actor.kind {
            ActorKind::Token => CallerKind::Token,
            // A system principal never passes the bearer check; admin is the closest word.
            ActorKind::Admin | ActorKind::System => CallerKind::Admin,
        },
        id: p.actor.id,
        name: p.actor.name,
        role: p.role,
        scope: ScopeBody {
            locations: scope.locations,
            tags: scope.tags,
        },
    })
}
