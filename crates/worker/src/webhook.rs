//! Webhook platforms: every assign, reassign and unassign is POSTed as JSON to the
//! platform's URL, signed so the receiver can tell it came from this installation.
//!
//! Signature: `X-Telestate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `<t>.<body>` with the platform's signing secret (the timestamp is signed too, so a
//! receiver can refuse replays older than it likes). `X-Telestate-Event` names the event
//! and `X-Telestate-Delivery` the job id, which repeats on retries (receivers dedupe).

use std::sync::Arc;

use store::{
    jobs::{Claimed, JobAction},
    platforms::Credentials,
};

use crate::{Worker, provision::Outcome};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Telestate-Signature";

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let mac = store::secrets::hmac_sha256(secret.as_bytes(), &message);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// The event's JSON body.
pub fn body(claimed: &Claimed) -> serde_json::Value {
    let job = &claimed.job;
    let event = match (job.action, &job.previous_target_id) {
        (JobAction::Assign, Some(_)) => "number.reassigned",
        (JobAction::Assign, None) => "number.assigned",
        (JobAction::Unassign, _) => "number.unassigned",
    };
    serde_json::json!({
        "event": event,
        "delivery": job.id.to_string(),
        "platform": claimed.platform_name,
        "number": job.number,
        "number_type": claimed.number_type.map(|t| t.as_str()),
        "target": job.target_kind.map(|k| serde_json::json!({
            "kind": k.as_str(),
            "id": job.target_id,
            "name": job.target_name,
        })),
        "previous_target_id": job.previous_target_id,
        "changed_by": job.created_by,
        "change_set_id": job.change_set_id,
        "occurred_at": chrono::DateTime::<chrono::Utc>::from_naive_utc_and_offset(job.created_at, chrono::Utc).to_rfc3339(),
    })
}

/// POSTs the job's event; a 2xx is delivered, a 4xx other than 408/429 is refused for
/// good, anything else (5xx, timeouts, connection errors) is retried with backoff.
pub(crate) async fn deliver(worker: &Arc<Worker>, claimed: &Claimed) -> Outcome {
    let (url, secret) = match worker.credentials(claimed.job.platform_id).await {
        Ok(Credentials::Webhook {
            url,
            signing_secret,
        }) => (url, signing_secret),
        Ok(_) => return Outcome::permanent("the platform is no longer a webhook platform"),
        Err(e) => {
            return Outcome::Failed {
                error: format!("{e:#}"),
                transient: true,
            };
        }
    };
    let body = body(claimed);
    let event = body["event"].as_str().unwrap_or_default().to_string();
    let bytes = body.to_string().into_bytes();
    let now = chrono::Utc::now().timestamp();
    let response = worker
        .http()
        .post(&url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signature(&secret, now, &bytes))
        .header("X-Telestate-Event", &event)
        .header("X-Telestate-Delivery", claimed.job.id.to_string())
        .body(bytes)
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Outcome::Done,
        Ok(r) => {
            let status = r.status().as_u16();
            Outcome::Failed {
                error: format!("the webhook answered HTTP {status}"),
                transient: status >= 500 || status == 408 || status == 429,
            }
        }
        // Without the URL: it may carry a token in its query.
        Err(e) => Outcome::Failed {
            error: format!("the webhook could not be reached: {}", e.without_url()),
            transient: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_and_body() {
        // HMAC-SHA256("key", "1700000000.{}") computed independently (Python hmac).
        let sig = signature("key", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_ne!(signature("key", 1_700_000_001, b"{}"), sig);
        assert_ne!(signature("other", 1_700_000_000, b"{}"), sig);
    }
}
