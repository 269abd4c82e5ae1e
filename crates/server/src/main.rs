//! `telestate`: the one binary — serve the API, migrate, print the spec, manage admins.

mod config;
mod demo;
mod export;
mod import;
mod remote;

use std::sync::Arc;

use actix_web::{HttpServer, web};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use config::{Config, LogFormat};
use domain::{Permit, Role, Source};
use store::Db;

#[derive(Parser)]
#[command(
    name = "telestate",
    version,
    about = "Self-hosted control layer for a telephone-number estate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API (creates the first owner on first start).
    Serve,
    /// Serve a ready demo estate (SQLite file data/demo.db unless TELESTATE_DATABASE_URL is set).
    Demo,
    /// Run only the worker: directory sync and provisioning jobs (any number of them
    /// against one PostgreSQL).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Export numbers as CSV (the import's columns) from the database or a server (--url).
    Export(Box<export::ExportArgs>),
    /// Plan a CSV import (and apply it with --apply) on the database or a server (--url).
    Import(import::ImportArgs),
    /// Manage admin accounts directly in the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Password (at least 8 characters); generated and printed when omitted.
        #[arg(long, env = "TELESTATE_NEW_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// viewer, operator, admin or owner.
        #[arg(long, default_value = "owner")]
        role: String,
    },
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn open_db(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database_url, config.pool_size)
        .context("opening the database (TELESTATE_DATABASE_URL)")?
        .with_write_wait(std::time::Duration::from_secs(config.db_write_wait_seconds));
    let ran = db.migrate().context("migrating the database")?;
    if ran > 0 {
        tracing::info!(migrations = ran, "database migrated");
    }
    Ok(db)
}

/// Creates an account from the command line or on first start; returns the password
/// when it was generated, so the caller can show it once.
fn create_admin(
    db: &Db,
    username: &str,
    password: Option<String>,
    role: Role,
    component: &str,
) -> anyhow::Result<Option<String>> {
    let generated = password.is_none();
    let password = password.unwrap_or_else(store::secrets::new_password);
    let hash = store::secrets::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let permit = Permit::system(component, Source::Cli);
    let new = store::admins::NewAdmin {
        username: username.to_string(),
        password_hash: hash,
        role,
        scope_locations: vec![],
        scope_tags: vec![],
    };
    db.write(|c| store::admins::create(c, &permit, new))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(generated.then_some(password))
}

fn ensure_first_owner(db: &Db, config: &Config) -> anyhow::Result<()> {
    if db
        .read(store::admins::count)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        > 0
    {
        return Ok(());
    }
    match create_admin(
        db,
        &config.admin_user,
        config.admin_password.clone(),
        Role::Owner,
        "first-start",
    ) {
        Ok(Some(password)) => {
            // Printed once, on purpose: there is no other way to learn a generated password.
            println!(
                "Created the first owner account.\n  username: {}\n  password: {password}\nChange it after logging in.",
                config.admin_user
            );
        }
        Ok(None) => {
            tracing::info!(admin.username = %config.admin_user, "created the first owner from TELESTATE_ADMIN_USER")
        }
        // Another instance starting at the same moment may have created it first.
        Err(e) if e.to_string().contains("taken") => {}
        Err(e) => return Err(e.context("creating the first owner")),
    }
    Ok(())
}

/// Runs the scheduled releases on a timer; the database lease makes one instance work per
/// interval however many run.
fn spawn_scheduler(db: Db, interval: std::time::Duration) {
    let holder = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
    actix_web::rt::spawn(async move {
        let mut timer = actix_web::rt::time::interval(interval);
        loop {
            timer.tick().await;
            let (db, holder) = (db.clone(), holder.clone());
            match web::block(move || store::scheduler::tick(&db, &holder, interval)).await {
                Ok(Ok(store::scheduler::Tick::Ran { released })) if released > 0 => {
                    tracing::info!(
                        released,
                        "scheduler released expired reservations and quarantines"
                    )
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "scheduler run failed; next interval retries")
                }
                Err(e) => tracing::warn!(error = %e, "scheduler task failed"),
            }
        }
    });
}

