//! The server-sent events of `GET /api/v1/events`.
//!
//! Each event is one committed audit record: the SSE `id` is the record's id, the SSE
//! `event` its action (`number.assign`, `range.create`, …), and the `data` line a
//! [`ChangeEvent`]. Two further event types frame the stream: `ready` ([`StreamMark`])
//! once the replay after `Last-Event-ID` is done and live events follow, and `reset`
//! ([`StreamMark`]) when the requested id lies outside the replay window and the client
//! must reload what it shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

use crate::AuditActor;
use domain::Source;

/// One committed change, as the `data` of an event.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChangeEvent {
    /// The audit record's id (also the SSE `id`); increasing.
    pub id: String,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// What happened, `entity.verb` (also the SSE `event`).
    pub action: String,
    /// The kind of thing changed: `number`, `range`, `location`, `service`, …
    pub entity: String,
    /// Its id (E.164 for numbers).
    pub entity_id: String,
    /// Who made it.
    pub actor: AuditActor,
    /// `ui`, `api`, `import`, `rule`, `sync`, `scheduler` or `cli`.
    pub source: Source,
    /// The change set it belongs to (an import, a bulk action, a rule run).
    pub change_set_id: Option<String>,
    /// The thing's new state (for a number: the number as `GET /numbers/{number}` shows
    /// it); `null` after a deletion.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<serde_json::Value>,
}

/// The `data` of the `ready` and `reset` events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StreamMark {
    /// The id to resume after (also the SSE `id`).
    pub last_event_id: String,
    /// Why the stream was reset; absent on `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where `GET /api/v1/events` resumes; the `Last-Event-ID` header does the same.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Replay the changes after this event id (for clients that cannot send the header).
    pub last_event_id: Option<String>,
}
