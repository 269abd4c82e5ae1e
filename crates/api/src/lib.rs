//! Telestate's REST API: actix-web handlers documented by utoipa.
//!
//! Every URL is wired in [`routes`] through `utoipa-actix-web`, so the OpenAPI document is
//! collected from the very routes that serve requests and cannot drift from them.
//! Handlers are thin: extract → authorize (by extractor type, see [`auth`]) → one store
//! call on the blocking pool → map to a wire type. The API never calls Microsoft Graph.

pub mod auth;
pub mod cli;
pub mod convert;
pub mod error;
pub mod events;
mod handlers;
pub mod headers;
pub mod idempotency;
pub mod json;
pub mod observe;
pub mod query;
pub mod routes;
pub mod throttle;
pub mod webapp;

use std::sync::Arc;

use actix_web::{
    App, Error,
    body::MessageBody,
    dev::{ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::from_fn,
    web,
};
use store::{Conn, Db, StoreResult};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

pub use error::ApiError;
use routes::Conventions;

/// Settings the API needs, parsed once by the server from `TELESTATE_*` variables.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest range a single request may create.
    pub max_range_size: u64,
    /// Lifetime of login tokens, in seconds.
    pub jwt_ttl_seconds: i64,
    /// How long an import plan can be applied, in seconds.
    pub import_plan_ttl_seconds: i64,
    /// Largest import upload, in bytes (413 above).
    pub import_max_bytes: usize,
    /// Errors an import or revert plan keeps and shows; the rest are counted.
    pub import_max_errors: usize,
    /// The master secret the JWT signing key is derived from (`TELESTATE_SECRET_KEY`).
    pub secret_key: store::secrets::SecretKey,
    /// Login throttles, the guess limit and the hashing bound.
    pub login: throttle::LoginLimits,
    /// When the session cookie is `Secure` (`TELESTATE_COOKIE_SECURE`).
    pub cookie_secure: auth::CookieSecure,
    /// The built web app (`TELESTATE_WEB_DIR`), served at every path outside the API.
    pub web_dir: std::path::PathBuf,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_range_size: 1_000_000,
            jwt_ttl_seconds: 3600,
            import_plan_ttl_seconds: 3600,
            import_max_bytes: 256 * 1024 * 1024,
            import_max_errors: 1000,
            // The server always passes its own; this fixed one lets tests and second
            // "instances" in tests agree on the signing key.
            secret_key: store::secrets::SecretKey::insecure_default(),
            login: throttle::LoginLimits::default(),
            cookie_secure: auth::CookieSecure::default(),
            web_dir: webapp::DEFAULT_DIR.into(),
        }
    }
}

/// What every handler can reach.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Parsed settings.
    pub config: ApiConfig,
    /// Login-token keys.
    pub jwt: auth::JwtKeys,
    /// Request metrics.
    pub metrics: Arc<observe::Metrics>,
    /// Callers resolved in the last seconds (see [`auth::PRINCIPAL_CACHE_SECONDS`]).
    pub principals: auth::PrincipalCache,
    /// Live changes for `GET /api/v1/events`; one hub per process.
    pub events: events::Hub,
    /// Login throttles and the bound on concurrent password hashing.
    pub login: throttle::LoginGuard,
}

impl AppState {
    /// Builds the state, deriving the JWT signing key from the configured secret and the
    /// installation's salt (created on first start).
    pub fn new(db: Db, config: ApiConfig) -> StoreResult<AppState> {
        let key = db.write(|c| store::settings::jwt_signing_key(c, &config.secret_key))?;
        let jwt = auth::JwtKeys::new(&key, config.jwt_ttl_seconds);
        let events = events::Hub::new(db.clone());
        let login = throttle::LoginGuard::new(config.login);
        Ok(AppState {
            db,
            config,
            jwt,
            metrics: Arc::new(observe::Metrics::default()),
            principals: auth::PrincipalCache::default(),
            events,
            login,
        })
    }

    /// Adds metrics of other parts of the process (the worker) to `/metrics`.
    pub fn with_metrics(
        mut self,
        register: impl FnOnce(&mut prometheus_client::registry::Registry),
    ) -> AppState {
        if let Some(m) = Arc::get_mut(&mut self.metrics) {
            m.register(register);
        }
        self
    }

