//! Liveness, readiness and metrics: unauthenticated, for load balancers and Prometheus.

use actix_web::{HttpResponse, get, web};
use api_types::Health;
use store::Backend;

use crate::{AppState, error::ApiError};

fn backend(state: &AppState) -> String {
    match state.db.backend() {
        Backend::Sqlite => "sqlite".into(),
        Backend::Postgres => "postgres".into(),
    }
}

/// The process is up.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive", body = Health)), security(()))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
        database: None,
    })
}

/// The database answers; 503 otherwise.
#[utoipa::path(tag = "health", responses((status = 200, description = "Ready", body = Health)), security(()))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    state
        .read(|c| store::admins::count(c).map(|_| ()))
        .await
        .map_err(|e| match e {
            ApiError::Internal(m) => ApiError::Unavailable(m),
            other => other,
        })?;
    Ok(web::Json(Health {
        status: "ok".into(),
        database: Some(backend(&state)),
    }))
}

/// Prometheus metrics: requests by route and status, latency, pool usage.
#[utoipa::path(tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)), security(()))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // A database that cannot answer leaves the job gauges at their last values.
    let jobs = state.read(store::jobs::counts).await.unwrap_or_default();
    let body = state
        .metrics
        .render_with_jobs(state.db.pool_state(), state.db.pool_size(), &jobs);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
