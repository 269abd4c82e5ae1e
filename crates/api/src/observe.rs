//! Per-request observability: a request id, a tracing span, and Prometheus metrics.

use api_types::ErrorCode;
use std::time::Instant;

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use tracing::Instrument;

use crate::AppState;

/// The id of the request being served; echoed as `X-Request-Id` and stored in audit records.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 14,
    ))
}

/// The process's metrics, rendered at `/metrics`.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pool: Family<PoolLabels, Gauge>,
    jobs: Family<JobLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    state: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "telestate_http_requests",
            "HTTP requests by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "telestate_http_request_duration_seconds",
            "HTTP request latency by route pattern",
            latency.clone(),
        );
        registry.register(
            "telestate_db_pool_connections",
            "Database pool connections by state (in_use, idle, max)",
            pool.clone(),
        );
        let jobs = Family::<JobLabels, Gauge>::default();
        registry.register(
            "telestate_provisioning_jobs",
            "Provisioning jobs by state, across all workers",
            jobs.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            pool,
            jobs,
        }
    }
}

impl Metrics {
    /// Lets another part of the process add its metrics to the same registry.
    pub fn register(&mut self, register: impl FnOnce(&mut Registry)) {
        register(&mut self.registry);
    }

    /// Renders the Prometheus text format, with the pool's current state and the
    /// provisioning jobs by state (read from the database, so they cover every worker).
    pub fn render_with_jobs(
        &self,
        pool: (u32, u32),
        pool_max: u32,
        jobs: &[(String, i64)],
    ) -> String {
        for state in store::jobs::JobState::ALL {
            let n = jobs
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            self.jobs
                .get_or_create(&JobLabels {
                    state: state.as_str().into(),
                })
                .set(n);
        }
        self.render(pool, pool_max)
    }

    /// Renders the Prometheus text format, with the pool's current state.
    pub fn render(&self, pool: (u32, u32), pool_max: u32) -> String {
        self.pool
            .get_or_create(&PoolLabels {
                state: "in_use".into(),
            })
            .set(pool.0.into());
        self.pool
            .get_or_create(&PoolLabels {
                state: "idle".into(),
            })
            .set(pool.1.into());
        self.pool
            .get_or_create(&PoolLabels {
                state: "max".into(),
            })
            .set(pool_max.into());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The longest request id a client may choose.
const MAX_REQUEST_ID: usize = 64;

/// The client's `X-Request-Id` when it is 1-64 of `[A-Za-z0-9._-]` (it lands in logs and
/// the audit trail, so nothing that could forge a log line or hide in one); otherwise, or
/// without one, a generated id.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_REQUEST_ID
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            let n: u128 = rand::random();
            format!("{n:032x}")
        })
}

/// Wraps every request: assigns the id, opens the span, counts and times it.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // Text with NUL cannot be stored by PostgreSQL and matches nothing anywhere: refuse it
    // up front, identically on both backends.
    if req.uri().path().to_ascii_lowercase().contains("%00") {
        let error = crate::error::ApiError::invalid(
            ErrorCode::InvalidPath,
            "path",
            "must not contain NUL characters",
        );
        return Ok(req
            .into_response(actix_web::ResponseError::error_response(&error))
            .map_into_right_body());
    }
    let id = request_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let span = tracing::info_span!("request", request.id = %id, http.method = %method, http.route = %route);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    span.in_scope(|| {
        tracing::info!(
            http.status = status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "served"
        )
    });
    if let Some(m) = metrics {
        m.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.clone(),
                status,
            })
            .inc();
        m.latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res.map_into_left_body())
}