/// Starts the worker on a runtime of its own (one thread: its work is waiting on Graph
/// and the database's blocking pool), so it never competes with the HTTP workers' event
/// loops. Returns the switch that stops it and its thread.
fn start_worker(
    db: Db,
    secret_key: store::secrets::SecretKey,
    config: &Config,
    metrics: Arc<worker::Metrics>,
    demo: bool,
) -> anyhow::Result<(
    tokio::sync::watch::Sender<bool>,
    std::thread::JoinHandle<()>,
)> {
    let holder = format!(
        "{}-{}-{:08x}",
        hostname(),
        std::process::id(),
        rand::random::<u32>()
    );
    let mut wc = worker::Config::new(holder);
    wc.concurrency = config.worker_concurrency;
    wc.lease = std::time::Duration::from_secs(config.worker_lease_seconds);
    if demo {
        // The simulator finishes operations in a fraction of a second; polling them as
        // often lets the demo's first provisioning wave finish in seconds, not minutes.
        wc.graph_poll.first_delay = std::time::Duration::from_millis(250);
        wc.graph_poll.max_delay = std::time::Duration::from_secs(2);
    }
    let w = worker::Worker::new(db, secret_key, wc, metrics)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("telestate-worker")
        .enable_all()
        .build()
        .context("starting the worker's runtime")?;
    let thread = std::thread::Builder::new()
        .name("telestate-worker".into())
        .spawn(move || runtime.block_on(w.run(stopped)))
        .context("starting the worker's thread")?;
    Ok((stop, thread))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// `telestate worker`: the worker alone, until SIGINT or SIGTERM; with
/// `TELESTATE_WORKER_METRICS_BIND` set, it also serves `/metrics` there.
fn run_worker(config: Config) -> anyhow::Result<()> {
    let db = open_db(&config)?;
    let secret_key = secret_key(&config)?;
    let metrics = Arc::new(worker::Metrics::default());
    let (stop, thread) = start_worker(db.clone(), secret_key, &config, metrics.clone(), false)?;
    let served = actix_web::rt::System::new().block_on(async move {
        let server = match &config.worker_metrics_bind {
            Some(bind) => {
                let mut registry = api::observe::Metrics::default();
                registry.register(|r| metrics.register(r));
                let registry = web::Data::new(registry);
                let db = web::Data::new(db);
                let server = HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(registry.clone())
                        .app_data(db.clone())
                        .route("/metrics", web::get().to(worker_metrics))
                })
                .workers(1)
                .bind(bind)
                .with_context(|| format!("binding {bind} (TELESTATE_WORKER_METRICS_BIND)"))?
                .disable_signals()
                .run();
                let handle = server.handle();
                actix_web::rt::spawn(server);
                tracing::info!(bind = %bind, "worker metrics at /metrics");
                Some(handle)
            }
            None => None,
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if let Some(handle) = server {
            handle.stop(true).await;
        }
        anyhow::Ok(())
    });
    tracing::info!("stopping the worker");
    let _ = stop.send(true);
    let _ = thread.join();
    served
}

/// The worker process's `/metrics`: its own counters and the jobs by state.
async fn worker_metrics(
    registry: web::Data<api::observe::Metrics>,
    db: web::Data<Db>,
) -> actix_web::HttpResponse {
    let pool = (db.pool_state(), db.pool_size());
    let db = db.get_ref().clone();
    let jobs = web::block(move || db.read(store::jobs::counts))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(registry.render_with_jobs(pool.0, pool.1, &jobs))
}

