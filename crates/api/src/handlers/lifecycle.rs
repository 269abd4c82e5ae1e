//! Number actions (SPEC §2's status table), pool allocation and lifecycle settings.
//!
//! Every action accepts `If-Match` (412 when stale) and `Idempotency-Key` (a retry
//! replays the first answer). Refusals are 409 with a stable code, the current state in
//! `details`, and a message saying what would allow the action.

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, patch, post, web};
use api_types::ErrorCode;
use api_types::{
    AllocationRequest, AssignRequest, QuarantineRequest, ReleaseRequest, ReserveRequest, Settings,
    SettingsPatch, UnassignRequest,
};
use store::lifecycle::{Pool, Request, Target};

use crate::{
    AppState,
    auth::{Authorized, Manage, Operate, Read},
    convert,
    error::ApiError,
    idempotency::Idempotent,
    json::{self, Json},
};

fn number_json(n: store::numbers::Number) -> (StatusCode, serde_json::Value, i64) {
    let version = n.version;
    (
        StatusCode::OK,
        serde_json::to_value(convert::number_out(n)).unwrap_or_default(),
        version,
    )
}

fn resolve(c: &mut store::Conn, t: &api_types::TargetRef) -> store::StoreResult<Target> {
    store::directory::resolve_target(c, &t.kind, &t.id)
}

/// Runs one transition on the number in the path.
async fn act(
    state: web::Data<AppState>,
    permit: domain::Permit,
    req: HttpRequest,
    number: &str,
    body: &impl serde::Serialize,
    build: impl FnOnce(&mut store::Conn) -> store::StoreResult<Request> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let e164 = convert::number("number", number)?.to_string();
    let if_match = convert::if_match(&req)?;
    let idem = Idempotent::new(&req, &permit, body)?;
    idem.run(&state, move |c| {
        let request = build(c)?;
        store::lifecycle::apply(c, &permit, &e164, request, if_match).map(number_json)
    })
    .await
}

/// Assigns a number to a directory user or a service — or, with `reassign: true`,
/// moves it from its holder in one step.
///
/// Available numbers assign directly. A number held by someone else is 409
/// `number_assigned` naming the holder unless the request says `reassign: true`, so two
/// callers racing for one free number never overwrite each other. A reserved number
/// needs `override_reservation`, a quarantined one `override_quarantine`, and both the
/// admin role. Assigning to the current assignee again changes nothing and records
/// nothing.
#[utoipa::path(
    tag = "lifecycle",
    params(
        ("number" = String, Path, description = "The number"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = AssignRequest,
    responses((status = 200, description = "The number, now assigned", body = api_types::Number))
)]
#[post("/numbers/{number}/assign")]
pub async fn assign_number(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<AssignRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let echo = b.clone();
    act(state, auth.permit, req, &path, &echo, move |c| {
        Ok(Request::Assign {
            target: resolve(c, &b.target)?,
            override_reservation: b.override_reservation,
            override_quarantine: b.override_quarantine,
            reassign: b.reassign,
        })
    })
    .await
}

/// Unassigns a number into quarantine (default period from settings), or straight to
/// available with `quarantine_days: 0` (admin role).
#[utoipa::path(
    tag = "lifecycle",
    params(
        ("number" = String, Path, description = "The number"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body(content = Option<UnassignRequest>, description = "Optional"),
    responses((status = 200, description = "The number, now quarantined or available", body = api_types::Number))
)]
#[post("/numbers/{number}/unassign")]
pub async fn unassign_number(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: UnassignRequest = json::decode_optional(&req, &body)?;
    let echo = b.clone();
    act(state, auth.permit, req, &path, &echo, move |_| {
        Ok(Request::Unassign {
            quarantine_days: b.quarantine_days,
            reason: b.reason,
        })
    })
    .await
}

/// Reserves an available number (reason required; optional expiry).
#[utoipa::path(
    tag = "lifecycle",
    params(
        ("number" = String, Path, description = "The number"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = ReserveRequest,
    responses((status = 200, description = "The number, now reserved", body = api_types::Number))
)]
#[post("/numbers/{number}/reserve")]
pub async fn reserve_number(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<ReserveRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let echo = b.clone();
    act(state, auth.permit, req, &path, &echo, move |_| {
        Ok(Request::Reserve {
            reason: b.reason,
            reserved_for: b.reserved_for,
            expires_at: b.expires_at.map(|e| e.naive_utc()),
        })
    })
    .await
}

/// Quarantines an available number (reason required; `until` defaults to the period).
#[utoipa::path(
    tag = "lifecycle",
    params(
        ("number" = String, Path, description = "The number"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body = QuarantineRequest,
    responses((status = 200, description = "The number, now quarantined", body = api_types::Number))
)]
#[post("/numbers/{number}/quarantine")]
pub async fn quarantine_number(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<QuarantineRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let echo = b.clone();
    act(state, auth.permit, req, &path, &echo, move |_| {
        Ok(Request::Quarantine {
            reason: b.reason,
            until: b.until.map(|u| u.naive_utc()),
        })
    })
    .await
}

