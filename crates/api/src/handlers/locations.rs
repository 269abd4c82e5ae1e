//! Sites.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use api_types::{LocationList, LocationPatch, LocationQuery, NewLocation};
use store::locations::LocationInput;

use crate::{
    AppState,
    auth::{Authorized, Manage, Read},
    convert,
    error::ApiError,
    json::Json,
    query::Query,
};

/// Lists sites by name.
///
/// A scoped caller sees the sites its grant lists, or, when its grant is limited to tags
/// alone, the sites of the numbers and ranges in its scope.
#[utoipa::path(tag = "locations", params(LocationQuery), responses((status = 200, description = "A page of sites", body = LocationList)))]
#[get("/locations")]
pub async fn list_locations(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<LocationQuery>,
) -> Result<web::Json<LocationList>, ApiError> {
    let q = query.into_inner()?;
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| {
            store::locations::list(
                c,
                &scope,
                q.q.as_deref(),
                q.country.as_deref(),
                q.cursor.as_deref(),
                q.limit,
            )
        })
        .await?;
    Ok(web::Json(LocationList {
        items: page.items.into_iter().map(convert::location_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Adds a site (name unique, case-insensitive; ISO country).
///
/// Needs an unscoped grant.
#[utoipa::path(tag = "locations", request_body = NewLocation, responses((status = 201, description = "The site", body = api_types::Location)))]
#[post("/locations")]
pub async fn create_location(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    body: Json<NewLocation>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let input = LocationInput {
        name: b.name,
        country: b.country,
        region: b.region,
        city: b.city,
        address: b.address,
        emergency_location_id: b.emergency_location_id,
    };
    let permit = auth.permit;
    let l = state
        .write(move |c| store::locations::create(c, &permit, input))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(convert::etag(l.version))
        .json(convert::location_out(l)))
}

/// One site.
#[utoipa::path(tag = "locations", params(("id" = String, Path, description = "Location id")), responses((status = 200, description = "The site", body = api_types::Location)))]
#[get("/locations/{id}")]
pub async fn get_location(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("location", &path)?;
    let scope = auth.permit.scope().clone();
    let l = state
        .read(move |c| store::locations::get(c, &scope, id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(l.version))
        .json(convert::location_out(l)))
}

/// Edits a site.
///
/// A scoped grant edits only the sites it lists; a grant limited to tags edits none (403
/// `out_of_scope`).
#[utoipa::path(
    tag = "locations",
    params(("id" = String, Path, description = "Location id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = LocationPatch,
    responses((status = 200, description = "The site", body = api_types::Location))
)]
#[patch("/locations/{id}")]
pub async fn update_location(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<LocationPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("location", &path)?;
    let if_match = convert::if_match(&req)?;
    let b = body.into_inner()?;
    let permit = auth.permit;
    let l = state
        .write(move |c| {
            let cur = store::locations::get(c, permit.scope(), id)?;
            let input = LocationInput {
                name: b.name.unwrap_or(cur.name),
                country: b.country.unwrap_or(cur.country),
                region: b.region.unwrap_or(cur.region),
                city: b.city.unwrap_or(cur.city),
                address: b.address.unwrap_or(cur.address),
                emergency_location_id: b.emergency_location_id.unwrap_or(cur.emergency_location_id),
            };
            store::locations::update(c, &permit, id, input, if_match)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(l.version))
        .json(convert::location_out(l)))
}

/// Removes a site that no number or range uses (409 `location_in_use` otherwise).
///
/// Needs an unscoped grant.
#[utoipa::path(tag = "locations", params(("id" = String, Path, description = "Location id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")), responses((status = 204, description = "Deleted")))]
#[delete("/locations/{id}")]
pub async fn delete_location(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("location", &path)?;
    let if_match = convert::if_match(&req)?;
    let permit = auth.permit;
    state
        .write(move |c| store::locations::delete(c, &permit, id, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
