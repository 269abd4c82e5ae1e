//! `Idempotency-Key` for POST actions: a retry with the same key and body gets the first
//! answer and changes nothing; the same key with another request is refused (409).
//!
//! The remembered answer is written in the action's own transaction (see
//! `store::idempotency`), so a crash cannot leave an action done but forgotten.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use api_types::ErrorCode;
use sha2::{Digest, Sha256};
use store::{Conn, StoreResult};

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
        if stored.body_hash != self.body_hash
            || stored.path != self.path
            || stored.method != self.method
        {
            return Err(ApiError::Conflict {
                code: ErrorCode::IdempotencyKeyReused,
                message: format!(
                    "the Idempotency-Key was first used for {} {} with another body; use a new key",
                    stored.method, stored.path
                ),
                details: serde_json::json!({ "field": "Idempotency-Key" }),
            });
        }
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
    /// key was used for another request).
    pub async fn earlier(&self, state: &AppState) -> Result<Option<HttpResponse>, ApiError> {
        let Some(key) = self.key.clone() else {
            return Ok(None);
        };
        let actor = self.actor.clone();
        match state
            .read(move |c| store::idempotency::lookup(c, &actor, &key))
            .await?
        {
            Some(stored) => self.replay(stored).map(Some),
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
                .write(move |c| print.save(c, &key, status, &response))
                .await;
            match saved {
                Ok(()) => {}
                Err(ApiError::Conflict {
                    code: ErrorCode::IdempotencyInFlight,
                    ..
                }) => {
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
        if let Some(first) = self.earlier(state).await? {
            return Ok(first);
        }
        let print = self.fingerprint();
        let k = key.clone();
        let outcome = state
            .write(move |c| {
                let (status, body, version) = action(c)?;
                print.save(c, &k, status, &body.to_string())?;
                Ok((status, body, version))
            })
            .await;
        match outcome {
            Ok((status, body, version)) => Ok(answer(status, body, version)),
            // A concurrent request with the same key won; answer as it did.
            Err(ApiError::Conflict {
                code: ErrorCode::IdempotencyInFlight,
                ..
            }) => {
                let actor = self.actor.clone();
                match state
                    .read(move |c| store::idempotency::lookup(c, &actor, &key))
                    .await?
                {
                    Some(stored) => self.replay(stored),
                    None => Err(ApiError::Conflict {
                        code: ErrorCode::ConcurrentChange,
                        message:
                            "a request with this Idempotency-Key is still being processed; retry"
                                .into(),
                        details: serde_json::Value::Null,
                    }),
                }
            }
            Err(e) => Err(e),
        }
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
    fn save(&self, c: &mut Conn, key: &str, status: StatusCode, response: &str) -> StoreResult<()> {
        store::idempotency::save(
            c,
            store::idempotency::Record {
                actor: &self.actor,
                key,
                method: &self.method,
                path: &self.path,
                body_hash: &self.body_hash,
                status: i32::from(status.as_u16()),
                response,
            },
        )
    }
}

/// SHA-256 of a body, in hex.
fn digest(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
