//! Limits on logins that hold before the database is asked: token buckets per client
//! address and for the whole process, and a bound on concurrent password hashing.
//!
//! The buckets live in memory, per instance: behind a load balancer with N instances the
//! global rate is N times the configured one. The guess limit per (username, client
//! address) is in the database (`store::admins`) and holds across instances.
//! The client address is the peer address actix sees; behind a reverse proxy every client
//! shares the proxy's address, so raise the per-client rate there.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::HttpRequest;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::ApiError;

/// How long a login waits for a hashing slot before it is told to retry.
const HASH_WAIT: Duration = Duration::from_secs(10);
/// Client buckets kept at most; past that, full (idle) ones are dropped first.
const MAX_CLIENTS: usize = 100_000;

/// The login limits, parsed from `TELESTATE_LOGIN_*` and `TELESTATE_HASH_CONCURRENCY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Password checks per (username, client address) before it locks.
    pub max_failures: i32,
    /// Login attempts per client address per minute (also the burst).
    pub client_per_minute: u32,
    /// Login attempts per minute for the whole instance (also the burst).
    pub global_per_minute: u32,
    /// Password hashes (logins, new passwords) computed at once.
    pub hash_concurrency: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_failures: store::admins::DEFAULT_MAX_FAILURES,
            client_per_minute: 60,
            global_per_minute: 600,
            hash_concurrency: default_hash_concurrency(),
        }
    }
}

/// Half the cores (at least one): argon2 takes a core and 19 MiB per hash, and the other
/// half stays free for everything else.
pub fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1)
}

/// A token bucket holding up to `capacity` attempts, refilled at `capacity` per minute.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(capacity: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity,
            at: now,
        }
    }

    fn refill(&mut self, capacity: f64, now: Instant) {
        let per_second = capacity / 60.0;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(capacity);
        self.at = now;
    }

    /// Takes one attempt, or says in how many seconds one will be there.
    fn take(&mut self, capacity: f64, now: Instant) -> Result<(), i64> {
        self.refill(capacity, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) * 60.0 / capacity).ceil().max(1.0) as i64)
        }
    }
}

/// The login throttles of one instance.
pub struct LoginGuard {
    limits: LoginLimits,
    clients: Mutex<HashMap<String, Bucket>>,
    global: Mutex<Bucket>,
    hashing: Semaphore,
}

fn throttled(message: &str, retry_after_seconds: i64) -> ApiError {
    ApiError::TooManyAttempts {
        message: message.into(),
        retry_after_seconds,
    }
}

impl LoginGuard {
    /// Full buckets and free hashing slots.
    pub fn new(limits: LoginLimits) -> LoginGuard {
        let now = Instant::now();
        LoginGuard {
            limits,
            clients: Mutex::new(HashMap::new()),
            global: Mutex::new(Bucket::full(f64::from(limits.global_per_minute), now)),
            hashing: Semaphore::new(limits.hash_concurrency.max(1)),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> LoginLimits {
        self.limits
    }

    /// Admits one login attempt from `client`, or answers 429 with `Retry-After`.
    pub fn admit(&self, client: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let capacity = f64::from(self.limits.client_per_minute.max(1));
        {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            if clients.len() >= MAX_CLIENTS && !clients.contains_key(client) {
                clients.retain(|_, b| {
                    b.refill(capacity, now);
                    b.tokens < capacity
                });
                if clients.len() >= MAX_CLIENTS {
                    clients.clear();
                }
            }
            clients
                .entry(client.to_string())
                .or_insert_with(|| Bucket::full(capacity, now))
                .take(capacity, now)
                .map_err(|s| {
                    throttled("too many login attempts from this address; retry later", s)
                })?;
        }
        let global = f64::from(self.limits.global_per_minute.max(1));
        self.global
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(global, now)
            .map_err(|s| throttled("too many login attempts; retry later", s))
    }

    /// A slot to hash a password in; waits a little when all are busy, then answers 429.
    pub async fn hashing(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(HASH_WAIT, self.hashing.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Closed never happens (the semaphore is never closed); timeout: saturated.
            _ => Err(throttled(
                "too many password checks at once; retry shortly",
                1,
            )),
        }
    }
}

/// How many rule previews one instance runs at once, and how long another waits for a
/// turn. A preview reads the whole directory and walks the pools (about a second and tens
/// of MB at 100,000 users) on a blocking thread holding a pooled connection: unbounded, a
/// burst of them would take every database connection, and the memory with them.
#[derive(Debug, Clone, Copy)]
pub struct PreviewLimits {
    /// Previews running at once.
    pub concurrency: usize,
    /// How long a preview waits for a free slot before it is answered 429 `busy`.
    pub wait: Duration,
}

impl Default for PreviewLimits {
    fn default() -> Self {
        PreviewLimits {
            concurrency: 2,
            wait: Duration::from_secs(10),
        }
    }
}

/// The bound on concurrent rule previews (see [`PreviewLimits`]).
pub struct PreviewGuard {
    slots: Semaphore,
    wait: Duration,
}

impl PreviewGuard {
    /// A guard allowing `limits.concurrency` previews at once.
    pub fn new(limits: PreviewLimits) -> Self {
        PreviewGuard {
            slots: Semaphore::new(limits.concurrency),
            wait: limits.wait,
        }
    }

    /// A slot to run a preview in: waits when all are taken, then answers 429 `busy`
    /// with `Retry-After`.
    pub async fn slot(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // Closed never happens (the semaphore is never closed); timeout: saturated.
            _ => Err(ApiError::Busy {
                message:
                    "as many rule previews as this server runs at once are running; retry shortly"
                        .into(),
                retry_after_seconds: 5,
            }),
        }
    }
}

/// The client address a request's limits apply to: the peer's IP, an IPv6 peer by its
/// /64 (one subscriber's usual allocation), `unknown` when actix has none.
pub fn client_of(req: &HttpRequest) -> String {
    match req.peer_addr().map(|a| a.ip()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(bits))
            }
        },
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_refuses_until_it_refills() {
        let start = Instant::now();
        let mut b = Bucket::full(3.0, start);
        for _ in 0..3 {
            assert!(b.take(3.0, start).is_ok());
        }
        // Three a minute: the next one is 20 s away.
        assert_eq!(b.take(3.0, start), Err(20));
        assert!(b.take(3.0, start + Duration::from_secs(21)).is_ok());
    }

    #[actix_web::test]
    async fn hashing_slots_are_bounded() {
        let guard = LoginGuard::new(LoginLimits {
            hash_concurrency: 2,
            ..LoginLimits::default()
        });
        let a = guard.hashing().await.expect("first slot");
        let _b = guard.hashing().await.expect("second slot");
        assert_eq!(guard.hashing.available_permits(), 0);
        drop(a);
        assert!(guard.hashing().await.is_ok());
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_prefix() {
        let req = actix_web::test::TestRequest::default()
            .peer_addr("[2001:db8:1:2:3:4:5:6]:443".parse().unwrap())
            .to_http_request();
        assert_eq!(client_of(&req), "2001:db8:1:2::/64");
        let req = actix_web::test::TestRequest::default()
            .peer_addr("192.0.2.7:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(client_of(&req), "192.0.2.7");
    }
}
