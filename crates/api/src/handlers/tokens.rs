//! API tokens for integrations (owners only).

use actix_web::{HttpResponse, delete, get, post, web};
use api_types::ErrorCode;
use api_types::{ApiTokenList, CreatedApiToken, NewApiToken, PageQuery};

use crate::{
    AppState,
    auth::{Authorized, Govern},
    convert,
    error::ApiError,
    json::Json,
    query::Query,
};

/// Lists tokens, revoked ones included (never their secrets).
#[utoipa::path(tag = "api-tokens", params(PageQuery), responses((status = 200, description = "Tokens", body = ApiTokenList)))]
#[get("/api-tokens")]
pub async fn list_api_tokens(
    state: web::Data<AppState>,
    _auth: Authorized<Govern>,
    query: Query<PageQuery>,
) -> Result<web::Json<ApiTokenList>, ApiError> {
    let PageQuery { cursor, limit } = query.into_inner()?;
    let page = state
        .read(move |c| store::tokens::list(c, cursor.as_deref(), limit))
        .await?;
    Ok(web::Json(ApiTokenList {
        items: page.items.into_iter().map(convert::token_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Creates a token; the secret is in this response only.
#[utoipa::path(tag = "api-tokens", request_body = NewApiToken, responses((status = 201, description = "The token and its secret", body = CreatedApiToken)))]
#[post("/api-tokens")]
pub async fn create_api_token(
    state: web::Data<AppState>,
    auth: Authorized<Govern>,
    body: Json<NewApiToken>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let role = b.role.parse().map_err(|e: domain::ParseEnumError| {
        ApiError::invalid(ErrorCode::InvalidField, "role", e.to_string())
    })?;
    let scope = b.scope.unwrap_or_default();
    let new = store::tokens::NewToken {
        name: b.name,
        role,
        scope_locations: scope.locations,
        scope_tags: scope.tags,
        expires_at: b.expires_at.map(|e| e.naive_utc()),
    };
    let permit = auth.permit;
    let (record, token) = state
        .write(move |c| store::tokens::create(c, &permit, new))
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiToken {
        record: convert::token_out(record),
        token,
    }))
}

/// Revokes a token: it stops working at once and stays listed.
#[utoipa::path(tag = "api-tokens", params(("id" = String, Path, description = "Token id")), responses((status = 204, description = "Revoked")))]
#[delete("/api-tokens/{id}")]
pub async fn revoke_api_token(
    state: web::Data<AppState>,
    auth: Authorized<Govern>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("api_token", &path)?;
    let permit = auth.permit;
    state
        .write(move |c| store::tokens::revoke(c, &permit, id))
        .await?;
    state.principals.clear();
    Ok(HttpResponse::NoContent().finish())
}
