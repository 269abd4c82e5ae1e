//! The change hub behind `GET /api/v1/events`: one per process, it reads committed audit
//! records and broadcasts them to every open event stream of this process.
//!
//! The event log *is* the audit trail. Every change writes its audit record in its own
//! transaction, and readers only ever see committed rows, so an event can never announce
//! a change that rolled back. Ids are the records' ids; a stream resumes after an id by
//! reading the trail again.
//!
//! One background thread per process, started by the first subscriber and stopped when
//! the last one leaves (or the [`Hub`] is dropped), reads `audit_log` rows above the
//! highest id it has seen. It wakes on a PostgreSQL `NOTIFY` (sent by
//! `store::audit::record*` and delivered on commit, to every instance) or every 250 ms on
//! SQLite; on PostgreSQL it also reads once a second in case a notification was missed.
//!
//! PostgreSQL hands out ids before commit, so id 10 may commit after id 11. The thread
//! remembers the ids it skipped and asks for them again for [`GAP_TTL`]; a record whose
//! transaction stays open longer than that after taking its id reaches the trail but not
//! the live streams (a client that resumes from an earlier id still gets it).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::{Duration, Instant},
};

use api_types::{AuditActor, ChangeEvent};
use chrono::NaiveDateTime;
use domain::{Role, Scope, snapshot::NumberSnapshot};
use serde_json::Value;
use store::{Backend, Conn, Db, StoreResult, audit::AuditRow};
use tokio::sync::broadcast;

/// How many events a stream may fall behind before it re-reads them from the database.
const CHANNEL_CAPACITY: usize = 4096;
/// Records read per query.
const BATCH: i64 = 1000;
/// How often the trail is read when no notification arrives (SQLite, or PostgreSQL
/// while its listening connection is down).
const POLL: Duration = Duration::from_millis(250);
/// How often the trail is read on PostgreSQL between notifications, in case one is lost.
const PG_POLL: Duration = Duration::from_secs(1);
/// How long an id skipped by the reader is asked for again (a transaction that took it
/// may still commit).
pub const GAP_TTL: Duration = Duration::from_secs(60);
/// At most this many skipped ids are remembered (the lowest are forgotten first).
const MAX_GAPS: usize = 10_000;
/// A stream resumes after `Last-Event-ID` only if at most this many records follow it…
pub const REPLAY_MAX_RECORDS: i64 = 10_000;
/// …and the first of them is at most this old; otherwise it is told to `reset`.
pub const REPLAY_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);

/// Where an event may be shown, worked out once from its record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    /// A number or range with this location and these tag keys: callers whose scope
    /// admits them.
    Placed {
        location: Option<String>,
        tags: Vec<String>,
    },
    /// A location: unscoped callers, and callers whose scope lists this one (a grant
    /// limited by tags alone does not hear of sites).
    Location(String),
    /// Accounts, API tokens and platforms (`store::audit::OWNER_ONLY_KINDS`): owners only,
    /// whatever another caller's role or scope.
    Owners,
    /// Anything else (services, settings, directory): unscoped callers only.
    Unscoped,
}

/// One committed change, ready to send.
#[derive(Debug)]
pub struct Event {
    /// The audit record's id.
    pub id: i64,
    reach: Reach,
    /// The frame's `event:` and `data:` lines, without the `id:` line and closing blank
    /// line (a stream adds those).
    lines: String,
}

