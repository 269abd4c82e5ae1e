//! What the client needs to know: the tenant, the app's credentials, where Graph lives and
//! how patient to be.

use std::fmt;
use std::time::Duration;

use crate::{DEFAULT_GRAPH_BASE_URL, DEFAULT_LOGIN_BASE_URL};

/// A secret whose Debug/Display print "***".
///
/// The only way to read it is [`Secret::expose`], so a stray `{:?}` of a config cannot leak it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Everything the Graph client is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Entra tenant, a GUID or a domain name.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: Secret,
    /// Graph's root including the version segment, without a trailing slash.
    pub graph_base_url: String,
    /// The identity platform's root; the token endpoint is `{login_base_url}/{tenant_id}/oauth2/v2.0/token`.
    pub login_base_url: String,
    /// The limit on every single HTTP call, body included.
    pub timeout: Duration,
    /// How throttled and failed requests are retried.
    pub retry: RetryPolicy,
    /// How long-running number operations are polled.
    pub poll: PollPolicy,
    /// Which documented form of the number-assignment action paths to call.
    pub action_path: ActionPath,
    /// How much one answer or one listing may cost, whatever the server sends.
    pub limits: Limits,
}

impl Config {
    /// A configuration for the public Microsoft cloud with the default policies.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Config {
        Config {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret,
            graph_base_url: DEFAULT_GRAPH_BASE_URL.to_owned(),
            login_base_url: DEFAULT_LOGIN_BASE_URL.to_owned(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            action_path: ActionPath::default(),
            limits: Limits::default(),
        }
    }
}

/// The largest response body the client reads by default: 32 MiB.
///
/// A Graph page is far smaller (999 users or 1,000 number assignments come to 1–2 MB), so
/// this only stops a broken or hostile endpoint from filling the worker's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;

/// The most pages one listing may take by default: 100,000.
///
/// A million-user tenant is 10,000 pages of users at Graph's default page of 100 (1,000 at
/// its maximum of 999), and its groups' member chunks add a few more; the number list takes
/// 1,000 numbers a page. Ten times that is still an end, where a server that keeps sending
/// fresh `@odata.nextLink`s would otherwise be followed forever.
pub const DEFAULT_MAX_PAGES: u32 = 100_000;

/// Bounds on what Graph's answers may cost the client: a `graph_base_url` can point at any
/// server, and a broken or hostile one must end in an error, not in exhausted memory or a
/// sync that never finishes.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest response body read, in bytes; past it the answer is
    /// [`crate::GraphError::ResponseTooLarge`].
    pub max_response_bytes: u64,
    /// The most pages one delta round or number listing may take; past it the listing is
    /// [`crate::GraphError::TooManyPages`].
    pub max_pages: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

/// How requests answered 429/503/504 (and failed idempotent ones) are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// The most time spent waiting between attempts of one request; a Retry-After that would
    /// exceed it ends the retries rather than being cut short.
    pub max_total_wait: Duration,
    /// The first backoff step when the server gave no Retry-After.
    pub base_delay: Duration,
    /// The cap on one backoff step (never applied to a server's Retry-After).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_total_wait: Duration::from_secs(120),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// How a long-running number operation is polled until it finishes.
#[derive(Clone, Copy, Debug)]
pub struct PollPolicy {
    /// The wait before the second poll; it doubles from there.
    pub first_delay: Duration,
    /// The cap on the wait between polls.
    pub max_delay: Duration,
    /// How long to poll before reporting the operation as timed out.
    pub give_up_after: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15),
            give_up_after: Duration::from_secs(600),
        }
    }
}

/// Which documented form of the number-assignment action paths to call: Short = `numberAssignments/assignNumber`, Qualified = `numberAssignments/microsoft.graph.teamsAdministration.assignNumber`.
///
/// The docs show the short form; Kiota SDKs send the qualified one. Both are documented, so
/// the choice is configuration and lives in [`ActionPath::segment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ActionPath {
    /// `numberAssignments/assignNumber`, as in the API reference pages.
    #[default]
    Short,
    /// `numberAssignments/microsoft.graph.teamsAdministration.assignNumber`, as the SDKs send it.
    Qualified,
}

impl ActionPath {
    /// The last path segment for `action` (e.g. `assignNumber`) in this form.
    pub fn segment(self, action: &str) -> String {
        match self {
            ActionPath::Short => action.to_owned(),
            ActionPath::Qualified => format!("microsoft.graph.teamsAdministration.{action}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_config_does_not_contain_the_secret() {
        let config = Config::new("tenant", "client", Secret::new("hunter2-very-secret"));
        let printed = format!("{config:?} {}", config.client_secret);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("***"));
    }

    #[test]
    fn both_action_path_forms_are_built_in_one_place() {
        assert_eq!(ActionPath::Short.segment("assignNumber"), "assignNumber");
        assert_eq!(
            ActionPath::Qualified.segment("unassignNumber"),
            "microsoft.graph.teamsAdministration.unassignNumber"
        );
    }
}
