//! A Microsoft Graph simulator: the documented contract over an in-memory tenant, an admin
//! API for tests, and fault injection.
//!
//! The reference is `/work/shared/graph-contract.md` (cited below as "contract §n"), not
//! our Graph client: where the contract leaves a fact open (\[U\]), the choice is a field of
//! [`SimConfig`] or a single const, so a test can flip it and see whether the client copes.
//!
//! Choices where the contract is open (each is a `SimConfig` field or one const):
//!
//! | Fact | Choice | Where |
//! |---|---|---|
//! | expired delta token (§2.2) | 410 `syncStateNotFound` + `Location` with an empty `$deltatoken` | `directory::token_gone` |
//! | numberAssignments `@odata.nextLink` (§5.2) | none; `number_assignments_next_link` adds one | `SimConfig` |
//! | `$top` > 1000 on numbers | 400 (not clamped) | `teams::NUMBERS_MAX_TOP` |
//! | `$filter` values (§5.2) | enum values case-insensitive; `telephoneNumber` exact, '+' added if missing | `teams::Clause` |
//! | numberAssignment id (§5.1) | base64url no padding of `{operatorId}\|{+E164}` | `teams::number_id` |
//! | operation id (§5.4) | base64url of `Assignment\|{guid}` / `Unassignment\|{guid}` | `teams::start_operation` |
//! | GET entity shape (§5.3, §5.7) | bare entity; `wrap_entities_in_value` wraps | `SimConfig` |
//! | business errors (§5.7) | failed operation + `statusDetail`; `business_errors_in_operation=false` → 400 | `SimConfig` |
//! | reassigning a held number | allowed, the number moves; `allow_reassign=false` refuses | `SimConfig` |
//! | wrong `numberType` for the number | "is not found from tenant" (looked up by number and type) | `State::assign_problem` |
//! | unassigning an unassigned number | succeeds (idempotent) | `State::unassign_problem` |
//! | capabilities (§5.1) | `userAssignment` / `voiceApplicationAssignment` required; `enforce_capabilities` | `SimConfig` |
//! | unknown parameters in an action body | 400, as OData does for unknown action parameters | `teams::action_body` |
//! | token endpoint faults | 503 `temporarily_unavailable` (AADSTS90033) with `Retry-After` | `token` |
//! | AADSTS90002 / 700016 | 400 `invalid_request` / 400 `unauthorized_client` | `token` |
//! | Teams 404 code | `NotFound` | `teams::not_found` |
//! | unknown action segment | 400 "Resource not found for the segment" | `teams::get_number` |
//! | `$filter`/`$orderby`/`$search`/`$count` on `/users` | 501 `NotImplemented` (not simulated) | `directory::list_users` |
//!
//! Rule a newcomer would otherwise break: the tenant lives behind one `std::sync::Mutex`
//! and no lock is ever held across an `.await` (latency and slow faults sleep after the
//! lock is released).

// STYLE.md: every public item says what it is for.
#![warn(missing_docs)]

mod admin;
mod directory;
mod http;
mod model;
mod state;
mod teams;
mod token;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpServer, web};

pub use model::{SimNumber, SimStats, SimUser};
pub use state::Tenant;

