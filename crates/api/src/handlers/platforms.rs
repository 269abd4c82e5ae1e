//! Platforms: Teams tenants, webhooks, inventory-only.
//!
//! Any role reads them. Writes take `Authorized<Manage>` (admin and above); the store
//! refuses a scoped grant (403 `out_of_scope`: a platform serves the whole estate) and
//! keeps secrets, and the URLs they are sent to, to owners (403 `forbidden`). Secrets are
//! write-only: no response carries one.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use api_types::{NewPlatform, PlatformList, PlatformPatch, PlatformQuery};
use store::platforms as sp;

use crate::{
    AppState,
    auth::{Authorized, Manage, Read},
    convert::{self, utc},
    error::ApiError,
    json::Json,
    query::Query,
};

/// A stored platform on the wire.
fn platform_out(p: sp::Platform) -> api_types::Platform {
    api_types::Platform {
        id: p.id.to_string(),
        name: p.name,
        kind: p.kind,
        tenant_id: p.tenant_id,
        client_id: p.client_id,
        client_secret_env: p.client_secret_env,
        has_client_secret: p.has_client_secret,
        graph_base_url: p.graph_base_url,
        login_base_url: p.login_base_url,
        sync_interval_seconds: p.sync_interval_seconds,
        url: p.url,
        has_signing_secret: p.has_signing_secret,
        sync: p.sync.map(|s| api_types::SyncStatus {
            requested_at: s.requested_at.map(utc),
            started_at: s.started_at.map(utc),
            finished_at: s.finished_at.map(utc),
            duration_ms: s.duration_ms,
            full_sync: s.full_sync,
            users_changed: s.users_changed,
            users_removed: s.users_removed,
            groups_changed: s.groups_changed,
            memberships: s.memberships,
            error: s.error,
            teams_numbers_at: s.teams_numbers_at.map(utc),
            teams_numbers: s.teams_numbers,
        }),
        version: p.version,
        created_at: utc(p.created_at),
        updated_at: utc(p.updated_at),
    }
}

fn with_etag(mut res: actix_web::HttpResponseBuilder, p: sp::Platform) -> HttpResponse {
    res.insert_header(convert::etag(p.version))
        .json(platform_out(p))
}

/// Lists platforms by id.
#[utoipa::path(tag = "platforms", params(PlatformQuery), responses((status = 200, description = "A page of platforms", body = PlatformList)))]
#[get("/platforms")]
pub async fn list_platforms(
    state: web::Data<AppState>,
    _auth: Authorized<Read>,
    query: Query<PlatformQuery>,
) -> Result<web::Json<PlatformList>, ApiError> {
    let q = query.into_inner()?;
    let page = state
        .read(move |c| {
            sp::list(
                c,
                q.kind.as_deref(),
                q.q.as_deref(),
                q.cursor.as_deref(),
                q.limit,
            )
        })
        .await?;
    Ok(web::Json(PlatformList {
        items: page.items.into_iter().map(platform_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Adds a platform: `teams`, `webhook` or `none`.
///
/// Needs an unscoped admin; a secret (`client_secret`, `client_secret_env`,
/// `signing_secret`) or a base URL needs the owner.
#[utoipa::path(tag = "platforms", request_body = NewPlatform, responses((status = 201, description = "The platform (secrets are never returned)", body = api_types::Platform)))]
#[post("/platforms")]
pub async fn create_platform(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    body: Json<NewPlatform>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let input = sp::NewPlatform {
        name: b.name,
        kind: b.kind,
        tenant_id: b.tenant_id,
        client_id: b.client_id,
        client_secret_env: b.client_secret_env,
        client_secret: b.client_secret,
        graph_base_url: b.graph_base_url,
        login_base_url: b.login_base_url,
        sync_interval_seconds: b.sync_interval_seconds,
        url: b.url,
        signing_secret: b.signing_secret,
    };
    let permit = auth.permit;
    let key = state.config.secret_key.clone();
    let p = state
        .write(move |c| {
            let sealer = store::settings::sealer(c, &key)?;
            sp::create(c, &permit, &sealer, input)
        })
        .await?;
    Ok(with_etag(HttpResponse::Created(), p))
}

/// One platform, with its directory sync's state.
#[utoipa::path(tag = "platforms", params(("id" = String, Path, description = "Platform id")), responses((status = 200, description = "The platform", body = api_types::Platform)))]
#[get("/platforms/{id}")]
pub async fn get_platform(
    state: web::Data<AppState>,
    _auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("platform", &path)?;
    let p = state.read(move |c| sp::get(c, id)).await?;
    Ok(with_etag(HttpResponse::Ok(), p))
}

/// Edits a platform; its kind never changes.
///
/// Needs an unscoped admin; a secret or a base URL needs the owner.
#[utoipa::path(
    tag = "platforms",
    params(("id" = String, Path, description = "Platform id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = PlatformPatch,
    responses((status = 200, description = "The platform", body = api_types::Platform))
)]
#[patch("/platforms/{id}")]
pub async fn update_platform(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<PlatformPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("platform", &path)?;
    let if_match = convert::if_match(&req)?;
    let b = body.into_inner()?;
    let patch = sp::PlatformPatch {
        name: b.name,
        kind: b.kind,
        tenant_id: b.tenant_id,
        client_id: b.client_id,
        client_secret_env: b.client_secret_env,
        client_secret: b.client_secret,
        graph_base_url: b.graph_base_url,
        login_base_url: b.login_base_url,
        sync_interval_seconds: b.sync_interval_seconds,
        url: b.url,
        signing_secret: b.signing_secret,
    };
    let permit = auth.permit;
    let key = state.config.secret_key.clone();
    let p = state
        .write(move |c| {
            let sealer = store::settings::sealer(c, &key)?;
            sp::update(c, &permit, &sealer, id, patch, if_match)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), p))
}

/// Removes a platform no number, range or service uses (409 `platform_in_use` otherwise).
///
/// Needs an unscoped admin.
#[utoipa::path(tag = "platforms", params(("id" = String, Path, description = "Platform id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")), responses((status = 204, description = "Deleted")))]
#[delete("/platforms/{id}")]
pub async fn delete_platform(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("platform", &path)?;
    let if_match = convert::if_match(&req)?;
    let permit = auth.permit;
    state
        .write(move |c| sp::delete(c, &permit, id, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Asks the worker to sync a Teams platform's directory soon (409 `not_syncable` for
/// other kinds). Answers 202 with the platform; `sync.requested_at` is now.
///
/// Needs an unscoped admin.
#[utoipa::path(tag = "platforms", params(("id" = String, Path, description = "Platform id")), responses((status = 202, description = "Requested; the platform", body = api_types::Platform)))]
#[post("/platforms/{id}/sync")]
pub async fn sync_platform(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("platform", &path)?;
    let permit = auth.permit;
    let p = state
        .write(move |c| sp::request_sync(c, &permit, id))
        .await?;
    Ok(with_etag(HttpResponse::Accepted(), p))
}
