//! Settings from `TELESTATE_*` environment variables, parsed once at start-up.
//! Every variable has a working default; an unparsable value is an error naming it.

use std::{env, str::FromStr};

use anyhow::{Context, bail};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything `telestate` reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://…` (TELESTATE_DATABASE_URL).
    pub database_url: String,
    /// Listen address (TELESTATE_BIND).
    pub bind: String,
    /// First owner's username (TELESTATE_ADMIN_USER).
    pub admin_user: String,
    /// First owner's password; generated and printed once when unset (TELESTATE_ADMIN_PASSWORD).
    pub admin_password: Option<String>,
    /// Log format (TELESTATE_LOG_FORMAT).
    pub log_format: LogFormat,
    /// tracing filter (TELESTATE_LOG).
    pub log: String,
    /// Login token lifetime (TELESTATE_JWT_TTL_SECONDS).
    pub jwt_ttl_seconds: i64,
    /// Largest range one request may create (TELESTATE_MAX_RANGE_SIZE).
    pub max_range_size: u64,
    /// Database connections per process (TELESTATE_DB_POOL_SIZE).
    pub pool_size: u32,
    /// How long a SQLite write waits for the one before it before answering 503
    /// (TELESTATE_DB_WRITE_WAIT_SECONDS).
    pub db_write_wait_seconds: u64,
    /// HTTP worker threads (TELESTATE_HTTP_WORKERS); 0 means one per core.
    pub http_workers: usize,
    /// Seconds between scheduler runs across all instances (TELESTATE_SCHEDULER_INTERVAL_SECONDS).
    pub scheduler_interval_seconds: u64,
    /// How long an import plan can be applied (TELESTATE_IMPORT_PLAN_TTL_SECONDS).
    pub import_plan_ttl_seconds: i64,
    /// Largest import upload in bytes (TELESTATE_IMPORT_MAX_BYTES).
    pub import_max_bytes: usize,
    /// Errors an import plan keeps and shows; the rest are counted (TELESTATE_IMPORT_MAX_ERRORS).
    pub import_max_errors: usize,
    /// The master secret the JWT signing key is derived from (TELESTATE_SECRET_KEY);
    /// unset: a key file in the data directory, generated on first start.
    pub secret_key: Option<store::secrets::SecretKey>,
    /// Login throttles, guess limit and hashing bound (TELESTATE_LOGIN_MAX_FAILURES,
    /// TELESTATE_LOGIN_PER_CLIENT_PER_MINUTE, TELESTATE_LOGIN_PER_MINUTE,
    /// TELESTATE_HASH_CONCURRENCY).
    pub login: api::throttle::LoginLimits,
    /// Run the worker (sync, provisioning) inside `telestate serve` (TELESTATE_WORKER,
    /// `on` or `off`; default on: one process is a whole installation).
    pub worker: bool,
    /// Provisioning jobs one worker carries out at once (TELESTATE_WORKER_CONCURRENCY).
    pub worker_concurrency: usize,
    /// Seconds a worker holds a claimed job before another worker may take it over, if
    /// the first stops renewing it (TELESTATE_WORKER_LEASE_SECONDS).
    pub worker_lease_seconds: u64,
    /// When the browser's session cookie is `Secure` (TELESTATE_COOKIE_SECURE: `auto`,
    /// the default, when the request came over https; `always`; `never`).
    pub cookie_secure: api::auth::CookieSecure,
    /// The built web app served outside the API (TELESTATE_WEB_DIR; default
    /// `frontend/dist` relative to the working directory).
    pub web_dir: std::path::PathBuf,
    /// Where `telestate worker` serves `/metrics` (TELESTATE_WORKER_METRICS_BIND); unset:
    /// nowhere (several workers on one host would otherwise fight over one port).
    pub worker_metrics_bind: Option<String>,
}

