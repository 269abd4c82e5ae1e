//! Ranges: create whole blocks, report utilisation.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use api_types::ErrorCode;
use api_types::{NewRange, RangeList, RangePatch, RangeQuery};
use domain::NumberBlock;

use crate::{
    AppState,
    auth::{Authorized, Manage, Read},
    convert,
    error::ApiError,
    json::Json,
    query::Query,
};

/// Lists ranges in creation order with their utilisation.
#[utoipa::path(tag = "ranges", params(RangeQuery), responses((status = 200, description = "A page of ranges", body = RangeList)))]
#[get("/ranges")]
pub async fn list_ranges(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<RangeQuery>,
) -> Result<web::Json<RangeList>, ApiError> {
    let q = query.into_inner()?;
    let filter = store::ranges::RangeFilter {
        location_id: convert::opt_id("location", q.location.as_deref())?,
        country: q.country,
        tag: q.tag.map(|t| t.trim().to_lowercase()),
        q: q.q,
    };
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| store::ranges::list(c, &scope, &filter, q.cursor.as_deref(), q.limit))
        .await?;
    Ok(web::Json(RangeList {
        items: page.items.into_iter().map(convert::range_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Creates a range and every number in it as available, in one transaction.
///
/// Refused with 409 `range_overlap` or `numbers_exist` (naming them) when the block meets
/// another range or numbers already in the inventory; 400 when the bounds differ in
/// country or length, or the block exceeds `TELESTATE_MAX_RANGE_SIZE`.
#[utoipa::path(tag = "ranges", request_body = NewRange, responses((status = 201, description = "The range", body = api_types::Range)))]
#[post("/ranges")]
pub async fn create_range(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    body: Json<NewRange>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let start = convert::number("start", &b.start)?;
    let end = convert::number("end", &b.end)?;
    let block = NumberBlock::new(start, end, state.config.max_range_size).map_err(|e| {
        let field = if matches!(e, domain::RangeError::Extension) && b.start.contains("ext") {
            "start"
        } else {
            "end"
        };
        ApiError::invalid(ErrorCode::InvalidField, field, e.to_string())
    })?;
    let name = b
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "name",
            "must be at most 200 characters",
        ));
    }
    let new = store::ranges::NewRange {
        name,
        block,
        location_id: convert::opt_id("location_id", b.location_id.as_deref())?,
        tags: convert::tags("tags", &b.tags)?,
        description: convert::description("description", b.description)?.unwrap_or_default(),
        platform_id: convert::opt_id("platform_id", b.platform_id.as_deref())?,
        number_type: convert::number_type("number_type", b.number_type.as_deref())?,
    };
    // It touches every number of the range: one change set, like any bulk action.
    let permit = auth
        .permit
        .with_change_set(store::audit::new_change_set_id());
    let range = state
        .write(move |c| store::ranges::create(c, &permit, new))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(convert::etag(range.version))
        .json(convert::range_out(range)))
}

/// One range with its utilisation.
#[utoipa::path(tag = "ranges", params(("id" = String, Path, description = "Range id")), responses((status = 200, description = "The range", body = api_types::Range)))]
#[get("/ranges/{id}")]
pub async fn get_range(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("range", &path)?;
    let scope = auth.permit.scope().clone();
    let r = state
        .read(move |c| store::ranges::get(c, &scope, id))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(r.version))
        .json(convert::range_out(r)))
}

/// Edits a range; with `apply_to_numbers` its numbers follow the site, platform, type and tags.
#[utoipa::path(
    tag = "ranges",
    params(("id" = String, Path, description = "Range id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = RangePatch,
    responses((status = 200, description = "The updated range", body = api_types::Range))
)]
#[patch("/ranges/{id}")]
pub async fn update_range(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<RangePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("range", &path)?;
    let if_match = convert::if_match(&req)?;
    let b = body.into_inner()?;
    if b.name
        .as_ref()
        .and_then(|n| n.as_ref())
        .is_some_and(|n| n.chars().count() > 200)
    {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "name",
            "must be at most 200 characters",
        ));
    }
    let change = store::ranges::RangePatch {
        name: b.name,
        description: convert::description("description", b.description)?,
        tags: b
            .tags
            .as_deref()
            .map(|t| convert::tags("tags", t))
            .transpose()?,
        location_id: b
            .location_id
            .map(|v| convert::opt_id("location_id", v.as_deref()))
            .transpose()?,
        platform_id: b
            .platform_id
            .map(|v| convert::opt_id("platform_id", v.as_deref()))
            .transpose()?,
        number_type: b
            .number_type
            .map(|v| convert::number_type("number_type", v.as_deref()))
            .transpose()?,
        apply_to_numbers: b.apply_to_numbers,
    };
    // It touches every number of the range: one change set, like any bulk action.
    let permit = auth
        .permit
        .with_change_set(store::audit::new_change_set_id());
    let r = state
        .write(move |c| store::ranges::patch(c, &permit, id, change, if_match))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(r.version))
        .json(convert::range_out(r)))
}

/// Deletes a range and its numbers; refused (409 `range_in_use`) unless all are available.
#[utoipa::path(tag = "ranges", params(("id" = String, Path, description = "Range id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")), responses((status = 204, description = "Deleted")))]
#[delete("/ranges/{id}")]
pub async fn delete_range(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("range", &path)?;
    let if_match = convert::if_match(&req)?;
    // It touches every number of the range: one change set, like any bulk action.
    let permit = auth
        .permit
        .with_change_set(store::audit::new_change_set_id());
    state
        .write(move |c| store::ranges::delete(c, &permit, id, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
