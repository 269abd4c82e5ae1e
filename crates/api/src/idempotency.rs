//! `Idempotency-Key` for POST actions: a retry with the same key and body gets the first
//! answer and changes nothing; the same key with another request is refused (409).
//!
//! The key is claimed before the action runs, and a request that finds it claimed waits
//! for the claimer's answer, so requests racing with one key all get the one answer. The
//! answer is written in the action's own transaction (see `store::idempotency`), so a
//! crash cannot leave an action done but forgotten.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use api_types::ErrorCode;
use sha2::{Digest, Sha256};
use store::{
    Conn, StoreResult,
    idempotency::{Claimed, Slot},
};

use crate::{AppState, error::ApiError};

const HEADER: &str = "idempotency-key";

/// The request facts an idempotent action needs.
pub struct Idempotent {
    key: Option<String>,
    actor: String,
    method: String,
    path: String,
    body_hash: String,
}

impl Idempotent {
    /// Reads the key (if any) and fingerprints the request by its JSON body.
    pub fn new(
        req: &HttpRequest,
        permit: &domain::Permit,
        body: &impl serde::Serialize,
    ) -> Result<Self, ApiError> {
        Self::build(req, permit, || {
            digest(&serde_json::to_vec(body).unwrap_or_default())
        })
    }

    /// Reads the key (if any) and fingerprints the request by its raw body (an upload).
    pub fn of_bytes(
        req: &HttpRequest,
        permit: &domain::Permit,
        body: &[u8],
    ) -> Result<Self, ApiError> {
        Self::build(req, permit, || digest(body))
    }

