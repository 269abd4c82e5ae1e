//! `GET /api/v1/events`: every committed change as a server-sent event.
//!
//! A stream subscribes to the process's [`Hub`] first, then replays from the audit trail
//! what followed `Last-Event-ID`, then sends live events; ids already sent are skipped,
//! so the overlap between replay and live costs nothing. A stream that falls behind the
//! hub's buffer reads the trail again instead of losing events.

use api_types::ErrorCode;
use std::{
    collections::{HashSet, VecDeque},
    convert::Infallible,
    sync::Arc,
    time::Duration,
};

use actix_web::{HttpRequest, HttpResponse, get, web, web::Bytes};
use api_types::{EventsQuery, StreamMark};
use domain::{Role, Scope};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::{
    AppState,
    auth::{self, Authorized, Credential, Read},
    error::ApiError,
    events::{Event, Hub, Replay},
    query::Query,
};

/// How often an idle stream sends a comment, so proxies and clients keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A stream ends after this long; the client reconnects with `Last-Event-ID`, which
/// checks its credentials and scope again.
const MAX_STREAM: Duration = Duration::from_secs(15 * 60);
/// How often a stream asks the database whether its caller's credential still holds
/// (it also asks at once when it sees an account or token change go by).
const CREDENTIAL_RECHECK: Duration = Duration::from_secs(30);
/// After falling behind, a stream also re-reads this many ids below its resume point,
/// for records that committed late (PostgreSQL).
const LAG_LOOKBACK: i64 = 1000;
/// How many sent ids a stream remembers to skip repeats (more than a full replay).
const SENT_MEMORY: usize = 2 * crate::events::REPLAY_MAX_RECORDS as usize + LAG_LOOKBACK as usize;

fn resume_point(req: &HttpRequest, query: &EventsQuery) -> Result<Option<i64>, ApiError> {
    let header = req
        .headers()
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{0}").trim().to_string());
    let (field, value) = match (header, &query.last_event_id) {
        (Some(h), _) if !h.is_empty() => ("Last-Event-ID", h),
        (_, Some(q)) => ("last_event_id", q.trim().to_string()),
        _ => return Ok(None),
    };
    value
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::InvalidCursor,
                field,
                "must be the id of an event this server sent",
            )
        })
}

/// Ids sent on this stream, the oldest forgotten first.
struct Sent {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
}

impl Sent {
    fn insert(&mut self, id: i64) {
        if self.ids.insert(id) {
            self.order.push_back(id);
            if self.order.len() > SENT_MEMORY
                && let Some(old) = self.order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
    }
}

fn mark(kind: &str, id: i64, reason: Option<&str>) -> Bytes {
    let data = serde_json::to_string(&StreamMark {
        last_event_id: id.to_string(),
        reason: reason.map(str::to_string),
    })
    .unwrap_or_default();
    Bytes::from(format!("id: {id}\nevent: {kind}\ndata: {data}\n\n"))
}

/// One client's stream.
struct Stream {
    state: web::Data<AppState>,
    /// What the caller authenticated with; the stream ends when it stops holding.
    credential: Credential,
    recheck: tokio::time::Interval,
    recheck_due: bool,
    hub: Hub,
    rx: Receiver<Arc<Event>>,
    role: Role,
    scope: Scope,
    sent: Sent,
    /// The highest id sent with an `id:` line: where the client resumes.
    cursor: i64,
    /// Ids at or below this were the client's concern before this stream began.
    floor: i64,
    queue: VecDeque<Bytes>,
    keep_alive: tokio::time::Interval,
    ends_at: tokio::time::Instant,
    done: bool,
}

enum Step {
    Received(Result<Arc<Event>, RecvError>),
    KeepAlive,
    Recheck,
    End,
}

/// True for a change to an account or a token: some credential may have ended.
fn touches_credentials(e: &Event) -> bool {
    let frame = e.frame(false);
    frame.starts_with("event: admin.") || frame.starts_with("event: api_token.")
}

impl Stream {
    fn offer(&mut self, e: &Event) {
        if touches_credentials(e) {
            self.recheck_due = true;
        }
        if self.sent.ids.contains(&e.id) || !e.visible_to(self.role, &self.scope) {
            return;
        }
        // A record that committed late (below the cursor) is sent without an id, so the
        // client's resume point does not move back.
        let with_id = e.id > self.cursor;
        self.queue.push_back(Bytes::from(e.frame(with_id)));
        if with_id {
            self.cursor = e.id;
        }
        self.sent.insert(e.id);
    }

    fn apply(&mut self, replay: Replay) {
        match replay {
            Replay::Events(events) => events.iter().for_each(|e| self.offer(e)),
            Replay::TooOld => {
                self.cursor = self.cursor.max(self.hub.high());
                self.queue.push_back(mark(
                    "reset",
                    self.cursor,
                    Some("the requested id is outside the replay window; reload and resume from this id"),
                ));
            }
        }
    }

