//! Login and "who am I".

use actix_web::{HttpRequest, get, post, web};
use api_types::ErrorCode;
use api_types::{LoginRequest, LoginResponse, Me, ScopeBody};
use chrono::Utc;
use domain::{ActorKind, CallerKind};
use store::admins::{Begin, Login, LoginAttempt};

use crate::{
    AppState,
    auth::{Authorized, Read},
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
    let client = throttle::client_of(&req);
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
        Login::Ok(admin) => {
            let (access_token, expires_in) = state.jwt.issue(admin.id, admin.credential_version)?;
            Ok(web::Json(LoginResponse {
                access_token,
                token_type: "Bearer".into(),
                expires_in,
            }))
        }
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
