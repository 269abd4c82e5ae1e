//! Login and "who am I".

use actix_web::{get, post, web};
use api_types::ErrorCode;
use api_types::{LoginRequest, LoginResponse, Me, ScopeBody};
use chrono::Utc;
use domain::{ActorKind, CallerKind};
use store::admins::Login;

use crate::{
    AppState,
    auth::{Authorized, Read},
    error::ApiError,
    json::Json,
    observe::RequestId,
};

/// Exchanges a username and password for a short-lived bearer token.
///
/// Wrong credentials answer 401 without saying which part was wrong. After five failures
/// in a row the account locks for 30 s, doubling per further failure up to 15 min (429
/// with `Retry-After`). Every attempt is audited.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, description = "A bearer token", body = LoginResponse)),
    security(())
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    body: Json<LoginRequest>,
    request_id: Option<web::ReqData<RequestId>>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let LoginRequest { username, password } = body.into_inner()?;
    let rid = request_id.map(|r| r.into_inner().0);
    let outcome = state
        .with_db(move |db| store::admins::login(db, &username, &password, rid.as_deref()))
        .await?;
    match outcome {
        Login::Ok(admin) => {
            let (access_token, expires_in) = state.jwt.issue(admin.id)?;
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
        Login::Locked(until) => Err(ApiError::TooManyAttempts {
            message: format!(
                "too many failed logins; the account is locked until {}",
                until.and_utc().to_rfc3339()
            ),
            retry_after_seconds: (until.and_utc() - Utc::now()).num_seconds().max(1),
        }),
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