/// Everything the simulated tenant and its Graph endpoints can be told at start-up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The directory (tenant) id the token endpoint accepts in its path.
    pub tenant_id: String,
    /// The only application (client) id the token endpoint knows.
    pub client_id: String,
    /// The client secret that application must present.
    pub client_secret: String,
    /// How long an issued access token is honoured (`expires_in`); tests set short ones.
    pub token_lifetime: Duration,
    /// How long assign/unassign operations report `running` before they finish.
    pub operation_delay: Duration,
    /// Delay added to every Graph response (not the admin API nor the token endpoint).
    pub latency: Duration,
    /// Random failures injected per request.
    pub faults: Faults,
    /// Page size of `/users`, `/users/delta` and `/groups/delta` (Graph's default is 100).
    pub users_page_size: usize,
    /// Members carried by one group object in one `/groups/delta` page, so big groups span
    /// pages and the client's merge is exercised (contract §3.1 \[SIM\]).
    pub group_members_chunk: usize,
    /// GET of one numberAssignment or operation answers `{"value":{…}}` like the doc
    /// examples instead of the bare entity (contract §5.3, §5.7 \[V-ex\]).
    pub wrap_entities_in_value: bool,
    /// Business errors ("already assigned", "not found") end the operation as failed with a
    /// `statusDetail` (true) or answer 400 on the POST (false) (contract §5.7 \[U\]).
    pub business_errors_in_operation: bool,
    /// Emergency location ids assignNumber/updateNumber accept; `None` accepts any.
    pub valid_location_ids: Option<Vec<String>>,
    /// assignNumber on a number held by another target moves it (true) or fails with
    /// "has already been assigned to another user" (false); the contract is silent \[U\].
    pub allow_reassign: bool,
    /// A number must carry the `userAssignment` (users) or `voiceApplicationAssignment`
    /// (resource accounts) capability to be assigned (contract §5.1 \[U\]).
    pub enforce_capabilities: bool,
    /// The numberAssignments list adds `@odata.nextLink` (with `$skip`) when a page is full;
    /// the doc does not say it does, so by default it does not (contract §5.2 \[U\]).
    pub number_assignments_next_link: bool,
    /// Application permissions (`roles`) tokens carry; `None` grants every permission a
    /// route needs. A call without one of its route's permissions answers 403 (§1.4 \[SIM\]).
    pub granted_roles: Option<Vec<String>>,
    /// Seed of the random generator behind fault injection and generated ids.
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tenant_id: "00000000-0000-0000-0000-0000000000aa".to_owned(),
            client_id: "00000000-0000-0000-0000-0000000000cc".to_owned(),
            client_secret: "sim-secret".to_owned(),
            token_lifetime: Duration::from_secs(3599),
            operation_delay: Duration::ZERO,
            latency: Duration::ZERO,
            faults: Faults::default(),
            users_page_size: 100,
            group_members_chunk: 20,
            wrap_entities_in_value: false,
            business_errors_in_operation: true,
            valid_location_ids: None,
            allow_reassign: true,
            enforce_capabilities: true,
            number_assignments_next_link: false,
            granted_roles: None,
            seed: 0x5eed,
        }
    }
}

/// Per-request fault rates (0.0–1.0) and their parameters.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Share of Graph requests answered 429 with `Retry-After`.
    pub throttle_rate: f64,
    /// Seconds in the `Retry-After` of injected 429/503s; 0 means 1.
    pub retry_after_secs: u64,
    /// Share of Graph requests answered 500, 502, 503 (sometimes with `Retry-After`) or 504.
    pub server_error_rate: f64,
    /// Share of Graph requests delayed by `slow_delay` before they are answered.
    pub slow_rate: f64,
    /// Extra delay of a slow request.
    #[serde(with = "model::millis")]
    pub slow_delay: Duration,
    /// Share of assign/unassign operations that end failed ("Service is unavailable").
    pub failed_operation_rate: f64,
    /// Share of Graph requests that are carried out but answered 504, as when a gateway
    /// loses the response: a client must check state before repeating an assignNumber
    /// (contract §6.2).
    pub lost_response_rate: f64,
    /// Share of token requests answered 503 `temporarily_unavailable` with `Retry-After`.
    pub token_error_rate: f64,
    /// Every `/users/delta` and `/groups/delta` page links back to itself as its
    /// `@odata.nextLink`, as a broken or hostile server might: no round ever ends, and a
    /// client must notice rather than page for ever.
    pub paging_loop: bool,
}

impl Faults {
    /// The `Retry-After` actually sent: the configured seconds, at least one.
    pub fn effective_retry_after_secs(&self) -> u64 {
        self.retry_after_secs.max(1)
    }
}

/// A running simulator: an HTTP server over one [`Tenant`].
pub struct Simulator {
    tenant: Tenant,
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Request bodies up to this size are read; the admin API takes 100,000 numbers at once.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

impl Simulator {
    /// Binds (e.g. "127.0.0.1:0") and serves in the background on the current tokio/actix runtime.
    pub async fn start(config: SimConfig, bind: &str) -> std::io::Result<Simulator> {
        let tenant = Tenant::new(config);
        let data = web::Data::new(tenant.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .default_service(web::to(http::dispatch))
        })
        // Two workers: the tenant is one mutex, more threads would only queue on it.
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(bind)?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| std::io::Error::other("bound to no address"))?;
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        tracing::info!(sim.addr = %addr, "graph simulator listening");
        Ok(Simulator {
            tenant,
            addr,
            handle,
            task,
        })
    }

    /// The Graph root for clients, e.g. "http://127.0.0.1:PORT/v1.0".
    pub fn graph_base_url(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// The login root for clients, e.g. "http://127.0.0.1:PORT"; the token endpoint is
    /// `/{tenant}/oauth2/v2.0/token` under it.
    pub fn login_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The root of the test-only admin API, e.g. "http://127.0.0.1:PORT/_sim".
    pub fn admin_base_url(&self) -> String {
        format!("http://{}/_sim", self.addr)
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle on the simulated tenant for direct manipulation in tests.
    pub fn tenant(&self) -> Tenant {
        self.tenant.clone()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "graph simulator task ended abnormally");
        }
    }
}