fn placement(snapshot: Option<&Value>) -> Reach {
    let location = snapshot
        .and_then(|s| s.get("location_id"))
        .and_then(|v| match v {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        });
    let tags = snapshot
        .and_then(|s| s.get("tags"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    placed(location, &tags)
}

fn placed(location: Option<String>, tags: &[&str]) -> Reach {
    let tags = tags
        .iter()
        .filter_map(|t| domain::Tag::parse(t).ok())
        .map(|t| t.key().to_string())
        .collect();
    Reach::Placed { location, tags }
}

/// Where a number record's number is, read with the audit snapshot's own type. A record
/// that does not read (none should) reaches unscoped callers only.
fn number_placement(json: Option<&str>) -> Reach {
    match json.map(NumberSnapshot::from_json) {
        Some(Ok(s)) => {
            let tags: Vec<&str> = s.tags.iter().map(String::as_str).collect();
            placed(s.location_id.map(|l| l.to_string()), &tags)
        }
        None => placed(None, &[]),
        Some(Err(_)) => Reach::Unscoped,
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

impl Event {
    /// The event for a record; `None` for records that are not changes to the estate
    /// (`auth.*`: logins and failed logins), which no stream sends.
    pub fn from_row(row: AuditRow) -> Option<Event> {
        if row.entity_kind == "auth" || row.action.starts_with("auth.") {
            return None;
        }
        let parse = |j: Option<String>| j.and_then(|j| serde_json::from_str::<Value>(&j).ok());
        // A deletion has no after state; where the thing was decides who hears of it.
        let reach = match row.entity_kind.as_str() {
            "number" => number_placement(row.after_json.as_deref().or(row.before_json.as_deref())),
            "range" => placement(parse(row.after_json.clone().or(row.before_json)).as_ref()),
            "location" => Reach::Location(row.entity_id.clone()),
            kind if store::audit::owner_only(kind) => Reach::Owners,
            _ => Reach::Unscoped,
        };
        let after = parse(row.after_json);
        let wire = ChangeEvent {
            id: row.id.to_string(),
            at: row.at.and_utc(),
            action: row.action,
            entity: row.entity_kind,
            entity_id: row.entity_id,
            actor: AuditActor {
                kind: row.actor_kind,
                id: row.actor_id,
                name: row.actor_name,
            },
            source: row.source,
            change_set_id: row.change_set_id,
            data: after,
        };
        let data = serde_json::to_string(&wire).ok()?;
        Some(Event {
            id: row.id,
            reach,
            lines: format!("event: {}\ndata: {data}\n", one_line(&wire.action)),
        })
    }

    /// True when a caller with `role` and `scope` may see this change.
    pub fn visible_to(&self, role: Role, scope: &Scope) -> bool {
        if self.reach == Reach::Owners {
            return role == Role::Owner;
        }
        if scope.is_unrestricted() {
            return true;
        }
        match &self.reach {
            Reach::Placed { location, tags } => {
                let keys: Vec<&str> = tags.iter().map(String::as_str).collect();
                scope.admits(location.as_deref(), &keys)
            }
            Reach::Location(id) => scope.locations.contains(id),
            Reach::Owners | Reach::Unscoped => false,
        }
    }

    /// The SSE frame; with `with_id` it carries the `id:` line that moves the client's
    /// resume point.
    pub fn frame(&self, with_id: bool) -> String {
        if with_id {
            format!("id: {}\n{}\n", self.id, self.lines)
        } else {
            format!("{}\n", self.lines)
        }
    }
}

/// What a stream resuming after an id gets from the trail.
pub enum Replay {
    /// The events after it, oldest first.
    Events(Vec<Arc<Event>>),
    /// It lies outside the window: the client must reload.
    TooOld,
}

/// Reads the changes after `after` within the replay window.
pub fn replay(conn: &mut Conn, after: i64, now: NaiveDateTime) -> StoreResult<Replay> {
    let rows = store::audit::since(conn, after, REPLAY_MAX_RECORDS + 1)?;
    if rows.len() as i64 > REPLAY_MAX_RECORDS
        || rows.first().is_some_and(|r| r.at < now - REPLAY_MAX_AGE)
    {
        return Ok(Replay::TooOld);
    }
    Ok(Replay::Events(
        rows.into_iter()
            .filter_map(Event::from_row)
            .map(Arc::new)
            .collect(),
    ))
}

struct Gate {
    /// Whether the reader thread runs.
    running: bool,
    /// The highest id broadcast; every later event reaches current subscribers.
    high: i64,
}

struct Shared {
    tx: broadcast::Sender<Arc<Event>>,
    gate: Mutex<Gate>,
}

fn lock(gate: &Mutex<Gate>) -> MutexGuard<'_, Gate> {
    // A poisoned lock only means the reader panicked between two plain assignments.
    gate.lock().unwrap_or_else(|p| p.into_inner())
}

/// The per-process source of live events; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    shared: Arc<Shared>,
    db: Db,
}

impl Hub {
    /// A hub over `db`; its thread starts with the first subscriber.
    pub fn new(db: Db) -> Hub {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Hub {
            shared: Arc::new(Shared {
                tx,
                gate: Mutex::new(Gate {
                    running: false,
                    high: 0,
                }),
            }),
            db,
        }
    }

    /// The database the hub reads.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Subscribes (blocking: it may read the database to start the thread). Returns the
    /// receiver and the id after which it gets every event.
    pub fn subscribe(&self) -> StoreResult<(broadcast::Receiver<Arc<Event>>, i64)> {
        let mut gate = lock(&self.shared.gate);
        let rx = self.shared.tx.subscribe();
        if !gate.running {
            gate.high = self.db.read(store::audit::last_id)?;
            let (shared, db, high) = (Arc::downgrade(&self.shared), self.db.clone(), gate.high);
            std::thread::Builder::new()
                .name("telestate-events".into())
                .spawn(move || run(shared, db, high))
                .map_err(|e| {
                    store::StoreError::Internal(format!("starting the event reader: {e}"))
                })?;
            gate.running = true;
        }
        Ok((rx, gate.high))
    }

    /// The highest id broadcast so far.
    pub fn high(&self) -> i64 {
        lock(&self.shared.gate).high
    }
}

/// Follows the trail from `high`, remembering ids it skipped.
struct Reader {
    high: i64,
    gaps: BTreeMap<i64, Instant>,
}

impl Reader {
    /// New records and late commits, oldest first; and whether more may be waiting.
    fn read(&mut self, conn: &mut Conn) -> StoreResult<(Vec<AuditRow>, bool)> {
        let late = if self.gaps.is_empty() {
            Vec::new()
        } else {
            let ids: Vec<i64> = self.gaps.keys().copied().collect();
            store::audit::with_ids(conn, &ids)?
        };
        let rows = store::audit::since(conn, self.high, BATCH)?;
        let more = rows.len() as i64 == BATCH;
        let now = Instant::now();
        for r in &late {
            self.gaps.remove(&r.id);
        }
        for r in &rows {
            // Ids between the last one seen and this one are taken by transactions still
            // open (or rolled back); ask for them again later.
            let from = (self.high + 1).max(r.id - MAX_GAPS as i64);
            for missing in from..r.id {
                self.gaps.insert(missing, now);
            }
            self.high = r.id;
        }
        self.gaps
            .retain(|_, seen| now.duration_since(*seen) < GAP_TTL);
        while self.gaps.len() > MAX_GAPS {
            self.gaps.pop_first();
        }
        let mut all = late;
        all.extend(rows);
        Ok((all, more))
    }
}

/// Marks the reader stopped if it panics, so the next subscriber starts a new one.
struct PanicGuard(Weak<Shared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(shared) = self.0.upgrade()
        {
            lock(&shared.gate).running = false;
        }
    }
}

/// The reader thread: wait for a notification or the poll interval, read, broadcast;
/// stop when the hub is gone or nobody listens.
fn run(shared: Weak<Shared>, db: Db, high: i64) {
    let _guard = PanicGuard(shared.clone());
    let mut reader = Reader {
        high,
        gaps: BTreeMap::new(),
    };
    let mut listener = None;
    let mut listen_after = Instant::now();
    let mut more = false;
    loop {
        if !more {
            if db.backend() == Backend::Postgres
                && listener.is_none()
                && Instant::now() >= listen_after
            {
                match db.change_listener() {
                    Ok(l) => listener = l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for change notifications; polling");
                        listen_after = Instant::now() + Duration::from_secs(5);
                    }
                }
            }
            match listener.as_mut() {
                Some(l) => {
                    if let Err(e) = l.wait(PG_POLL) {
                        tracing::warn!(error = %e, "lost the change-notification connection; polling");
                        listener = None;
                        listen_after = Instant::now() + Duration::from_secs(1);
                    }
                }
                None => std::thread::sleep(POLL),
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.tx.receiver_count() == 0 {
            let mut gate = lock(&shared.gate);
            // Subscribers register under this lock, so none can slip in unseen.
            if shared.tx.receiver_count() == 0 {
                gate.running = false;
                return;
            }
        }
        match db.read(|c| reader.read(c)) {
            Ok((rows, m)) => {
                more = m;
                let events: Vec<Arc<Event>> = rows
                    .into_iter()
                    .filter_map(Event::from_row)
                    .map(Arc::new)
                    .collect();
                let mut gate = lock(&shared.gate);
                gate.high = gate.high.max(reader.high);
                for e in events {
                    // Err only means no receiver is left; the next turn stops the thread.
                    let _ = shared.tx.send(e);
                }
            }
            Err(e) => {
                more = false;
                tracing::warn!(error = %e, "reading the audit trail for events failed; retrying");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        id: i64,
        kind: &str,
        action: &str,
        after: Option<Value>,
        before: Option<Value>,
    ) -> AuditRow {
        AuditRow {
            id,
            at: chrono::DateTime::from_timestamp(1_700_000_000, 0)
                .unwrap()
                .naive_utc(),
            actor_kind: domain::ActorKind::Admin,
            actor_id: "1".into(),
            actor_name: "ann".into(),
            action: action.into(),
            entity_kind: kind.into(),
            entity_id: "+442071234567".into(),
            before_json: before.map(|v| v.to_string()),
            after_json: after.map(|v| v.to_string()),
            request_id: None,
            source: domain::Source::Api,
            change_set_id: None,
        }
    }

    fn scope(locations: &[&str], tags: &[&str]) -> Scope {
        Scope {
            locations: locations.iter().map(|s| s.to_string()).collect(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A number's audit snapshot at `location` with `tags`, as the store writes it.
    fn number_at(location: i64, tags: &[&str]) -> Value {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .naive_utc();
        NumberSnapshot {
            number: "+442071234567".into(),
            base: "+442071234567".into(),
            extension: None,
            country: "GB".into(),
            status: domain::NumberStatus::Available,
            range_id: None,
            location_id: Some(location),
            platform_id: None,
            number_type: None,
            description: String::new(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            version: 1,
            created_at: at,
            updated_at: at,
            reservation: None,
            quarantine: None,
            assignment: None,
            reason: None,
        }
        .to_json()
    }

    #[test]
    fn a_number_event_reaches_the_scopes_that_admit_its_new_place() {
        let after = number_at(3, &["London"]);
        let e = Event::from_row(row(7, "number", "number.assign", Some(after), None)).unwrap();
        assert!(e.visible_to(Role::Admin, &Scope::unrestricted()));
        assert!(e.visible_to(Role::Admin, &scope(&["3"], &[])));
        assert!(e.visible_to(Role::Admin, &scope(&[], &["london"])));
        assert!(!e.visible_to(Role::Admin, &scope(&["4"], &[])));
        assert!(!e.visible_to(Role::Admin, &scope(&["3"], &["paris"])));
        assert_eq!(
            e.frame(true).lines().take(2).collect::<Vec<_>>(),
            ["id: 7", "event: number.assign"]
        );
        assert!(e.frame(false).starts_with("event: number.assign\ndata: {"));
        assert!(e.frame(true).ends_with("}\n\n"));
    }

    #[test]
    fn a_deleted_number_is_placed_by_its_state_before() {
        let before = number_at(4, &[]);
        let e = Event::from_row(row(8, "number", "number.delete", None, Some(before))).unwrap();
        assert!(e.visible_to(Role::Admin, &scope(&["4"], &[])));
        assert!(!e.visible_to(Role::Admin, &scope(&["3"], &[])));
    }

    #[test]
    fn a_number_record_that_does_not_read_reaches_unscoped_callers_only() {
        let odd = serde_json::json!({"location_id": 4, "tags": []});
        let e = Event::from_row(row(9, "number", "number.update", Some(odd), None)).unwrap();
        assert!(e.visible_to(Role::Admin, &Scope::unrestricted()));
        assert!(!e.visible_to(Role::Admin, &scope(&["4"], &[])));
    }

    #[test]
    fn logins_are_not_events_and_other_kinds_are_for_unscoped_callers() {
        assert!(Event::from_row(row(9, "auth", "auth.login", None, None)).is_none());
        let e = Event::from_row(row(
            10,
            "service",
            "service.create",
            Some(serde_json::json!({})),
            None,
        ))
        .unwrap();
        assert!(e.visible_to(Role::Admin, &Scope::unrestricted()));
        assert!(!e.visible_to(Role::Admin, &scope(&[], &["london"])));
    }

    #[test]
    fn records_about_accounts_tokens_and_platforms_reach_owners_only() {
        for (kind, action) in [
            ("admin", "admin.create"),
            ("api_token", "api_token.create"),
            ("platform", "platform.update"),
        ] {
            let e = Event::from_row(row(
                11,
                kind,
                action,
                Some(serde_json::json!({"username": "ann"})),
                None,
            ))
            .unwrap();
            assert!(e.visible_to(Role::Owner, &Scope::unrestricted()), "{kind}");
            for role in [Role::Viewer, Role::Operator, Role::Admin] {
                assert!(!e.visible_to(role, &Scope::unrestricted()), "{kind} {role}");
                assert!(
                    !e.visible_to(role, &scope(&["3"], &["london"])),
                    "{kind} {role}"
                );
            }
        }
    }

    #[test]
    fn a_location_reaches_grants_that_list_it_but_not_grants_limited_to_tags() {
        let e = Event::from_row(row(
            12,
            "location",
            "location.update",
            Some(serde_json::json!({})),
            None,
        ))
        .unwrap();
        // The row's entity id is the number-shaped default of `row`.
        assert!(e.visible_to(Role::Viewer, &Scope::unrestricted()));
        assert!(e.visible_to(Role::Viewer, &scope(&["+442071234567"], &[])));
        assert!(!e.visible_to(Role::Viewer, &scope(&["4"], &[])));
        assert!(!e.visible_to(Role::Viewer, &scope(&[], &["london"])));
    }
}
