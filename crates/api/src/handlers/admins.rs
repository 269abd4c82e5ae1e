//! Admin accounts (owners only).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use api_types::ErrorCode;
use api_types::{AdminList, AdminPatch, NewAdmin, PageQuery};
use domain::Role;

use crate::{
    AppState,
    auth::{Authorized, Govern},
    convert,
    error::ApiError,
    json::Json,
    query::Query,
};

fn role(field: &str, value: &str) -> Result<Role, ApiError> {
    value.parse().map_err(|e: domain::ParseEnumError| {
        ApiError::invalid(ErrorCode::InvalidField, field, e.to_string())
    })
}

/// Hashes a new password off the HTTP workers, within the instance's hashing bound.
async fn password_hash(state: &AppState, value: String) -> Result<String, ApiError> {
    store::secrets::check_password_length(&value)?;
    let _slot = state.login.hashing().await?;
    web::block(move || store::secrets::hash_password(&value))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::from)
}

/// Lists admin accounts.
#[utoipa::path(tag = "admins", params(PageQuery), responses((status = 200, description = "Accounts", body = AdminList)))]
#[get("/admins")]
pub async fn list_admins(
    state: web::Data<AppState>,
    _auth: Authorized<Govern>,
    query: Query<PageQuery>,
) -> Result<web::Json<AdminList>, ApiError> {
    let PageQuery { cursor, limit } = query.into_inner()?;
    let page = state
        .read(move |c| store::admins::list(c, cursor.as_deref(), limit))
        .await?;
    Ok(web::Json(AdminList {
        items: page.items.into_iter().map(convert::admin_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Creates an admin account with a role and an optional scope.
#[utoipa::path(tag = "admins", request_body = NewAdmin, responses((status = 201, description = "The account", body = api_types::Admin)))]
#[post("/admins")]
pub async fn create_admin(
    state: web::Data<AppState>,
    auth: Authorized<Govern>,
    body: Json<NewAdmin>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let role = role("role", &b.role)?;
    let hash = password_hash(&state, b.password).await?;
    let scope = b.scope.unwrap_or_default();
    let new = store::admins::NewAdmin {
        username: b.username,
        password_hash: hash,
        role,
        scope_locations: scope.locations,
        scope_tags: scope.tags,
    };
    let permit = auth.permit;
    let a = state
        .write(move |c| store::admins::create(c, &permit, new))
        .await?;
    Ok(HttpResponse::Created().json(convert::admin_out(a)))
}

/// One admin account (its `ETag` is its version, for `If-Match`).
#[utoipa::path(tag = "admins", params(("id" = String, Path, description = "Account id")), responses((status = 200, description = "The account", body = api_types::Admin)))]
#[get("/admins/{id}")]
pub async fn get_admin(
    state: web::Data<AppState>,
    _auth: Authorized<Govern>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("admin", &path)?;
    let a = state.read(move |c| store::admins::get(c, id)).await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(a.version))
        .json(convert::admin_out(a)))
}

/// Changes an account's password, role or scope; the last owner cannot be demoted.
///
/// Any of these changes ends the account's login sessions at once (its holder logs in
/// again); a new password also lifts its login locks. With `If-Match`, a concurrent edit
/// answers 412; without it, the edit applies to the latest version.
#[utoipa::path(
    tag = "admins",
    params(
        ("id" = String, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read"),
    ),
    request_body = AdminPatch,
    responses((status = 200, description = "The account", body = api_types::Admin))
)]
#[patch("/admins/{id}")]
pub async fn update_admin(
    state: web::Data<AppState>,
    auth: Authorized<Govern>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<AdminPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("admin", &path)?;
    let expected_version = convert::if_match(&req)?;
    let b = body.into_inner()?;
    let role = b.role.as_deref().map(|r| role("role", r)).transpose()?;
    let hash = match b.password {
        Some(p) => Some(password_hash(&state, p).await?),
        None => None,
    };
    let change = store::admins::AdminPatch {
        role,
        password_hash: hash,
        scope_locations: b.scope.as_ref().map(|s| s.locations.clone()),
        scope_tags: b.scope.map(|s| s.tags),
        expected_version,
    };
    let permit = auth.permit;
    let a = state
        .write(move |c| store::admins::update(c, &permit, id, change))
        .await?;
    state.principals.clear();
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(a.version))
        .json(convert::admin_out(a)))
}

/// Deletes an account (not your own, not the last owner).
#[utoipa::path(tag = "admins", params(("id" = String, Path, description = "Account id")), responses((status = 204, description = "Deleted")))]
#[delete("/admins/{id}")]
pub async fn delete_admin(
    state: web::Data<AppState>,
    auth: Authorized<Govern>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("admin", &path)?;
    let permit = auth.permit;
    state
        .write(move |c| store::admins::delete(c, &permit, id))
        .await?;
    state.principals.clear();
    Ok(HttpResponse::NoContent().finish())
}