    /// Reads the trail again after falling behind the hub.
    async fn catch_up(&mut self) {
        let from = self.floor.max(self.cursor - LAG_LOOKBACK);
        let db = self.hub.db().clone();
        let read = web::block(move || db.read(|c| crate::events::replay(c, from, store::now())))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match read {
            Ok(replay) => self.apply(replay),
            Err(e) => {
                // Closing makes the client reconnect with Last-Event-ID: nothing is lost.
                tracing::warn!(error = %e, "an event stream could not catch up; closing it");
                self.done = true;
            }
        }
    }

    /// Ends the stream, unsent events included, when the caller's credential no longer
    /// holds (a changed password, role or scope, a deleted account, a revoked token).
    async fn recheck_credential(&mut self) {
        self.recheck_due = false;
        match auth::still_holds(&self.state, self.credential).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("an event stream's credential ended; closing it");
                self.queue.clear();
                self.done = true;
            }
            Err(e) => {
                // Closing makes the client reconnect, which checks the credential again.
                tracing::warn!(error = %e, "an event stream could not re-check its caller; closing it");
                self.queue.clear();
                self.done = true;
            }
        }
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.recheck_due && !self.done {
                self.recheck_credential().await;
            }
            if let Some(b) = self.queue.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            let step = tokio::select! {
                r = self.rx.recv() => Step::Received(r),
                _ = self.keep_alive.tick() => Step::KeepAlive,
                _ = self.recheck.tick() => Step::Recheck,
                _ = tokio::time::sleep_until(self.ends_at) => Step::End,
            };
            match step {
                Step::Received(Ok(e)) => self.offer(&e),
                Step::Received(Err(RecvError::Lagged(_))) => self.catch_up().await,
                Step::Received(Err(RecvError::Closed)) | Step::End => self.done = true,
                Step::KeepAlive => self
                    .queue
                    .push_back(Bytes::from_static(b": keep-alive\n\n")),
                Step::Recheck => self.recheck_due = true,
            }
        }
    }
}

/// Server-sent events: every committed change within the caller's scope.
///
/// Each event is one audit record: `id` is its id, `event` its action (`number.assign`,
/// `range.create`, …) and `data` a `ChangeEvent` whose `data` is the thing's new state.
/// Logins are not sent; accounts, API tokens and platforms go to owners only. Scoped
/// callers receive numbers and ranges whose location and tags their scope admits (a
/// deleted one by where it was) and the locations their scope lists; other kinds go to
/// unscoped callers only.
///
/// Send `Last-Event-ID` (or `?last_event_id=`) to resume: the records after it are
/// replayed if there are at most 10,000 and none is older than 24 hours; otherwise an
/// `event: reset` says to reload. An `event: ready` marks the end of the replay. A record
/// that commits after a higher id was sent arrives without an `id` line. A comment is sent
/// every 15 s; the stream ends after 15 minutes (reconnect with `Last-Event-ID`), when the
/// login token expires, or as soon as the caller's credential ends (a changed password,
/// role or scope, a deleted account, a revoked token).
#[utoipa::path(
    tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
    ),
    responses((
        status = 200,
        description = "A `text/event-stream`; each event's `data` is a ChangeEvent (StreamMark for `ready` and `reset`)",
        content_type = "text/event-stream",
        body = api_types::ChangeEvent,
    ))
)]
#[get("/events")]
pub async fn stream_events(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    req: HttpRequest,
    query: Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let resume = resume_point(&req, &query.into_inner()?)?;
    let hub = state.events.clone();
    let (rx, high, replay) = {
        let hub = hub.clone();
        web::block(move || -> store::StoreResult<_> {
            let (rx, high) = hub.subscribe()?;
            let replay = match resume {
                Some(after) => Some(
                    hub.db()
                        .read(|c| crate::events::replay(c, after, store::now()))?,
                ),
                None => None,
            };
            Ok((rx, high, replay))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))??
    };
    let floor = resume.unwrap_or(high);
    let now = tokio::time::Instant::now();
    let lifetime = match auth.credential.expires_in_seconds() {
        Some(s) => MAX_STREAM.min(Duration::from_secs(s.max(0).unsigned_abs())),
        None => MAX_STREAM,
    };
    let mut stream = Stream {
        state: state.clone(),
        credential: auth.credential,
        recheck: tokio::time::interval_at(now + CREDENTIAL_RECHECK, CREDENTIAL_RECHECK),
        recheck_due: false,
        hub,
        rx,
        role: auth.permit.role(),
        scope: auth.permit.scope().clone(),
        sent: Sent {
            ids: HashSet::new(),
            order: VecDeque::new(),
        },
        cursor: floor,
        floor,
        queue: VecDeque::new(),
        keep_alive: tokio::time::interval_at(now + KEEP_ALIVE, KEEP_ALIVE),
        ends_at: now + lifetime,
        done: false,
    };
    if let Some(r) = replay {
        stream.apply(r);
    }
    // Everything up to the hub's high mark is in the trail the replay read, and every
    // later event reaches the receiver: the client is caught up from here.
    stream.cursor = stream.cursor.max(high);
    stream.queue.push_back(mark("ready", stream.cursor, None));
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), s))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
