//! `GET /api/v1/events`: committed changes only, with their new state, within the caller's
//! scope, resumable by `Last-Event-ID`, and across instances sharing one database.
//!
//! Streams are read from a second `AppState` over the same database (another
//! "instance"), while changes go through the test app; every wait has a generous
//! deadline and fails the test when it passes, and "never sent" is checked by ordering
//! (a later committed change arrives first), not by waiting.

use std::{pin::Pin, sync::Arc, time::Duration};

use actix_web::{
    body::{BoxBody, MessageBody},
    dev::ServiceResponse,
    test::{self, TestRequest},
    web,
};
use domain::Role;
use serde_json::{Value, json};
use store::{Db, StoreError, audit::Change};

use crate::common::{TestApp, User, enc};

/// How long a stream is given to deliver what the test waits for.
const DEADLINE: Duration = Duration::from_secs(10);

/// One server-sent event.
#[derive(Debug, Clone)]
struct Frame {
    id: Option<String>,
    event: String,
    data: Value,
}

/// An open event stream.
struct Sse {
    body: Pin<Box<BoxBody>>,
    buffer: String,
    seen: Vec<Frame>,
}

impl Sse {
    /// The next event (comments skipped); panics after the deadline or at the end.
    async fn next(&mut self) -> Frame {
        let fut = async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let raw: String = self.buffer.drain(..end + 2).collect();
                    let mut frame = Frame {
                        id: None,
                        event: "message".into(),
                        data: Value::Null,
                    };
                    let mut has_data = false;
                    for line in raw.lines() {
                        if let Some(v) = line.strip_prefix("id: ") {
                            frame.id = Some(v.to_string());
                        } else if let Some(v) = line.strip_prefix("event: ") {
                            frame.event = v.to_string();
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            frame.data = serde_json::from_str(v).expect("data is JSON");
                            has_data = true;
                        }
                    }
                    if has_data {
                        return frame;
                    }
                    continue;
                }
                let chunk = std::future::poll_fn(|cx| self.body.as_mut().poll_next(cx))
                    .await
                    .expect("the event stream ended")
                    .expect("the event stream failed");
                self.buffer
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
            }
        };
        let frame = tokio::time::timeout(DEADLINE, fut)
            .await
            .unwrap_or_else(|_| {
                panic!("no event within {DEADLINE:?}; got so far: {:#?}", self.seen)
            });
        self.seen.push(frame.clone());
        frame
    }

    /// Events up to and including the first that `pred` accepts.
    async fn until(&mut self, pred: impl Fn(&Frame) -> bool) -> Vec<Frame> {
        let mut got = Vec::new();
        loop {
            let f = self.next().await;
            let done = pred(&f);
            got.push(f);
            if done {
                return got;
            }
        }
    }

    /// Events up to the `ready` that ends the replay (excluded), and that `ready`'s id.
    async fn replayed(&mut self) -> (Vec<Frame>, String) {
        let mut got = self.until(|f| f.event == "ready").await;
        let ready = got.pop().expect("ready");
        (got, ready.id.expect("ready carries an id"))
    }
}

fn is_change(f: &Frame, action: &str, entity_id: &str) -> bool {
    f.event == action && f.data["entity_id"] == entity_id
}

/// Another instance over the same database: its own state (so its own event hub).
fn instance(db: Db) -> web::Data<api::AppState> {
    web::Data::new(api::AppState::new(db, api::ApiConfig::default()).expect("state"))
}

/// `GET /api/v1/events` as `user`, resuming after `last_event_id`.
fn events(user: &User, last_event_id: Option<&str>) -> TestRequest {
    let req = TestRequest::get()
        .uri("/api/v1/events")
        .insert_header(("authorization", format!("Bearer {}", user.token)));
    match last_event_id {
        Some(id) => req.insert_header(("last-event-id", id)),
        None => req,
    }
}

/// The stream of a 200 `text/event-stream` response.
fn stream_of<B: MessageBody + 'static>(res: ServiceResponse<B>) -> Sse {
    assert_eq!(res.status(), 200, "GET /api/v1/events");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    Sse {
        body: Box::pin(res.map_into_boxed_body().into_body()),
        buffer: String::new(),
        seen: Vec::new(),
    }
}

