//! A hook for metrics: the client reports every HTTP attempt it makes.

use std::time::Duration;

/// Told about every HTTP request the client makes, for metrics.
pub trait Observer: Send + Sync {
    /// Called once per attempt, retried attempts included, after the response (or failure).
    fn request(&self, event: &RequestEvent<'_>);
}

/// One HTTP attempt as seen by an [`Observer`].
#[derive(Clone, Debug)]
pub struct RequestEvent<'a> {
    /// Which Graph endpoint was called.
    pub endpoint: Endpoint,
    /// The HTTP status; `None` when no whole response came (a transport error, a timeout,
    /// a body over the size limit).
    pub status: Option<u16>,
    /// How long the attempt took, body included.
    pub duration: Duration,
    /// The wait the server asked for with `Retry-After`, if it did.
    pub retry_after: Option<Duration>,
    /// Graph's `request-id` response header, for support cases.
    pub request_id: Option<&'a str>,
}

/// The Graph endpoints the client calls, as a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The identity platform's token endpoint.
    Token,
    /// `/users`.
    Users,
    /// `/users/delta` and its links.
    UsersDelta,
    /// `/groups/delta` and its links.
    GroupsDelta,
    /// The number-assignment list.
    NumberAssignments,
    /// One number assignment.
    NumberAssignment,
    /// The `assignNumber` action.
    AssignNumber,
    /// The `unassignNumber` action.
    UnassignNumber,
    /// The `updateNumber` action.
    UpdateNumber,
    /// A long-running number operation.
    Operation,
}

impl Endpoint {
    /// The snake_case name used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Users => "users",
            Endpoint::UsersDelta => "users_delta",
            Endpoint::GroupsDelta => "groups_delta",
            Endpoint::NumberAssignments => "number_assignments",
            Endpoint::NumberAssignment => "number_assignment",
            Endpoint::AssignNumber => "assign_number",
            Endpoint::UnassignNumber => "unassign_number",
            Endpoint::UpdateNumber => "update_number",
            Endpoint::Operation => "operation",
        }
    }
}