/// Releases a reserved number, or a quarantined one whose quarantine has ended (earlier
/// needs `admin`), back to available.
#[utoipa::path(
    tag = "lifecycle",
    params(
        ("number" = String, Path, description = "The number"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe"),
    ),
    request_body(content = Option<ReleaseRequest>, description = "Optional"),
    responses((status = 200, description = "The number, now available", body = api_types::Number))
)]
#[post("/numbers/{number}/release")]
pub async fn release_number(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ReleaseRequest = json::decode_optional(&req, &body)?;
    let echo = b.clone();
    act(state, auth.permit, req, &path, &echo, move |_| {
        Ok(Request::Release { reason: b.reason })
    })
    .await
}

/// Assigns the lowest available number of a pool to a target, in one transaction.
///
/// Concurrent allocations never hand out one number twice; 409 `pool_exhausted` when the
/// pool (within the caller's scope) has no available number left.
#[utoipa::path(
    tag = "lifecycle",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = AllocationRequest,
    responses((status = 201, description = "The number assigned", body = api_types::Number))
)]
#[post("/allocations")]
pub async fn create_allocation(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    req: HttpRequest,
    body: Json<AllocationRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner()?;
    let p = &b.pool;
    let pool = Pool {
        tags: convert::tags("pool.tags", &p.tags)?
            .iter()
            .map(|t| t.key().to_string())
            .collect(),
        location_id: convert::opt_id("pool.location_id", p.location_id.as_deref())?,
        range_id: convert::opt_id("pool.range_id", p.range_id.as_deref())?,
        platform_id: convert::opt_id("pool.platform_id", p.platform_id.as_deref())?,
        number_type: convert::number_type("pool.number_type", p.number_type.as_deref())?,
        country: match p.country.as_deref().map(|c| c.trim().to_ascii_uppercase()) {
            Some(c) if !domain::phone::is_known_country(&c) => {
                return Err(ApiError::invalid(
                    ErrorCode::InvalidField,
                    "pool.country",
                    format!("'{c}' is not an ISO 3166-1 alpha-2 country code"),
                ));
            }
            other => other,
        },
    };
    let permit = auth.permit;
    let idem = Idempotent::new(&req, &permit, &b)?;
    let target = b.target;
    idem.run(&state, move |c| {
        let target = resolve(c, &target)?;
        let (_, body, version) =
            number_json(store::lifecycle::allocate(c, &permit, &pool, target)?);
        Ok((StatusCode::CREATED, body, version))
    })
    .await
}

fn settings_out(s: store::settings::Lifecycle) -> Settings {
    Settings {
        default_quarantine_days: s.default_quarantine_days,
        reservation_default_days: s.reservation_default_days,
        location_quarantine_days: s
            .location_quarantine_days
            .into_iter()
            .map(|(id, days)| api_types::LocationQuarantine {
                location_id: id.to_string(),
                days: Some(days),
            })
            .collect(),
        rules_evaluation_minutes: s.rules_evaluation_minutes,
    }
}

/// The lifecycle settings: quarantine periods and the default reservation lifetime.
#[utoipa::path(tag = "lifecycle", responses((status = 200, description = "Settings", body = Settings)))]
#[get("/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    _auth: Authorized<Read>,
) -> Result<web::Json<Settings>, ApiError> {
    Ok(web::Json(settings_out(
        state.read(store::settings::lifecycle).await?,
    )))
}

/// Changes the lifecycle settings (admin and above; audited).
#[utoipa::path(tag = "lifecycle", request_body = SettingsPatch, responses((status = 200, description = "Settings", body = Settings)))]
#[patch("/settings")]
pub async fn update_settings(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    body: Json<SettingsPatch>,
) -> Result<web::Json<Settings>, ApiError> {
    let b = body.into_inner()?;
    let mut locations = Vec::new();
    for (i, l) in b.location_quarantine_days.iter().enumerate() {
        locations.push((
            convert::id(
                &format!("location_quarantine_days[{i}].location_id"),
                &l.location_id,
            )?,
            l.days,
        ));
    }
    let change = store::settings::LifecyclePatch {
        default_quarantine_days: b.default_quarantine_days,
        reservation_default_days: b.reservation_default_days,
        location_quarantine_days: locations,
        rules_evaluation_minutes: b.rules_evaluation_minutes,
    };
    let permit = auth.permit;
    Ok(web::Json(settings_out(
        state
            .write(move |c| store::settings::update_lifecycle(c, &permit, change))
            .await?,
    )))
}
