//! Microsoft Graph client: OAuth2 client credentials, users and groups (delta), and Teams
//! telephone-number management. Knows nothing of the inventory.
//!
//! Rules a newcomer would otherwise break:
//!
//! - **Follow links verbatim.** `@odata.nextLink`, `@odata.deltaLink` and the operation
//!   `Location` are used whole, never rebuilt from a token; and only when they point at the
//!   configured Graph host, since the bearer token goes with them.
//! - **Never undercut `Retry-After`.** A 429/503/504 is retried no sooner than the server
//!   asked, even beyond [`RetryPolicy::max_delay`]; if the wait would blow the budget the
//!   caller gets [`GraphError::Throttled`] with the server's wait instead.
//! - **POSTs are not blindly retried.** `assignNumber`/`unassignNumber` are retried only on a
//!   throttling answer (Graph refused them); after a timeout or broken connection they may
//!   have been applied, so the error goes back to the caller to check state.
//! - **Where the docs disagree with themselves, accept every documented form in one place**:
//!   [`ActionPath`] for the action paths, `model::parse_entity` for wrapped entities,
//!   `model::collection_items` for the number list's `value`, [`OperationLocation::id`] for
//!   the Location forms.
//! - **Never trust the server to stop.** A body is read up to [`Limits::max_response_bytes`]
//!   and a listing up to [`Limits::max_pages`]; a nextLink already followed, or a `$skip`
//!   page that repeats the last, is [`GraphError::PagingLoop`]. `graph_base_url` is a
//!   platform setting, so the server may be broken or hostile.
//! - **A delta round is read a page at a time** ([`DeltaRound`]): the caller applies each
//!   page and stores the deltaLink, which only the last page has, after all of them.
//! - Nothing here logs a secret, a token, a UPN or a response body.

#![warn(missing_docs)]

mod client;
mod config;
mod delta;
mod error;
mod model;
mod observer;
mod paging;
mod retry;

pub use client::Client;
pub use config::{
    ActionPath, Config, DEFAULT_MAX_PAGES, DEFAULT_MAX_RESPONSE_BYTES, Limits, PollPolicy,
    RetryPolicy, Secret,
};
pub use error::GraphError;
pub use model::{
    AssignNumber, DeltaPage, Group, GroupChange, NumberAssignment, NumberType, Operation,
    OperationLocation, OperationNumber, OperationStatus, UpdateNumber, User, UserChange,
};
pub use observer::{Endpoint, Observer, RequestEvent};
pub use paging::DeltaRound;

/// Graph's public-cloud v1.0 root.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.microsoft.com/v1.0";

/// The Microsoft identity platform's public-cloud root.
pub const DEFAULT_LOGIN_BASE_URL: &str = "https://login.microsoftonline.com";