/// The master secret: `TELESTATE_SECRET_KEY`, or else the key file `secret.key` in the
/// data directory (the SQLite file's folder; `data/` for PostgreSQL), created with a fresh
/// random key (mode 0600) on first start. Instances sharing a PostgreSQL database must
/// share the secret, so there it should be set.
fn secret_key(config: &Config) -> anyhow::Result<store::secrets::SecretKey> {
    if let Some(key) = &config.secret_key {
        return Ok(key.clone());
    }
    let url = config.database_url.as_str();
    let dir = match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(path) => std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| ".".into()),
        None => {
            tracing::warn!(
                "TELESTATE_SECRET_KEY is unset: using data/secret.key; every instance sharing this database needs the same TELESTATE_SECRET_KEY"
            );
            "data".into()
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("secret.key");
    store::secrets::SecretKey::load_or_create(&path).with_context(|| {
        format!(
            "reading or creating the key file {} (or set TELESTATE_SECRET_KEY)",
            path.display()
        )
    })
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let db = open_db(&config)?;
    let secret_key = secret_key(&config)?;
    ensure_first_owner(&db, &config)?;
    let demo_run = if demo {
        Some(start_demo(&db, &secret_key, &config).await?)
    } else {
        None
    };
    spawn_scheduler(
        db.clone(),
        std::time::Duration::from_secs(config.scheduler_interval_seconds),
    );
    let api_config = api::ApiConfig {
        max_range_size: config.max_range_size,
        jwt_ttl_seconds: config.jwt_ttl_seconds,
        import_plan_ttl_seconds: config.import_plan_ttl_seconds,
        import_max_bytes: config.import_max_bytes,
        import_max_errors: config.import_max_errors,
        secret_key,
        login: config.login,
        cookie_secure: config.cookie_secure,
        web_dir: config.web_dir.clone(),
    };
    let worker_metrics = Arc::new(worker::Metrics::default());
    let worker = if config.worker {
        Some(start_worker(
            db.clone(),
            api_config.secret_key.clone(),
            &config,
            worker_metrics.clone(),
            demo_run.is_some(),
        )?)
    } else {
        None
    };
    if let Some(run) = &demo_run {
        // Drift waits for the numbers it changes to be provisioned, so it runs beside
        // the server rather than before it.
        let drift = demo::introduce_drift(
            db.clone(),
            run.sim.tenant(),
            run.platform_id,
            std::time::Duration::from_secs(600),
        );
        actix_web::rt::spawn(async move {
            match drift.await {
                Ok(demo::DriftOutcome::Introduced { .. }) => {}
                Ok(demo::DriftOutcome::TimedOut) => tracing::warn!(
                    "demo: the numbers drift is shown on were not provisioned within 10 minutes; no drift introduced"
                ),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "demo: introducing drift failed")
                }
            }
        });
    }
    let state = web::Data::new(
        api::AppState::new(db, api_config)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_metrics(|registry| worker_metrics.register(registry)),
    );
    let spec = Arc::new(api::openapi());
    let mut server = HttpServer::new(move || api::app(state.clone(), spec.clone()));
    if config.http_workers > 0 {
        server = server.workers(config.http_workers);
    }
    let server = server
        .bind(&config.bind)
        .with_context(|| format!("binding {} (TELESTATE_BIND)", config.bind))?;
    if !config.web_dir.join("index.html").is_file() {
        tracing::warn!(
            web_dir = %config.web_dir.display(),
            "no web app found (TELESTATE_WEB_DIR): / answers how to build it"
        );
    }
    tracing::info!(bind = %config.bind, "serving; the web app at /, API docs at /api/docs/");
    let served = server.run().await.context("serving");
    if let Some((stop, thread)) = worker {
        let _ = stop.send(true);
        let _ = web::block(move || thread.join()).await;
    }
    if let Some(run) = demo_run {
        run.stop().await;
    }
    served
}

