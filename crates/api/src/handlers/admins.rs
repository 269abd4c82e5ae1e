//! Admin accounts (owners only).

use actix_web::{HttpResponse, delete, get, patch, post, web};
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

fn password_hash(value: &str) -> Result<String, ApiError> {
    store::secrets::hash_password(value).map_err(ApiError::from)
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
    let hash = web::block(move || password_hash(&b.password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
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

/// One admin account.
#[utoipa::path(tag = "admins", params(("id" = String, Path, description = "Account id")), responses((status = 200, description = "The account", body = api_types::Admin)))]
#[get("/admins/{id}")]
pub async fn get_admin(
    state: web::Data<AppState>,
    _auth: Authorized<Govern>,
    path: web::Path<String>,
) -> Result<web::Json<api_types::Admin>, ApiError> {
    let id = convert::path_id("admin", &path)?;
    let a = state.read(move |c| store::admins::get(c, id)).await?;
    Ok(web::Json(convert::admin_out(a)))
}

/// Changes an account's password, role or scope; the last owner cannot be demoted.
#[utoipa::path(
    tag = "admins",
    params(("id" = String, Path, description = "Account id")),
    request_body = AdminPatch,
    responses((status = 200, description = "The account", body = api_types::Admin))
)]
#[patch("/admins/{id}")]
pub async fn update_admin(
    state: web::Data<AppState>,
    auth: Authorized<Govern>,
    path: web::Path<String>,
    body: Json<AdminPatch>,
) -> Result<web::Json<api_types::Admin>, ApiError> {
    let id = convert::path_id("admin", &path)?;
    let b = body.into_inner()?;
    let role = b.role.as_deref().map(|r| role("role", r)).transpose()?;
    let hash = match b.password {
        Some(p) => Some(
            web::block(move || password_hash(&p))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))??,
        ),
        None => None,
    };
    let change = store::admins::AdminPatch {
        role,
        password_hash: hash,
        scope_locations: b.scope.as_ref().map(|s| s.locations.clone()),
        scope_tags: b.scope.map(|s| s.tags),
    };
    let permit = auth.permit;
    let a = state
        .write(move |c| store::admins::update(c, &permit, id, change))
        .await?;
    state.principals.clear();
    Ok(web::Json(convert::admin_out(a)))
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
