//! The one error type of the crate, and the parsing of Graph's and the token endpoint's
//! error bodies into it.

use std::time::Duration;

use serde::Deserialize;

use crate::Endpoint;

/// Everything that can go wrong talking to Graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with its error envelope {"error":{"code","message","innerError":{request-id,…}}}.
    #[error("Graph answered {status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Graph's error code, the thing to branch on (never the message).
        code: String,
        /// Graph's human-readable message.
        message: String,
        /// Graph's request id, for support cases.
        request_id: Option<String>,
    },
    /// The token endpoint refused the credentials (body {"error","error_description","error_codes",…}); carries `error` and the AADSTS description's first line.
    #[error("token endpoint answered {status} {error}: {description}")]
    Auth {
        /// The HTTP status.
        status: u16,
        /// The OAuth2 `error`, e.g. `invalid_client`.
        error: String,
        /// The first line of `error_description` (the AADSTS code and text, without trace ids).
        description: String,
    },
    /// 429/503/504 still answered after the retry budget was spent.
    #[error("Graph is throttling ({status}); retry after {retry_after:?}")]
    Throttled {
        /// The last HTTP status.
        status: u16,
        /// The last `Retry-After` the server sent, if any.
        retry_after: Option<Duration>,
    },
    /// The delta link is no longer valid (410 Gone, or codes syncStateNotFound / resyncRequired / a 400 naming the token): the caller must do a full sync.
    #[error("the delta link has expired; a full sync is needed")]
    DeltaExpired,
    /// The long-running operation did not finish within the poll policy's `give_up_after`.
    #[error("operation {location} did not finish in time")]
    OperationTimedOut {
        /// The operation's Location URL.
        location: String,
    },
    /// The HTTP call did not complete within the configured timeout.
    #[error("Graph did not answer in time")]
    Timeout,
    /// The connection failed (DNS, TCP, TLS, reset).
    #[error("transport error: {0}")]
    Transport(String),
    /// The response was not what the contract says (bad JSON, missing header, link to another host).
    #[error("unexpected response: {0}")]
    Decode(String),
    /// A response body was larger than [`crate::Limits::max_response_bytes`]; it was not
    /// read further and the request is not retried (the same server would send it again).
    #[error("Graph's answer was larger than {limit} bytes")]
    ResponseTooLarge {
        /// The limit in force, in bytes.
        limit: u64,
    },
    /// A paged listing went round in a circle: an `@odata.nextLink` already followed in
    /// this round, or a `$skip` page that repeats the one before (a server ignoring `$skip`).
    #[error("Graph's {} paging went round in a circle", endpoint.as_str())]
    PagingLoop {
        /// The listing.
        endpoint: Endpoint,
    },
    /// A paged listing took more than [`crate::Limits::max_pages`] pages.
    #[error("Graph's {} paging passed {limit} pages", endpoint.as_str())]
    TooManyPages {
        /// The listing.
        endpoint: Endpoint,
        /// The limit in force.
        limit: u32,
    },
    /// The configuration cannot work (e.g. a base URL that does not parse).
    #[error("invalid Graph client configuration: {0}")]
    Config(String),
}

impl GraphError {
    /// The HTTP status behind the error, when there was a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Api { status, .. }
            | GraphError::Auth { status, .. }
            | GraphError::Throttled { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying the same thing later may succeed (Throttled, Timeout, Transport, 5xx Api).
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Throttled { .. } | GraphError::Timeout | GraphError::Transport(_) => true,
            GraphError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(rename = "innerError", alias = "innererror", default)]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(rename = "request-id", default)]
    request_id: Option<String>,
}

