//! Provisioning jobs (`/provisioning/jobs`) and drift between Teams and the inventory
//! (`/platforms/{id}/drift`).
//!
//! A job's number decides who sees it: outside the caller's scope it is absent (404), as
//! the number is. Drift spans a whole platform — including numbers the inventory lacks,
//! which no scope contains — so reading or settling it needs an unscoped grant (403
//! `out_of_scope` otherwise). Handlers never call Graph: adopt writes the inventory,
//! push writes jobs, and the worker does the rest.

use actix_web::{get, post, web};
use api_types::{
    DriftItem, DriftList, DriftQuery, ErrorCode, JobList, JobQuery, ProvisioningJob, SettleDrift,
    SettledDrift, SkippedNumber,
};
use store::jobs::{Job, JobFilter};

use crate::{
    AppState,
    auth::{Authorized, Manage, Operate, Read},
    convert,
    error::ApiError,
    json::Json,
    query::Query,
};

/// Most numbers one adopt or push may list.
const MAX_SETTLE_NUMBERS: usize = 10_000;

fn job_out(j: Job) -> ProvisioningJob {
    ProvisioningJob {
        id: j.id.to_string(),
        platform_id: j.platform_id.to_string(),
        number: j.number,
        action: j.action.as_str().into(),
        target: match (j.target_kind, j.target_id, j.target_name) {
            (Some(kind), Some(id), Some(name)) => {
                Some(api_types::AssignedTarget { kind, id, name })
            }
            _ => None,
        },
        previous_target_id: j.previous_target_id,
        state: j.state.as_str().into(),
        attempts: j.attempts,
        run_after: convert::utc(j.run_after),
        last_error: j.last_error,
        created_by: j.created_by,
        change_set_id: j.change_set_id,
        created_at: convert::utc(j.created_at),
        started_at: j.started_at.map(convert::utc),
        finished_at: j.finished_at.map(convert::utc),
    }
}

