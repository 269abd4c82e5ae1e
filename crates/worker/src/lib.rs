//! The worker: keeps platforms in step with the inventory.
//!
//! - **Provisioning** ([`provision`]): claims provisioning jobs (written by the store in
//!   the transaction of each assign, reassign and unassign) under a lease and carries
//!   them out — Teams' `assignNumber` / `unassignNumber` and the operation polled to its
//!   end, or a signed webhook POST — then records the outcome on the job and the number.
//! - **Sync** ([`sync`]): on each Teams platform's interval (or when asked), reads users
//!   and groups from Entra ID with delta queries into the directory, and lists Teams'
//!   number assignments into the snapshot drift is computed from.
//! - **Rules** ([`rules`]): right after each sync, the users it changed are evaluated
//!   against the assignment rules; full runs are queued by a person or the schedule. The
//!   numbers they assign and unassign get provisioning jobs like any other change.
//!
//! Any number of workers may run against one database (`telestate worker`, or inside
//! `telestate serve`): jobs are claimed with conditional updates and syncs take a lease,
//! so no job runs twice at once and no platform is synced twice at once. The worker
//! writes only through the store's audited functions, as `platform:<name>` or `system`.
//! **Rule:** database calls are synchronous; they run on tokio's blocking pool through
//! [`Worker::db`], never on the async threads that drive HTTP.

pub mod metrics;
pub mod provision;
pub mod rules;
pub mod sync;
pub mod webhook;

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use store::{Db, StoreResult, platforms::Credentials, secrets::SecretKey};
use tokio::sync::{Mutex, Semaphore, watch};

pub use metrics::Metrics;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// This worker's name in leases (unique per process).
    pub holder: String,
    /// How long a claimed job or a sync is this worker's before another may take it
    /// over; renewed while the work goes on.
    pub lease: Duration,
    /// Jobs carried out at once.
    pub concurrency: usize,
    /// How often the queue and the sync schedule are looked at when nothing wakes the
    /// worker.
    pub poll: Duration,
    /// Timeout of each Graph or webhook call.
    pub http_timeout: Duration,
    /// Retry and polling policy for Graph (tests shorten it).
    pub graph_retry: graph::RetryPolicy,
    /// How Teams operations are polled.
    pub graph_poll: graph::PollPolicy,
}

impl Config {
    /// Defaults for a worker named `holder`.
    pub fn new(holder: impl Into<String>) -> Config {
        Config {
            holder: holder.into(),
            lease: Duration::from_secs(60),
            concurrency: 8,
            poll: Duration::from_millis(500),
            http_timeout: Duration::from_secs(30),
            graph_retry: graph::RetryPolicy::default(),
            graph_poll: graph::PollPolicy::default(),
        }
    }
}

/// A Graph client per Teams platform, rebuilt when the platform's settings change.
type Clients = Mutex<HashMap<i64, (String, graph::Client)>>;

/// How long a platform's settings are used before they are read again: a rotated secret
/// or a changed URL takes effect within this, without a database read per job.
const SETTINGS_TTL: Duration = Duration::from_secs(15);

/// How long the worker's writes wait at SQLite's writer gate (at least; the server's
/// `TELESTATE_DB_WRITE_WAIT_SECONDS` when longer). Nobody's request waits on them, so a
/// rule run's batch waits its turn behind the requests and the run's other lanes rather
/// than give up and leave its users failed with `Unavailable`.
pub const WORKER_WRITE_WAIT: Duration = Duration::from_secs(120);

/// One worker: its database, configuration and HTTP clients.
pub struct Worker {
    db: Db,
    secret_key: SecretKey,
    config: Config,
    clients: Clients,
    settings: Mutex<HashMap<i64, (Credentials, std::time::Instant)>>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    wake: tokio::sync::Notify,
    rules_wake: tokio::sync::Notify,
}