/// Opens a stream on `svc` (a macro: the service's request type has no public name).
macro_rules! open {
    ($svc:expr, $user:expr, $last:expr) => {
        stream_of(test::call_service($svc, events($user, $last).to_request()).await)
    };
}

async fn patch_description(app: &TestApp, by: &User, number: &str, text: &str) {
    app.patch(&format!("/api/v1/numbers/{}", enc(number)))
        .as_(by)
        .json(json!({ "description": text }))
        .send()
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_committed_change_reaches_a_stream_with_its_new_state() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let svc = test::init_service(api::app(
        instance(app.tdb.db.clone()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut sse = open!(&svc, &owner, None);
    let (replayed, _) = sse.replayed().await;
    assert!(
        replayed.is_empty(),
        "a fresh stream replays nothing: {replayed:?}"
    );

    app.number(&owner, json!({"number": "+442071230001"})).await;
    patch_description(&app, &owner, "+442071230001", "front desk").await;

    let got = sse
        .until(|f| is_change(f, "number.update", "+442071230001"))
        .await;
    let created = got
        .iter()
        .find(|f| is_change(f, "number.create", "+442071230001"))
        .unwrap_or_else(|| panic!("no number.create in {got:?}"));
    assert_eq!(created.data["data"]["status"], "available");
    let updated = got.last().unwrap();
    assert_eq!(updated.data["entity"], "number");
    assert_eq!(
        updated.data["data"]["description"], "front desk",
        "{updated:?}"
    );
    assert_eq!(updated.data["data"]["number"], "+442071230001");
    assert_eq!(updated.data["actor"]["name"], owner.username);
    assert_eq!(updated.data["source"], "api");
    assert_eq!(
        updated.id.as_deref(),
        updated.data["id"].as_str(),
        "the SSE id is the record's id"
    );
    assert!(
        got.iter().all(|f| !f.event.starts_with("auth.")),
        "logins are not events: {got:?}"
    );
}

#[actix_web::test]
async fn an_uncommitted_change_is_never_sent() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    app.number(&owner, json!({"number": "+442071230001"})).await;
    let svc = test::init_service(api::app(
        instance(app.tdb.db.clone()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut sse = open!(&svc, &owner, None);
    sse.replayed().await;

    let failed = app.tdb.db.write(|c| {
        store::audit::record(
            c,
            &store::testing::owner(),
            Change {
                action: "number.update",
                entity_kind: "number",
                entity_id: "+442071230001",
                before: None,
                after: Some(json!({"description": "rolled back"})),
            },
        )?;
        Err::<(), _>(StoreError::Internal(
            "the change fails after its audit record".into(),
        ))
    });
    assert!(failed.is_err());
    // A committed change after it: if the rolled-back record were sent, it would come first.
    patch_description(&app, &owner, "+442071230001", "committed").await;

    let got = sse
        .until(|f| is_change(f, "number.update", "+442071230001"))
        .await;
    let update = got.last().unwrap();
    assert_eq!(update.data["data"]["description"], "committed", "{got:?}");
    assert!(
        got.iter()
            .all(|f| f.data["data"]["description"] != "rolled back"),
        "an uncommitted change was sent: {got:?}"
    );
}

#[actix_web::test]
async fn last_event_id_resumes_right_after_that_id() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let svc = test::init_service(api::app(
        instance(app.tdb.db.clone()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mark = app.audit_mark(&owner).await;
    for n in ["+442071230001", "+442071230002", "+442071230003"] {
        app.number(&owner, json!({"number": n})).await;
    }
    let records = app.audit_since(&owner, mark).await;
    let creates: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "number.create")
        .collect();
    assert_eq!(creates.len(), 3, "{records:?}");
    let first = creates[0]["id"].as_str().unwrap();

    let mut sse = open!(&svc, &owner, Some(first));
    let (replayed, ready) = sse.replayed().await;
    let numbers: Vec<&str> = replayed
        .iter()
        .filter(|f| f.event == "number.create")
        .map(|f| f.data["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["+442071230002", "+442071230003"], "{replayed:?}");
    let ids: Vec<i64> = replayed
        .iter()
        .map(|f| f.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "replay is in id order: {ids:?}"
    );
    assert!(ids[0] > first.parse::<i64>().unwrap());
    assert_eq!(
        ready,
        creates[2]["id"].as_str().unwrap(),
        "ready marks the last id"
    );

    // The query parameter does the same for clients that cannot send the header.
    let mut by_query = stream_of(
        test::call_service(
            &svc,
            events(&owner, None)
                .uri(&format!(
                    "/api/v1/events?last_event_id={}",
                    creates[1]["id"].as_str().unwrap()
                ))
                .to_request(),
        )
        .await,
    );
    let (replayed, _) = by_query.replayed().await;
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(replayed[0].data["entity_id"], "+442071230003");

    // Live events continue after the replay, exactly once.
    app.number(&owner, json!({"number": "+442071230004"})).await;
    let live = sse
        .until(|f| is_change(f, "number.create", "+442071230004"))
        .await;
    assert_eq!(live.len(), 1, "only the new change follows: {live:?}");
}

#[actix_web::test]
async fn a_resume_point_outside_the_window_is_told_to_reset() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let mark = app.audit_mark(&owner).await;
    // One more record after the mark than a stream may replay.
    let items: Vec<Value> = (0..10_000)
        .map(|i| json!({"number": format!("+4420796{i:05}")}))
        .collect();
    app.post("/api/v1/numbers")
        .as_(&owner)
        .json(json!({ "items": items }))
        .send()
        .await
        .expect(201);
    app.number(&owner, json!({"number": "+442071230001"})).await;
    let last = app.audit_mark(&owner).await;

    let svc = test::init_service(api::app(
        instance(app.tdb.db.clone()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut stream = open!(&svc, &owner, Some(&mark.to_string()));
    let (replayed, ready) = stream.replayed().await;
    assert_eq!(
        replayed.len(),
        1,
        "only the reset, no partial replay: {:?}",
        replayed.first()
    );
    assert_eq!(replayed[0].event, "reset");
    assert_eq!(
        ready,
        last.to_string(),
        "the reset moves the resume point to the newest record"
    );
    assert_eq!(replayed[0].id.as_deref(), Some(ready.as_str()));

    // Within the count, the age decides: the same records seen from two days on.
    let after = last - 5;
    let later = store::now() + chrono::Duration::days(2);
    let replay = app
        .tdb
        .db
        .read(|c| api::events::replay(c, after, later))
        .unwrap();
    assert!(matches!(replay, api::events::Replay::TooOld));
    let replay = app
        .tdb
        .db
        .read(|c| api::events::replay(c, after, store::now()))
        .unwrap();
    assert!(matches!(replay, api::events::Replay::Events(e) if e.len() == 5));

    let bad = test::call_service(&svc, events(&owner, Some("not-an-id")).to_request()).await;
    assert_eq!(bad.status(), 400);
}

#[actix_web::test]
async fn a_scoped_viewer_does_not_receive_numbers_outside_its_scope() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let mine = app.location(&owner, "Mine", "GB").await;
    let other = app.location(&owner, "Other", "GB").await;
    let viewer = app.scoped_user(Role::Viewer, &[&mine], &[]).await;
    let svc = test::init_service(api::app(
        instance(app.tdb.db.clone()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut sse = open!(&svc, &viewer, None);
    sse.replayed().await;

    app.number(
        &owner,
        json!({"number": "+442071230001", "location_id": other}),
    )
    .await;
    app.number(
        &owner,
        json!({"number": "+442071230002", "location_id": mine}),
    )
    .await;
    // Moving a number into scope is seen; the creation outside it was not.
    app.patch(&format!("/api/v1/numbers/{}", enc("+442071230001")))
        .as_(&owner)
        .json(json!({"location_id": mine}))
        .send()
        .await
        .expect(200);

    let got = sse
        .until(|f| is_change(f, "number.update", "+442071230001"))
        .await;
    let changes: Vec<(&str, &str)> = got
        .iter()
        .map(|f| (f.event.as_str(), f.data["entity_id"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        changes,
        [
            ("number.create", "+442071230002"),
            ("number.update", "+442071230001")
        ],
        "the viewer saw only its own location's numbers"
    );
}

#[actix_web::test]
async fn a_change_through_one_instance_reaches_the_streams_of_another() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    // Instance B: its own pool and hub over the same database, as a second process.
    let other = Db::connect(&app.tdb.url, 2).expect("second pool");
    let svc = test::init_service(api::app(instance(other), Arc::new(api::openapi()))).await;
    let mut sse = open!(&svc, &owner, None);
    sse.replayed().await;

    app.number(&owner, json!({"number": "+442071230001"})).await;
    let got = sse
        .until(|f| is_change(f, "number.create", "+442071230001"))
        .await;
    assert_eq!(got.last().unwrap().data["data"]["number"], "+442071230001");
}

#[actix_web::test]
async fn a_stream_that_falls_behind_still_gets_every_event_once() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let svc = test::init_service(api::app(
        instance(app.tdb.db.clone()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut slow = open!(&svc, &owner, None);
    slow.replayed().await;
    let mut fast = open!(&svc, &owner, None);
    fast.replayed().await;

    // More records in one commit than the hub buffers per stream.
    let items: Vec<Value> = (0..5000)
        .map(|i| json!({"number": format!("+4420795{i:05}")}))
        .collect();
    app.post("/api/v1/numbers")
        .as_(&owner)
        .json(json!({ "items": items }))
        .send()
        .await
        .expect(201);
    app.number(&owner, json!({"number": "+442071239999"})).await;
    // Once the fast reader has the last one, the hub has broadcast them all while the
    // slow stream read nothing: it has fallen behind.
    let last = |f: &Frame| is_change(f, "number.create", "+442071239999");
    assert_eq!(fast.until(last).await.len(), 5001);

    let got = slow.until(last).await;
    let mut ids: Vec<&str> = got.iter().map(|f| f.data["id"].as_str().unwrap()).collect();
    assert_eq!(got.len(), 5001, "every record once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5001, "no record twice");
}

#[actix_web::test]
async fn accounts_and_tokens_reach_the_streams_of_owners_only() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let others = [
        app.user(Role::Viewer).await,
        app.user(Role::Operator).await,
        app.user(Role::Admin).await,
        app.scoped_user(Role::Admin, &[], &["sales"]).await,
    ];
    let svc = test::init_service(api::app(
        instance(app.tdb.db.clone()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut owners = open!(&svc, &owner, None);
    owners.replayed().await;
    let mut streams = Vec::new();
    for u in &others {
        let mut s = open!(&svc, u, None);
        s.replayed().await;
        streams.push(s);
    }

    app.post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "alice", "password": "password123", "role": "viewer"}))
        .send()
        .await
        .expect(201);
    app.post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "ITSM", "role": "operator"}))
        .send()
        .await
        .expect(201);
    app.patch(&format!("/api/v1/locations/{here}"))
        .as_(&owner)
        .json(json!({"city": "London"}))
        .send()
        .await
        .expect(200);
    // The last change, which every stream receives: what came before it was decided.
    app.number(
        &owner,
        json!({"number": "+442071230001", "tags": ["sales"]}),
    )
    .await;
    let last = |f: &Frame| is_change(f, "number.create", "+442071230001");

    let got = owners.until(last).await;
    for action in ["admin.create", "api_token.create", "location.update"] {
        assert!(
            got.iter().any(|f| f.event == action),
            "the owner hears of {action}: {got:?}"
        );
    }
    for (u, s) in others.iter().zip(streams.iter_mut()) {
        let got = s.until(last).await;
        assert!(
            got.iter()
                .all(|f| !f.event.starts_with("admin.") && !f.event.starts_with("api_token.")),
            "{} heard of an account or token: {got:?}",
            u.username
        );
    }
    // A grant limited to tags does not hear of sites either.
    let tagged = streams.last().map(|s| s.seen.clone()).unwrap_or_default();
    assert!(
        tagged.iter().all(|f| !f.event.starts_with("location.")),
        "{tagged:?}"
    );
}
