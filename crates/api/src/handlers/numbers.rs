//! The number inventory.

use std::collections::HashSet;

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use api_types::ErrorCode;
use api_types::{
    AuditList, CreateNumbers, CreatedNumbers, NumberBatch, NumberList, NumberPatch, NumberQuery,
    PageQuery,
};
use domain::{MAX_TAGS, NumberStatus};

use crate::{
    AppState,
    auth::{Authorized, Manage, Operate, Read},
    convert,
    error::ApiError,
    json::{self, Json},
    query::Query,
};

fn new_number(field: &str, n: api_types::NewNumber) -> Result<store::numbers::NewNumber, ApiError> {
    Ok(store::numbers::NewNumber {
        number: convert::number(&format!("{field}number"), &n.number)?,
        location_id: convert::opt_id(&format!("{field}location_id"), n.location_id.as_deref())?,
        tags: convert::tags(&format!("{field}tags"), &n.tags)?,
        description: convert::description(&format!("{field}description"), n.description)?
            .unwrap_or_default(),
        platform_id: convert::opt_id(&format!("{field}platform_id"), n.platform_id.as_deref())?,
        number_type: convert::number_type(
            &format!("{field}number_type"),
            n.number_type.as_deref(),
        )?,
    })
}

/// Parses list filters; shared with the CSV export and `telestate export`.
pub(crate) fn number_filter(q: &NumberQuery) -> Result<store::numbers::NumberFilter, ApiError> {
    Ok(store::numbers::NumberFilter {
        status: q
            .status
            .as_deref()
            .map(|s| {
                s.parse::<NumberStatus>().map_err(|e| {
                    ApiError::invalid(ErrorCode::InvalidQuery, "status", e.to_string())
                })
            })
            .transpose()?,
        tags: q
            .tag
            .as_deref()
            .map(filter_tags)
            .transpose()?
            .unwrap_or_default(),
        location_id: convert::opt_id("location", q.location.as_deref())?,
        range_id: convert::opt_id("range", q.range.as_deref())?,
        platform_id: convert::opt_id("platform", q.platform.as_deref())?,
        number_type: convert::number_type("number_type", q.number_type.as_deref())?,
        country: q.country.as_deref().map(filter_country).transpose()?,
        q: q.q.as_deref().map(filter_text).transpose()?.flatten(),
        assigned_to: q
            .assigned_to
            .as_deref()
            .map(|v| bounded("assigned_to", v, MAX_ASSIGNEE_CHARS))
            .transpose()?,
    })
}

/// Longest free-text search; a query is a short phrase, not a document.
const MAX_TEXT_CHARS: usize = 200;
/// Longest assignee (a UPN is at most 113 characters, a service name 200).
const MAX_ASSIGNEE_CHARS: usize = 320;

fn bounded(field: &str, v: &str, max: usize) -> Result<String, ApiError> {
    if v.chars().count() > max {
        return Err(ApiError::invalid(
            ErrorCode::InvalidQuery,
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

/// A two-letter country code, upper-cased.
fn filter_country(c: &str) -> Result<String, ApiError> {
    let c = c.trim();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(c.to_ascii_uppercase())
    } else {
        Err(ApiError::invalid(
            ErrorCode::InvalidQuery,
            "country",
            "must be a two-letter ISO 3166-1 code, such as GB",
        ))
    }
}

/// Free text, trimmed (`None` when blank). It needs three letters or digits in a row:
/// the trigram indexes that serve it can look nothing shorter up, and a search for "1"
/// would read the whole estate.
fn filter_text(q: &str) -> Result<Option<String>, ApiError> {
    let q = bounded("q", q.trim(), MAX_TEXT_CHARS)?;
    if q.is_empty() {
        return Ok(None);
    }
    let mut run = 0;
    let longest = q.chars().fold(0, |best, c| {
        run = if c.is_alphanumeric() { run + 1 } else { 0 };
        best.max(run)
    });
    if longest < 3 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidQuery,
            "q",
            "needs at least three letters or digits in a row",
        ));
    }
    Ok(Some(q))
}

/// The tag keys a `tag=a,b` filter requires, each once; more than [`MAX_TAGS`] is a 400
/// naming `tag` (each is a condition of the query).
fn filter_tags(list: &str) -> Result<Vec<String>, ApiError> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for key in list.split(',').map(|x| x.trim().to_lowercase()) {
        if key.is_empty() || seen.contains(&key) {
            continue;
        }
        if keys.len() == MAX_TAGS {
            return Err(ApiError::invalid(
                ErrorCode::InvalidQuery,
                "tag",
                format!("at most {MAX_TAGS} different tags can be required"),
            ));
        }
        seen.insert(key.clone());
        keys.push(key);
    }
    Ok(keys)
}

/// Lists numbers in E.164 order, filtered, a page at a time.
///
/// Follow `next_cursor` until it is `null` to read the whole result; there is no cap.
#[utoipa::path(tag = "numbers", params(NumberQuery), responses((status = 200, description = "A page of numbers", body = NumberList)))]
#[get("/numbers")]
pub async fn list_numbers(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<NumberQuery>,
) -> Result<web::Json<NumberList>, ApiError> {
    let query = query.into_inner()?;
    let filter = number_filter(&query)?;
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| {
            store::numbers::list(c, &scope, &filter, query.cursor.as_deref(), query.limit)
        })
        .await?;
    Ok(web::Json(convert::number_list(page)))
}