impl Worker {
    /// A worker over `db`; `secret_key` opens the platforms' sealed secrets.
    pub fn new(
        db: Db,
        secret_key: SecretKey,
        config: Config,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Arc<Worker>> {
        // reqwest is built without a crypto provider: ring is installed once per process.
        let _ = rustls_provider();
        let http = reqwest::Client::builder()
            .timeout(config.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the webhook HTTP client")?;
        let wait = db.write_wait().max(WORKER_WRITE_WAIT);
        Ok(Arc::new(Worker {
            db: db.with_write_wait(wait),
            secret_key,
            config,
            clients: Mutex::new(HashMap::new()),
            settings: Mutex::new(HashMap::new()),
            http,
            metrics,
            wake: tokio::sync::Notify::new(),
            rules_wake: tokio::sync::Notify::new(),
        }))
    }

    /// Runs a store call on the blocking pool.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> StoreResult<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let db = self.db.clone();
        Ok(tokio::task::spawn_blocking(move || f(&db))
            .await
            .context("database task panicked")??)
    }

    /// The worker's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Its metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Wakes the worker now (a test, or a process that knows a job was written).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Wakes the rules loop now: a sync just changed the directory.
    pub fn wake_rules(&self) {
        self.rules_wake.notify_one();
    }

    /// Resolves when [`Worker::wake_rules`] is called.
    pub(crate) async fn rules_woken(&self) {
        self.rules_wake.notified().await
    }

    /// The platform's credentials, opened with the installation's key (read at most
    /// every [`SETTINGS_TTL`]).
    pub async fn credentials(&self, platform_id: i64) -> anyhow::Result<Credentials> {
        if let Some((c, at)) = self.settings.lock().await.get(&platform_id)
            && at.elapsed() < SETTINGS_TTL
        {
            return Ok(c.clone());
        }
        let key = self.secret_key.clone();
        // A write: the first use of the sealing key creates its salt.
        let fresh = self
            .db(move |db| {
                db.write(|c| {
                    let sealer = store::settings::sealer(c, &key)?;
                    store::platforms::credentials(c, &sealer, platform_id)
                })
            })
            .await?;
        self.settings
            .lock()
            .await
            .insert(platform_id, (fresh.clone(), std::time::Instant::now()));
        Ok(fresh)
    }

    /// The Graph client of a Teams platform, built from its current settings (a change of
    /// settings — a rotated secret — builds a new one).
    pub async fn graph(&self, platform_id: i64) -> anyhow::Result<graph::Client> {
        let Credentials::Teams {
            tenant_id,
            client_id,
            client_secret,
            graph_base_url,
            login_base_url,
            ..
        } = self.credentials(platform_id).await?
        else {
            anyhow::bail!("platform {platform_id} is not a Teams platform");
        };
        // The settings fingerprint: a hash, so the secret is not kept twice in memory.
        let fingerprint = format!(
            "{tenant_id}\n{client_id}\n{graph_base_url}\n{login_base_url}\n{:x}",
            fnv(client_secret.as_bytes())
        );
        let mut clients = self.clients.lock().await;
        if let Some((f, c)) = clients.get(&platform_id)
            && *f == fingerprint
        {
            return Ok(c.clone());
        }
        let mut config =
            graph::Config::new(tenant_id, client_id, graph::Secret::new(client_secret));
        config.graph_base_url = graph_base_url;
        config.login_base_url = login_base_url;
        config.timeout = self.config.http_timeout;
        config.retry = self.config.graph_retry;
        config.poll = self.config.graph_poll;
        let client = graph::Client::new(config)
            .context("building the Graph client")?
            .with_observer(self.metrics.clone());
        clients.insert(platform_id, (fingerprint, client.clone()));
        Ok(client)
    }

    /// The webhook HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Runs until `shutdown` turns true: the provisioning loop and the sync loop. Jobs in
    /// flight at shutdown are handed back to the queue for another worker.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker.holder = %self.config.holder, "worker started");
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let sync_task = tokio::spawn(sync::run(self.clone(), shutdown.clone()));
        let rules_task = tokio::spawn(rules::run(self.clone(), shutdown.clone()));
        loop {
            if *shutdown.borrow() {
                break;
            }
            match provision::claim_and_start(&self, &slots).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "claiming provisioning jobs failed")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
        // Let jobs in flight finish their current step, then give back what is left.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            slots.acquire_many(self.config.concurrency.max(1) as u32),
        )
        .await;
        let holder = self.config.holder.clone();
        if let Err(e) = self
            .db(move |db| db.write(|c| store::jobs::release_claims(c, &holder)))
            .await
        {
            tracing::warn!(error = %format!("{e:#}"), "handing back claimed jobs failed");
        }
        let _ = sync_task.await;
        let _ = rules_task.await;
        tracing::info!(worker.holder = %self.config.holder, "worker stopped");
    }
}

/// Installs ring as rustls's provider (reqwest is built without one); idempotent.
fn rustls_provider() -> bool {
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}

/// FNV-1a, for a settings fingerprint that does not keep the secret itself.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