/// `telestate demo`: the simulated Teams tenant and the demo estate, then the banner.
async fn start_demo(
    db: &Db,
    secret_key: &store::secrets::SecretKey,
    config: &Config,
) -> anyhow::Result<demo::Demo> {
    let started = std::time::Instant::now();
    let options = demo::Options {
        max_range_size: config.max_range_size,
        // Long enough to see an assignment pending before it is provisioned.
        operation_delay: std::time::Duration::from_millis(200),
    };
    let demo = demo::start(db, secret_key, options).await?;
    if demo.first_start {
        tracing::info!(
            duration_ms = started.elapsed().as_millis() as u64,
            "seeded the demo estate"
        );
    }
    println!(
        "Telestate demo: http://{}/api/docs/  (log in as {} / {})",
        config.bind,
        config.admin_user,
        config
            .admin_password
            .as_deref()
            .unwrap_or("the password printed above")
    );
    println!(
        "Simulated Microsoft Teams tenant running at {} (platform '{}'): sync, provisioning and drift work without a Microsoft account.",
        demo.sim.graph_base_url(),
        demo::PLATFORM_NAME
    );
    Ok(demo)
}

/// Caps glibc's malloc arenas at two. By default glibc gives every thread that allocates
/// an arena of its own (up to 8 per core) and keeps their freed memory: after a burst of
/// concurrent requests over the blocking pool's threads the server held ~50 MB it no
/// longer used (measured by bench/run.sh: 179 MB during an export, 133 MB with the cap,
/// at the same speed). The SQLite page caches (8 MB per pooled connection, 64 MB for the one writer) are the rest.
/// The Rust heap. glibc's malloc, capped at two arenas for memory's sake (below), was a
/// third of the CPU of a list page under 16 clients (its locks, `malloc_consolidate`);
/// mimalloc's thread-local heaps served 45% more pages at the same memory, once its
/// arenas are committed as they are used rather than up front (`mimalloc_options`).
/// SQLite's own allocations stay on glibc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit` in mimalloc v3's `mi_option_e` (mimalloc.h).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// Commits mimalloc's arenas on use: eagerly committed, the server's peak RSS in the
/// search benchmark was 160 MB instead of 60 MB, at the same speed. It must be set before
/// the first allocation reserves an arena, so it runs as an ELF constructor, before the
/// Rust runtime (and `main`) allocates anything.
#[used]
#[unsafe(link_section = ".init_array")]
static MIMALLOC_OPTIONS: extern "C" fn() = {
    extern "C" fn set() {
        // SAFETY: sets an allocator option; no thread other than this one exists yet.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    }
    set
};

fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any thread
    // other than main exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let mut config = Config::from_env()?;
    if matches!(cli.command, Command::Demo) {
        // The demo must run with no set-up: its own file and a known password, unless told otherwise.
        if std::env::var_os("TELESTATE_DATABASE_URL").is_none() {
            config.database_url = "sqlite://data/demo.db".into();
        }
        config
            .admin_password
            .get_or_insert_with(|| "telestate-demo".into());
    }
    init_tracing(&config);
    match cli.command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(config, false)),
        Command::Demo => actix_web::rt::System::new().block_on(serve(config, true)),
        Command::Worker => run_worker(config),
        Command::Migrate => {
            open_db(&config)?;
            println!("database is up to date");
            Ok(())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&api::openapi())?);
            Ok(())
        }
        Command::Export(args) => export::run(*args, &config),
        Command::Import(args) => import::run(args, &config),
        Command::Admin {
            command:
                AdminCommand::Create {
                    username,
                    password,
                    role,
                },
        } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let db = open_db(&config)?;
            if let Some(p) = password.as_deref()
                && p.chars().count() < store::secrets::MIN_PASSWORD_CHARS
            {
                bail!(
                    "--password must be at least {} characters",
                    store::secrets::MIN_PASSWORD_CHARS
                );
            }
            match create_admin(&db, &username, password, role, "cli")? {
                Some(generated) => {
                    println!("created {role} '{username}' with password: {generated}")
                }
                None => println!("created {role} '{username}'"),
            }
            Ok(())
        }
    }
}