/// Turns a non-2xx Graph response into [`GraphError::Api`], whatever the body looks like.
pub(crate) fn api_error(status: u16, header_request_id: Option<&str>, body: &[u8]) -> GraphError {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope { error }) => GraphError::Api {
            status,
            code: error.code,
            message: error.message,
            request_id: error
                .inner_error
                .and_then(|inner| inner.request_id)
                .or_else(|| header_request_id.map(str::to_owned)),
        },
        // A proxy or load balancer in the way answers with HTML or nothing; the status is
        // what matters, and Graph-style codes are the reason phrase without spaces.
        Err(_) => GraphError::Api {
            status,
            code: reason_code(status),
            message: snippet(body),
            request_id: header_request_id.map(str::to_owned),
        },
    }
}

#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Turns a non-2xx token endpoint response into [`GraphError::Auth`].
pub(crate) fn auth_error(status: u16, body: &[u8]) -> GraphError {
    match serde_json::from_slice::<TokenErrorBody>(body) {
        Ok(body) => GraphError::Auth {
            status,
            error: body.error,
            // The rest of the description is trace/correlation ids and a timestamp.
            description: body
                .error_description
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        },
        Err(_) => GraphError::Auth {
            status,
            error: reason_code(status),
            description: snippet(body),
        },
    }
}

fn reason_code(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|reason| reason.replace(' ', ""))
        .unwrap_or_else(|| format!("Http{status}"))
}

/// The start of a body that is not JSON, enough to tell an HTML error page from an empty one.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_envelope_gives_code_message_and_inner_request_id() {
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.","innerError":{"date":"2021-04-20T17:22:30","request-id":"f58cc4de","client-request-id":"abc"}}}"#;
        let GraphError::Api {
            status,
            code,
            message,
            request_id,
        } = api_error(404, Some("hdr"), body)
        else {
            panic!("not Api");
        };
        assert_eq!((status, code.as_str()), (404, "Request_ResourceNotFound"));
        assert_eq!(message, "Resource 'x' does not exist.");
        assert_eq!(request_id.as_deref(), Some("f58cc4de"));
    }

    #[test]
    fn a_non_json_error_body_still_gives_a_typed_error_with_the_status() {
        let error = api_error(502, Some("rid"), b"<html>Bad gateway</html>");
        let GraphError::Api {
            status,
            code,
            request_id,
            ..
        } = &error
        else {
            panic!("not Api");
        };
        assert_eq!((*status, code.as_str()), (502, "BadGateway"));
        assert_eq!(request_id.as_deref(), Some("rid"));
        assert!(error.is_transient());
    }

    #[test]
    fn the_token_error_keeps_only_the_first_line_of_the_description() {
        let body = br#"{"error":"invalid_scope","error_description":"AADSTS70011: The provided value is not valid.\r\nTrace ID: 255d\r\nCorrelation ID: fb3d\r\nTimestamp: 2016-01-09 02:02:12Z","error_codes":[70011]}"#;
        let GraphError::Auth {
            status,
            error,
            description,
        } = auth_error(400, body)
        else {
            panic!("not Auth");
        };
        assert_eq!((status, error.as_str()), (400, "invalid_scope"));
        assert_eq!(description, "AADSTS70011: The provided value is not valid.");
    }

    #[test]
    fn only_throttling_timeouts_transport_and_server_errors_are_transient() {
        let api = |status| GraphError::Api {
            status,
            code: String::new(),
            message: String::new(),
            request_id: None,
        };
        assert!(api(503).is_transient());
        assert!(!api(400).is_transient());
        assert!(GraphError::Timeout.is_transient());
        assert!(!GraphError::DeltaExpired.is_transient());
        // Asking the same server again gets the same answer: no retry storm.
        assert!(!GraphError::ResponseTooLarge { limit: 1 }.is_transient());
        assert!(
            !GraphError::PagingLoop {
                endpoint: Endpoint::UsersDelta
            }
            .is_transient()
        );
        assert!(
            !GraphError::TooManyPages {
                endpoint: Endpoint::NumberAssignments,
                limit: 1
            }
            .is_transient()
        );
        assert_eq!(
            GraphError::Throttled {
                status: 429,
                retry_after: None
            }
            .status(),
            Some(429)
        );
    }
}