    /// The body is fingerprinted only when there is a key to remember it under: an
    /// upload of hundreds of megabytes is not hashed for nothing.
    fn build(
        req: &HttpRequest,
        permit: &domain::Permit,
        body_hash: impl FnOnce() -> String,
    ) -> Result<Self, ApiError> {
        let key = match req.headers().get(HEADER) {
            None => None,
            Some(v) => {
                let k = v.to_str().unwrap_or("").trim();
                if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ApiError::invalid(
                        ErrorCode::InvalidField,
                        "Idempotency-Key",
                        "must be 1-255 visible ASCII characters",
                    ));
                }
                Some(k.to_string())
            }
        };
        let body_hash = if key.is_some() {
            body_hash()
        } else {
            String::new()
        };
        let actor = format!("{}:{}", permit.actor().kind.as_str(), permit.actor().id);
        Ok(Idempotent {
            key,
            actor,
            method: req.method().to_string(),
            path: req.path().to_string(),
            body_hash,
        })
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            actor: self.actor.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            body_hash: self.body_hash.clone(),
        }
    }

    fn replay(&self, stored: store::idempotency::Stored) -> Result<HttpResponse, ApiError> {
        self.same_request(&stored)?;
        let status = StatusCode::from_u16(stored.status as u16).unwrap_or(StatusCode::OK);
        Ok(HttpResponse::build(status)
            .insert_header(("Idempotent-Replayed", "true"))
            .content_type("application/json")
            .body(stored.response))
    }

    /// Runs `action` (in one transaction with the remembered answer), or replays the answer
    /// of an earlier request with the same key. `action` returns the status, the JSON body
    /// and the object's version for the `ETag`.
    pub async fn run(
        self,
        state: &AppState,
        action: impl FnOnce(&mut Conn) -> StoreResult<(StatusCode, serde_json::Value, i64)>
        + Send
        + 'static,
    ) -> Result<HttpResponse, ApiError> {
        self.run_tagged(state, move |c| {
            action(c).map(|(status, body, version)| (status, body, Some(version)))
        })
        .await
    }

    /// The answer of an earlier request with this key, if there is one (or 409 when the
    /// key was used for another request). While a request with the key is still running,
    /// waits for its answer (up to [`WAIT`]); `None` when nobody holds the key.
    pub async fn earlier(&self, state: &AppState) -> Result<Option<HttpResponse>, ApiError> {
        match &self.key {
            Some(key) => self.answer_of(state, key, &mut Waiting::new()).await,
            None => Ok(None),
        }
    }

    /// Remembers the answer to work that ran in transactions of its own (planning an
    /// import: nothing in the estate changed, so a crash before this only costs a retry a
    /// second plan). A concurrent request with the same key that answered first wins.
    pub async fn remember(
        &self,
        state: &AppState,
        status: StatusCode,
        body: serde_json::Value,
    ) -> Result<HttpResponse, ApiError> {
        if let Some(key) = self.key.clone() {
            let print = self.fingerprint();
            let response = body.to_string();
            let saved = state
                .write(move |c| store::idempotency::save(c, print.record(&key, status, &response)))
                .await;
            match saved {
                Ok(()) => {}
                Err(e) if in_flight(&e) => {
                    if let Some(first) = self.earlier(state).await? {
                        return Ok(first);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(HttpResponse::build(status).json(body))
    }

    /// [`Idempotent::run`] for actions whose answer may have no version (no `ETag`).
    ///
    /// With a key, the request first claims it in a short transaction of its own; only the
    /// claimer runs `action`, and its answer replaces the claim in the action's
    /// transaction. Every other request with the key waits for that answer and replays it,
    /// so however many arrive at once, all get the one stored answer. When the action
    /// fails, the claim is given up and a waiting request runs it in turn.
    pub async fn run_tagged(
        self,
        state: &AppState,
        action: impl FnOnce(&mut Conn) -> StoreResult<(StatusCode, serde_json::Value, Option<i64>)>
        + Send
        + 'static,
    ) -> Result<HttpResponse, ApiError> {
        let answer = |status: StatusCode, body: serde_json::Value, version: Option<i64>| {
            let mut r = HttpResponse::build(status);
            if let Some(v) = version {
                r.insert_header(crate::convert::etag(v));
            }
            r.json(body)
        };
        let Some(key) = self.key.clone() else {
            let (status, body, version) = state.write(action).await?;
            return Ok(answer(status, body, version));
        };
        let token = match self.claim(state, &key).await? {
            Ok(token) => token,
            Err(first) => return Ok(first),
        };
        let print = self.fingerprint();
        let (k, t) = (key.clone(), token.clone());
        let outcome = state
            .write(move |c| {
                let (status, body, version) = action(c)?;
                let response = body.to_string();
                store::idempotency::complete(
                    c,
                    &print.actor,
                    &k,
                    &t,
                    i32::from(status.as_u16()),
                    &response,
                )?;
                Ok((status, body, version))
            })
            .await;
        match outcome {
            Ok((status, body, version)) => Ok(answer(status, body, version)),
            Err(e) => {
                let actor = self.actor.clone();
                let released = state
                    .write(move |c| store::idempotency::release(c, &actor, &key, &token))
                    .await;
                if let Err(r) = released {
                    // The claim lapses after the lease; until then retries are told to wait.
                    tracing::warn!(error = %r, "could not give up an Idempotency-Key claim");
                }
                Err(e)
            }
        }
    }

    /// Claims the key for this request: `Ok(token)` when it is this request's to run, or
    /// `Err(answer)` with the first request's answer, waited for while it runs.
    async fn claim(
        &self,
        state: &AppState,
        key: &str,
    ) -> Result<Result<String, HttpResponse>, ApiError> {
        let mut waiting = Waiting::new();
        loop {
            // Reads are cheap and run side by side; only a free key is worth a write.
            if let Some(first) = self.answer_of(state, key, &mut waiting).await? {
                return Ok(Err(first));
            }
            let print = self.fingerprint();
            let k = key.to_string();
            let claimed = state
                .write(move |c| {
                    store::idempotency::claim(c, print.record(&k, StatusCode::OK, ""), lease())
                })
                .await;
            match claimed {
                Ok(Claimed::Mine(token)) => return Ok(Ok(token)),
                Ok(Claimed::Taken(Slot::Answered(stored))) => {
                    return self.replay(stored).map(Err);
                }
                Ok(Claimed::Taken(Slot::Pending(claim))) => {
                    self.same_request(&claim)?;
                    waiting.pause().await?;
                }
                Ok(Claimed::Taken(Slot::Free)) => waiting.pause().await?,
                Err(e) if in_flight(&e) => waiting.pause().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// The stored answer for the key (replayed), or `None` once nobody holds it; while a
    /// request holds it, waits and looks again.
    async fn answer_of(
        &self,
        state: &AppState,
        key: &str,
        waiting: &mut Waiting,
    ) -> Result<Option<HttpResponse>, ApiError> {
        loop {
            let (actor, k) = (self.actor.clone(), key.to_string());
            let slot = state
                .read(move |c| store::idempotency::peek(c, &actor, &k, lease()))
                .await?;
            match slot {
                Slot::Free => return Ok(None),
                Slot::Answered(stored) => return self.replay(stored).map(Some),
                Slot::Pending(claim) => {
                    self.same_request(&claim)?;
                    waiting.pause().await?;
                }
            }
        }
    }

    /// 409 at once when the key is held by another request (not worth waiting for).
    fn same_request(&self, held: &store::idempotency::Stored) -> Result<(), ApiError> {
        if held.body_hash != self.body_hash || held.path != self.path || held.method != self.method
        {
            return Err(reused(held));
        }
        Ok(())
    }
}

/// How long a request waits for another one holding its key before answering 409
/// `idempotency_in_flight` (the client retries later and then gets the stored answer).
const WAIT: Duration = Duration::from_secs(30);
/// First pause between two looks at a held key; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// Longest pause between two looks at a held key.
const MAX_PAUSE: Duration = Duration::from_millis(200);
/// After this many seconds a claim whose request never answered (its instance stopped)
/// may be taken over; the old holder, should it still finish, cannot store its answer and
/// its action rolls back. Longer than any action runs.
const LEASE_SECONDS: i64 = 10 * 60;

fn lease() -> chrono::Duration {
    chrono::Duration::seconds(LEASE_SECONDS)
}

/// True for the store's "someone else holds this key" refusal.
fn in_flight(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Conflict {
            code: ErrorCode::IdempotencyInFlight,
            ..
        }
    )
}

fn reused(first: &store::idempotency::Stored) -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::IdempotencyKeyReused,
        message: format!(
            "the Idempotency-Key was first used for {} {} with another body; use a new key",
            first.method, first.path
        ),
        details: serde_json::json!({ "field": "Idempotency-Key" }),
    }
}

/// Bounded, growing pauses while another request holds the key.
struct Waiting {
    until: Instant,
    pause: Duration,
}

impl Waiting {
    fn new() -> Waiting {
        Waiting {
            until: Instant::now() + WAIT,
            pause: FIRST_PAUSE,
        }
    }

    /// Sleeps (without holding a worker or a connection), or gives up after [`WAIT`].
    async fn pause(&mut self) -> Result<(), ApiError> {
        if Instant::now() >= self.until {
            return Err(ApiError::Conflict {
                code: ErrorCode::IdempotencyInFlight,
                message: "a request with this Idempotency-Key is still being processed; retry"
                    .into(),
                details: serde_json::Value::Null,
            });
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        Ok(())
    }
}

/// What identifies a request, owned, to remember its answer on the blocking pool.
struct Fingerprint {
    actor: String,
    method: String,
    path: String,
    body_hash: String,
}

impl Fingerprint {
    fn record<'a>(
        &'a self,
        key: &'a str,
        status: StatusCode,
        response: &'a str,
    ) -> store::idempotency::Record<'a> {
        store::idempotency::Record {
            actor: &self.actor,
            key,
            method: &self.method,
            path: &self.path,
            body_hash: &self.body_hash,
            status: i32::from(status.as_u16()),
            response,
        }
    }
}

/// SHA-256 of a body, in hex.
fn digest(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
