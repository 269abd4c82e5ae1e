//! Services: non-person assignment targets.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use api_types::{NewService, ServiceList, ServicePatch, ServiceQuery};
use store::services::{ServiceFilter, ServiceInput};

use crate::{
    AppState,
    auth::{Authorized, Manage, Read},
    convert,
    error::ApiError,
    json::Json,
    query::Query,
};

/// A stored service on the wire.
pub fn service_out(s: store::services::Service) -> api_types::Service {
    api_types::Service {
        id: s.id.to_string(),
        name: s.name,
        kind: s.kind,
        platform_id: s.platform_id.map(|p| p.to_string()),
        external_id: s.external_id,
        description: s.description,
        numbers: s.numbers,
        version: s.version,
        created_at: convert::utc(s.created_at),
        updated_at: convert::utc(s.updated_at),
    }
}

/// Lists services by name.
#[utoipa::path(tag = "services", params(ServiceQuery), responses((status = 200, description = "A page of services", body = ServiceList)))]
#[get("/services")]
pub async fn list_services(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<ServiceQuery>,
) -> Result<web::Json<ServiceList>, ApiError> {
    let q = query.into_inner()?;
    let filter = ServiceFilter {
        q: q.q,
        kind: q.kind,
    };
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| store::services::list(c, &scope, &filter, q.cursor.as_deref(), q.limit))
        .await?;
    Ok(web::Json(ServiceList {
        items: page.items.into_iter().map(service_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Adds a service (name unique, case-insensitive; 409 `service_exists` otherwise).
#[utoipa::path(tag = "services", request_body = NewService, responses((status = 201, description = "The service", body = api_types::Service)))]
#[post("/services")]
pub async fn create_service(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    body: Json<NewService>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let input = ServiceInput {
        name: b.name,
        kind: b.kind,
        platform_id: convert::opt_id("platform_id", b.platform_id.as_deref())?,
        external_id: b.external_id,
        description: convert::description("description", b.description)?.unwrap_or_default(),
    };
    let permit = auth.permit;
    let s = state
        .write(move |c| store::services::create(c, &permit, input))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(convert::etag(s.version))
        .json(service_out(s)))
}

/// One service, with the numbers assigned to it.
#[utoipa::path(tag = "services", params(("id" = String, Path, description = "Service id")), responses((status = 200, description = "The service", body = api_types::Service)))]
#[get("/services/{id}")]
pub async fn get_service(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("service", &path)?;
    let scope = auth.permit.scope().clone();
    let s = state
        .read(move |c| store::services::get(c, &scope, id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(s.version))
        .json(service_out(s)))
}

/// Edits a service.
#[utoipa::path(
    tag = "services",
    params(("id" = String, Path, description = "Service id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = ServicePatch,
    responses((status = 200, description = "The service", body = api_types::Service))
)]
#[patch("/services/{id}")]
pub async fn update_service(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<ServicePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("service", &path)?;
    let if_match = convert::if_match(&req)?;
    let b = body.into_inner()?;
    let platform_id = b
        .platform_id
        .map(|p| convert::opt_id("platform_id", p.as_deref()))
        .transpose()?;
    let description = convert::description("description", b.description)?;
    let permit = auth.permit;
    let s = state
        .write(move |c| {
            let cur = store::services::get(c, permit.scope(), id)?;
            let input = ServiceInput {
                name: b.name.unwrap_or(cur.name),
                kind: b.kind.unwrap_or_else(|| cur.kind.as_str().to_string()),
                platform_id: platform_id.unwrap_or(cur.platform_id),
                external_id: b.external_id.unwrap_or(cur.external_id),
                description: description.unwrap_or(cur.description),
            };
            store::services::update(c, &permit, id, input, if_match)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(s.version))
        .json(service_out(s)))
}

/// Removes a service that no number is assigned to (409 `service_in_use` otherwise).
#[utoipa::path(
    tag = "services",
    params(("id" = String, Path, description = "Service id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/services/{id}")]
pub async fn delete_service(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("service", &path)?;
    let if_match = convert::if_match(&req)?;
    let permit = auth.permit;
    state
        .write(move |c| store::services::delete(c, &permit, id, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