/// Adds one number, or many (`{items: [...]}`, up to 10,000) all-or-nothing.
#[utoipa::path(
    tag = "numbers",
    request_body = CreateNumbers,
    responses((status = 201, description = "The created number, or `{items}` for a batch", body = CreatedNumbers))
)]
#[post("/numbers")]
pub async fn create_numbers(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.permit;
    // The shape decides the variant ({items: [...]} or one number), then the variant is
    // parsed on its own, so a type error keeps its path (`items[1].number`).
    let value = body.into_inner()?;
    let request = if value.get("items").is_some() {
        CreateNumbers::Many(json::from_value(value)?)
    } else {
        CreateNumbers::One(json::from_value(value)?)
    };
    match request {
        CreateNumbers::One(n) => {
            let new = new_number("", n)?;
            let created = state
                .write(move |c| store::numbers::create(c, &permit, new))
                .await?;
            Ok(HttpResponse::Created()
                .insert_header(convert::etag(created.version))
                .json(CreatedNumbers::One(Box::new(convert::number_out(created)))))
        }
        CreateNumbers::Many(batch) => {
            if batch.items.len() > store::numbers::MAX_BATCH {
                return Err(ApiError::invalid(
                    ErrorCode::InvalidField,
                    "items",
                    format!("at most {} numbers per call", store::numbers::MAX_BATCH),
                ));
            }
            // Validating 10,000 numbers takes a few hundred milliseconds: not on an HTTP
            // worker, where it would hold up every other request that worker serves.
            let items = web::block(move || {
                batch
                    .items
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| new_number(&format!("items[{i}]."), n))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))??;
            // A batch is one change set: listed and reverted as a whole.
            let permit = permit.with_change_set(store::audit::new_change_set_id());
            let created = state
                .write(move |c| store::numbers::create_many(c, &permit, items))
                .await?;
            Ok(
                HttpResponse::Created().json(CreatedNumbers::Many(NumberBatch {
                    items: created.into_iter().map(convert::number_out).collect(),
                })),
            )
        }
    }
}

/// One number, with its version as `ETag`.
#[utoipa::path(
    tag = "numbers",
    params(("number" = String, Path, description = "The number in any common notation, e.g. `+442071234567`")),
    responses((status = 200, description = "The number", body = api_types::Number, headers(("ETag" = String, description = "The version"))))
)]
#[get("/numbers/{number}")]
pub async fn get_number(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e164 = convert::number("number", &path)?.to_string();
    let scope = auth.permit.scope().clone();
    let n = state
        .read(move |c| store::numbers::get(c, &scope, &e164))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(n.version))
        .json(convert::number_out(n)))
}

/// Edits a number's description, tags, location, platform or number type.
///
/// Send `If-Match` with the `ETag` you read to refuse the change (412) if someone else
/// changed the number since.
#[utoipa::path(
    tag = "numbers",
    params(("number" = String, Path, description = "The number"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = NumberPatch,
    responses((status = 200, description = "The updated number", body = api_types::Number, headers(("ETag" = String, description = "The new version"))))
)]
#[patch("/numbers/{number}")]
pub async fn update_number(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<NumberPatch>,
) -> Result<HttpResponse, ApiError> {
    let e164 = convert::number("number", &path)?.to_string();
    let if_match = convert::if_match(&req)?;
    let body = body.into_inner()?;
    let change = store::numbers::NumberPatch {
        description: convert::description("description", body.description)?,
        tags: body
            .tags
            .as_deref()
            .map(|t| convert::tags("tags", t))
            .transpose()?,
        location_id: body
            .location_id
            .map(|v| convert::opt_id("location_id", v.as_deref()))
            .transpose()?,
        platform_id: body
            .platform_id
            .map(|v| convert::opt_id("platform_id", v.as_deref()))
            .transpose()?,
        number_type: body
            .number_type
            .map(|v| convert::number_type("number_type", v.as_deref()))
            .transpose()?,
    };
    let permit = auth.permit;
    let n = state
        .write(move |c| store::numbers::patch(c, &permit, &e164, change, if_match))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(convert::etag(n.version))
        .json(convert::number_out(n)))
}

/// Removes an available number from the inventory (409 otherwise).
#[utoipa::path(
    tag = "numbers",
    params(("number" = String, Path, description = "The number"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/numbers/{number}")]
pub async fn delete_number(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let e164 = convert::number("number", &path)?.to_string();
    let if_match = convert::if_match(&req)?;
    let permit = auth.permit;
    state
        .write(move |c| store::numbers::delete(c, &permit, &e164, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A number's audit records, newest first (including its range's creation).
#[utoipa::path(
    tag = "numbers",
    params(("number" = String, Path, description = "The number"), PageQuery),
    responses((status = 200, description = "Audit records", body = AuditList))
)]
#[get("/numbers/{number}/history")]
pub async fn number_history(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<web::Json<AuditList>, ApiError> {
    let e164 = convert::number("number", &path)?.to_string();
    let scope = auth.permit.scope().clone();
    let PageQuery { cursor, limit } = query.into_inner()?;
    let page = state
        .read(move |c| {
            // Reading the number first applies scope: out of scope, its history is not found
            // either. Unscoped callers may still read the history of a deleted number.
            let range_id = match store::numbers::get(c, &scope, &e164) {
                Ok(n) => n.range_id,
                Err(store::StoreError::NotFound { .. }) if scope.is_unrestricted() => {
                    let page =
                        store::audit::number_history(c, &e164, None, cursor.as_deref(), limit)?;
                    if page.items.is_empty() && cursor.is_none() {
                        return Err(store::StoreError::not_found("number", &e164));
                    }
                    return Ok(page);
                }
                Err(e) => return Err(e),
            };
            store::audit::number_history(c, &e164, range_id, cursor.as_deref(), limit)
        })
        .await?;
    Ok(web::Json(convert::audit_list(page)))
}