fn var(name: &str) -> Option<String> {
    env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn parsed<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={v:?} is not valid: {e}")),
    }
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> anyhow::Result<Config> {
        let database_url =
            var("TELESTATE_DATABASE_URL").unwrap_or_else(|| "sqlite://data/telestate.db".into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!(
                "TELESTATE_DATABASE_URL must start with sqlite:// or postgres:// (got {database_url:?})"
            );
        }
        let log_format = match var("TELESTATE_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("TELESTATE_LOG_FORMAT={other:?} is not valid: use text or json"),
        };
        let max_range_size: u64 = parsed("TELESTATE_MAX_RANGE_SIZE", 1_000_000)?;
        if !(1..=100_000_000).contains(&max_range_size) {
            bail!("TELESTATE_MAX_RANGE_SIZE must be between 1 and 100000000");
        }
        let pool_size: u32 = parsed("TELESTATE_DB_POOL_SIZE", 16)?;
        if pool_size == 0 {
            bail!("TELESTATE_DB_POOL_SIZE must be at least 1");
        }
        let db_write_wait_seconds: u64 = parsed("TELESTATE_DB_WRITE_WAIT_SECONDS", 10)?;
        if db_write_wait_seconds > 600 {
            bail!("TELESTATE_DB_WRITE_WAIT_SECONDS must be between 0 and 600");
        }
        let jwt_ttl_seconds: i64 = parsed("TELESTATE_JWT_TTL_SECONDS", 3600)?;
        if !(60..=86_400 * 7).contains(&jwt_ttl_seconds) {
            bail!("TELESTATE_JWT_TTL_SECONDS must be between 60 and 604800");
        }
        let import_plan_ttl_seconds: i64 = parsed("TELESTATE_IMPORT_PLAN_TTL_SECONDS", 3600)?;
        if !(60..=86_400 * 7).contains(&import_plan_ttl_seconds) {
            bail!("TELESTATE_IMPORT_PLAN_TTL_SECONDS must be between 60 and 604800");
        }
        let import_max_bytes: usize = parsed("TELESTATE_IMPORT_MAX_BYTES", 256 * 1024 * 1024)?;
        if import_max_bytes < 1024 {
            bail!("TELESTATE_IMPORT_MAX_BYTES must be at least 1024");
        }
        // Each kept error is a stored row and a line of the answer: a hostile file must
        // not turn into millions of them.
        let import_max_errors: usize = parsed("TELESTATE_IMPORT_MAX_ERRORS", 1000)?;
        if !(1..=1_000_000).contains(&import_max_errors) {
            bail!("TELESTATE_IMPORT_MAX_ERRORS must be between 1 and 1000000");
        }
        let secret_key = match var("TELESTATE_SECRET_KEY") {
            None => None,
            Some(text) => Some(
                store::secrets::SecretKey::from_text(&text)
                    .map_err(|e| anyhow::anyhow!("TELESTATE_SECRET_KEY {e}"))?,
            ),
        };
        let defaults = api::throttle::LoginLimits::default();
        let login = api::throttle::LoginLimits {
            max_failures: parsed("TELESTATE_LOGIN_MAX_FAILURES", defaults.max_failures)?,
            client_per_minute: parsed(
                "TELESTATE_LOGIN_PER_CLIENT_PER_MINUTE",
                defaults.client_per_minute,
            )?,
            global_per_minute: parsed("TELESTATE_LOGIN_PER_MINUTE", defaults.global_per_minute)?,
            hash_concurrency: parsed("TELESTATE_HASH_CONCURRENCY", defaults.hash_concurrency)?,
        };
        if !(1..=100).contains(&login.max_failures) {
            bail!("TELESTATE_LOGIN_MAX_FAILURES must be between 1 and 100");
        }
        if login.client_per_minute == 0 || login.global_per_minute == 0 {
            bail!(
                "TELESTATE_LOGIN_PER_CLIENT_PER_MINUTE and TELESTATE_LOGIN_PER_MINUTE must be at least 1"
            );
        }
        if !(1..=256).contains(&login.hash_concurrency) {
            bail!("TELESTATE_HASH_CONCURRENCY must be between 1 and 256");
        }
        let worker = match var("TELESTATE_WORKER").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => bail!("TELESTATE_WORKER={other:?} is not valid: use on or off"),
        };
        let worker_concurrency: usize = parsed("TELESTATE_WORKER_CONCURRENCY", 8)?;
        if !(1..=256).contains(&worker_concurrency) {
            bail!("TELESTATE_WORKER_CONCURRENCY must be between 1 and 256");
        }
        let worker_lease_seconds: u64 = parsed("TELESTATE_WORKER_LEASE_SECONDS", 60)?;
        if !(3..=3600).contains(&worker_lease_seconds) {
            bail!("TELESTATE_WORKER_LEASE_SECONDS must be between 3 and 3600");
        }
        Ok(Config {
            cookie_secure: parsed("TELESTATE_COOKIE_SECURE", api::auth::CookieSecure::Auto)?,
            web_dir: var("TELESTATE_WEB_DIR")
                .unwrap_or_else(|| api::webapp::DEFAULT_DIR.into())
                .into(),
            worker_metrics_bind: var("TELESTATE_WORKER_METRICS_BIND"),
            worker_lease_seconds,
            worker,
            worker_concurrency,
            secret_key,
            login,
            import_plan_ttl_seconds,
            import_max_bytes,
            import_max_errors,
            database_url,
            bind: var("TELESTATE_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            admin_user: var("TELESTATE_ADMIN_USER").unwrap_or_else(|| "admin".into()),
            admin_password: var("TELESTATE_ADMIN_PASSWORD"),
            log_format,
            log: var("TELESTATE_LOG").unwrap_or_else(|| "info".into()),
            jwt_ttl_seconds,
            max_range_size,
            pool_size,
            db_write_wait_seconds,
            http_workers: parsed("TELESTATE_HTTP_WORKERS", 0).context("TELESTATE_HTTP_WORKERS")?,
            scheduler_interval_seconds: match parsed("TELESTATE_SCHEDULER_INTERVAL_SECONDS", 60u64)?
            {
                0 => bail!("TELESTATE_SCHEDULER_INTERVAL_SECONDS must be at least 1"),
                s => s,
            },
        })
    }
}