    /// Runs read-only store work on the blocking pool with one connection.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let db = self.db.clone();
        web::block(move || db.read(f))
            .await
            .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// Runs store work in one transaction on the blocking pool.
    pub async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let db = self.db.clone();
        web::block(move || db.write(f))
            .await
            .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// Runs work that manages its own connections (login) on the blocking pool.
    pub async fn with_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> StoreResult<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let db = self.db.clone();
        web::block(move || f(&db))
            .await
            .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
            .map_err(ApiError::from)
    }
}

/// The OpenAPI document's fixed parts; paths come from [`routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Telestate API",
        description = "Self-hosted control layer for an organisation's telephone-number estate. \
            Authenticate with `POST /api/v1/auth/login` (or an API token) and send `Authorization: Bearer <token>`; \
            browsers log in with `POST /api/v1/auth/session` instead, which sets the HttpOnly cookie `telestate_session` \
            and answers a CSRF token to send as `X-Telestate-CSRF` on every POST, PUT, PATCH and DELETE. \
            Errors share one envelope: `{\"error\": {\"code\", \"message\", \"details\"}}`; invalid input is a 400 whose \
            `details.field` names the field. Objects outside the caller's scope answer 404, as if absent; writes whose \
            result would leave the scope answer 403 `out_of_scope`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&Conventions),
    // Not a response body of its own: the `data` of the `ready` and `reset` events.
    components(schemas(api_types::StreamMark)),
    tags(
        (name = "auth", description = "Login and the caller"),
        (name = "numbers", description = "The number inventory"),
        (name = "ranges", description = "Blocks of consecutive numbers"),
        (name = "locations", description = "Sites"),
        (name = "services", description = "Non-person assignment targets: auto attendants, call queues, trunks, …"),
        (name = "directory", description = "Users and groups synced from Microsoft Entra ID (read-only)"),
        (name = "platforms", description = "Where numbers are provisioned: Teams tenants, webhooks, inventory only (secrets are write-only)"),
        (name = "tags", description = "Labels on numbers and ranges"),
        (name = "lifecycle", description = "Assign, unassign, reserve, quarantine, release; allocations; settings"),
        (name = "stats", description = "Dashboard counts"),
        (name = "admins", description = "Admin accounts (owners only)"),
        (name = "api-tokens", description = "Integration tokens (owners only)"),
        (name = "audit", description = "The append-only audit trail"),
        (name = "imports", description = "CSV imports: plan, then apply"),
        (name = "change-sets", description = "Groups of changes (an import, a bulk action, a rule run): list and revert"),
        (name = "rules", description = "Automatic assignment from Entra ID attributes: rules, previews, runs"),
        (name = "export", description = "The inventory as streamed CSV, in the import's columns"),
        (name = "events", description = "Server-sent events of every committed change"),
        (name = "health", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The complete OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    utoipa::Modify::modify(&routes::Conventions, &mut api);
    api
}

/// The whole application: API routes, docs page, health, metrics, and the error envelope
/// for anything unmatched. Used by `telestate serve` and by the tests alike.
pub fn app(
    state: web::Data<AppState>,
    spec: Arc<utoipa::openapi::OpenApi>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    // The docs service goes first: actix hands every `/api/v1/...` request to the scope
    // registered for that prefix, so the spec's URL must be claimed before it.
    // The spec itself first, for GET and HEAD alike (the docs service answers GET only);
    // the docs page reads it from here too.
    let spec_json = web::Bytes::from(spec.to_json().unwrap_or_default());
    let serve_spec = move || {
        let body = spec_json.clone();
        async move {
            actix_web::HttpResponse::Ok()
                .content_type("application/json")
                .body(body)
        }
    };
    let (app, _) = App::new()
        .service(
            web::resource("/api/v1/openapi.json")
                .route(web::get().to(serve_spec.clone()))
                .route(web::head().to(serve_spec)),
        )
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/api/docs/{_:.*}")
                .url("/api/v1/openapi.json", (*spec).clone()),
        )
        .service(web::redirect("/api/docs", "/api/docs/"))
        .into_utoipa_app()
        .configure(routes::configure)
        .split_for_parts();
    app.app_data(state)
        .app_data(web::PayloadConfig::new(json::MAX_BODY_BYTES))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .default_service(web::to(webapp::serve))
        .wrap(from_fn(observe::middleware))
        .wrap(from_fn(headers::middleware))
}