/// Lists provisioning jobs, newest first, filtered by state, number and platform.
#[utoipa::path(tag = "provisioning", params(JobQuery), responses((status = 200, description = "A page of jobs", body = JobList)))]
#[get("/provisioning/jobs")]
pub async fn list_jobs(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<JobQuery>,
) -> Result<web::Json<JobList>, ApiError> {
    let q = query.into_inner()?;
    let filter = JobFilter {
        state: q
            .state
            .as_deref()
            .map(|s| s.parse::<store::jobs::JobState>())
            .transpose()
            .map_err(|_| {
                ApiError::invalid(
                    ErrorCode::InvalidQuery,
                    "state",
                    "must be one of queued, running, succeeded, failed, superseded",
                )
            })?,
        number: q
            .number
            .as_deref()
            .map(|n| convert::number("number", n).map(|p| p.to_string()))
            .transpose()?,
        platform_id: convert::opt_id("platform", q.platform.as_deref())?,
    };
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| store::jobs::list(c, &scope, &filter, q.cursor.as_deref(), q.limit))
        .await?;
    Ok(web::Json(JobList {
        items: page.items.into_iter().map(job_out).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One provisioning job.
#[utoipa::path(tag = "provisioning", params(("id" = String, Path, description = "Job id")), responses((status = 200, description = "The job", body = ProvisioningJob)))]
#[get("/provisioning/jobs/{id}")]
pub async fn get_job(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    id: web::Path<String>,
) -> Result<web::Json<ProvisioningJob>, ApiError> {
    let id = convert::path_id("provisioning job", &id)?;
    let scope = auth.permit.scope().clone();
    let job = state.read(move |c| store::jobs::get(c, &scope, id)).await?;
    Ok(web::Json(job_out(job)))
}

/// Queues a job that failed for good again, with a fresh count of attempts (409
/// `job_not_failed` for any other state).
#[utoipa::path(tag = "provisioning", params(("id" = String, Path, description = "Job id")), responses((status = 200, description = "The job, queued", body = ProvisioningJob)))]
#[post("/provisioning/jobs/{id}/retry")]
pub async fn retry_job(
    state: web::Data<AppState>,
    auth: Authorized<Operate>,
    id: web::Path<String>,
) -> Result<web::Json<ProvisioningJob>, ApiError> {
    let id = convert::path_id("provisioning job", &id)?;
    let permit = auth.permit;
    let job = state
        .write(move |c| store::jobs::retry(c, &permit, id))
        .await?;
    Ok(web::Json(job_out(job)))
}

fn unscoped(permit: &domain::Permit) -> Result<(), ApiError> {
    if permit.scope().is_unrestricted() {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            code: ErrorCode::OutOfScope,
            message: "drift spans the whole platform (including numbers no scope contains): it needs an unscoped grant".into(),
        })
    }
}

fn teams_platform(
    c: &mut store::Conn,
    id: i64,
) -> store::StoreResult<Option<chrono::NaiveDateTime>> {
    store::sync::teams_platform(c, id)
}

/// Differences between Teams' number assignments (as the worker last listed them) and
/// the inventory, in E.164 order. Numbers with a provisioning job in flight are left out.
#[utoipa::path(tag = "platforms", params(("id" = String, Path, description = "Platform id"), DriftQuery), responses((status = 200, description = "A page of drift", body = DriftList)))]
#[get("/platforms/{id}/drift")]
pub async fn list_drift(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    id: web::Path<String>,
    query: Query<DriftQuery>,
) -> Result<web::Json<DriftList>, ApiError> {
    unscoped(&auth.permit)?;
    let id = convert::path_id("platform", &id)?;
    let q = query.into_inner()?;
    let (page, listed_at) = state
        .read(move |c| {
            let listed = teams_platform(c, id)?;
            Ok((
                store::drift::list(c, id, q.cursor.as_deref(), q.limit)?,
                listed,
            ))
        })
        .await?;
    Ok(web::Json(DriftList {
        items: page.items.into_iter().map(drift_out).collect(),
        next_cursor: page.next_cursor,
        listed_at: listed_at.map(convert::utc),
    }))
}

fn drift_out(d: store::drift::Drift) -> DriftItem {
    DriftItem {
        number: d.number,
        kind: serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        inventory_status: d.inventory_status,
        inventory_platform_id: d.inventory_platform_id.map(|p| p.to_string()),
        inventory_target: d.inventory_target,
        teams_target_id: d.teams_target_id,
        teams_status: d.teams_status,
        teams_number_type: d.teams_number_type,
    }
}

fn settle_numbers(body: SettleDrift) -> Result<Option<Vec<String>>, ApiError> {
    let Some(numbers) = body.numbers else {
        return Ok(None);
    };
    if numbers.len() > MAX_SETTLE_NUMBERS {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "numbers",
            format!(
                "lists {} numbers; at most {MAX_SETTLE_NUMBERS} (omit it for all)",
                numbers.len()
            ),
        ));
    }
    numbers
        .iter()
        .map(|n| convert::number("numbers", n).map(|p| p.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// [`settle_numbers`] on the blocking pool: parsing 10,000 numbers takes a few hundred
/// milliseconds, which must not hold up the other requests of an HTTP worker.
async fn settle_numbers_off_worker(body: SettleDrift) -> Result<Option<Vec<String>>, ApiError> {
    web::block(move || settle_numbers(body))
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
}

fn settled_out(s: store::drift::Settled) -> SettledDrift {
    SettledDrift {
        change_set_id: s.change_set_id,
        done: s.done,
        skipped: s
            .skipped
            .into_iter()
            .map(|k| SkippedNumber {
                number: k.number,
                reason: k.reason,
            })
            .collect(),
    }
}

/// The store function that settles drift one way or the other.
type Settle = fn(
    &mut store::Conn,
    &domain::Permit,
    i64,
    Option<&[String]>,
) -> store::StoreResult<store::drift::Settled>;

/// Adopt and push alike: an unscoped grant, a Teams platform, the listed numbers (or
/// all), one transaction.
async fn settle(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    id: &str,
    body: Json<SettleDrift>,
    how: Settle,
) -> Result<web::Json<SettledDrift>, ApiError> {
    unscoped(&auth.permit)?;
    let id = convert::path_id("platform", id)?;
    let numbers = settle_numbers_off_worker(body.into_inner()?).await?;
    let permit = auth.permit;
    let settled = state
        .write(move |c| {
            teams_platform(c, id)?;
            how(c, &permit, id, numbers.as_deref())
        })
        .await?;
    Ok(web::Json(settled_out(settled)))
}

/// Adopts Teams' state into the inventory for the listed drifted numbers (or all): one
/// change set, audited and revertible; no provisioning job is written.
#[utoipa::path(tag = "platforms", params(("id" = String, Path, description = "Platform id")), request_body = SettleDrift, responses((status = 200, description = "What was adopted", body = SettledDrift)))]
#[post("/platforms/{id}/drift/adopt")]
pub async fn adopt_drift(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    id: web::Path<String>,
    body: Json<SettleDrift>,
) -> Result<web::Json<SettledDrift>, ApiError> {
    settle(state, auth, &id, body, store::drift::adopt).await
}

/// Pushes the inventory's state to Teams for the listed drifted numbers (or all), as
/// provisioning jobs; one change set.
#[utoipa::path(tag = "platforms", params(("id" = String, Path, description = "Platform id")), request_body = SettleDrift, responses((status = 200, description = "The jobs written", body = SettledDrift)))]
#[post("/platforms/{id}/drift/push")]
pub async fn push_drift(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    id: web::Path<String>,
    body: Json<SettleDrift>,
) -> Result<web::Json<SettledDrift>, ApiError> {
    settle(state, auth, &id, body, store::drift::push).await
}
