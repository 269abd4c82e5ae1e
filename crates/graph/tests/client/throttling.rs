use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use graph::{Endpoint, GraphError};
use serde_json::json;

use crate::stub::{Recorder, Reply, Seen, Stub};

fn one_number() -> Reply {
    Reply::json(200, json!({"id": "abc", "telephoneNumber": "+12023456788"}))
        .header("request-id", "rid-ok")
}

fn throttled(retry_after: Option<&str>) -> Reply {
    let reply = Reply::json(
        429,
        json!({"error": {"code": "TooManyRequests", "innerError": {
        "code": "429", "date": "2020-08-18T12:51:51", "message": "Please retry after",
        "request-id": "94fb3b52-452a-4535-a601-69e0a90e3aa2", "status": "429"},
        "message": "Please retry again later."}}),
    );
    match retry_after {
        Some(value) => reply.header("retry-after", value),
        None => reply,
    }
}

/// Answers Graph requests with `first` for the first `n` of them, then with success.
fn fail_first(
    n: usize,
    first: impl Fn() -> Reply + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Option<Reply> {
    let count = Arc::new(AtomicUsize::new(0));
    move |seen| {
        (!seen.is_token()).then(|| {
            if count.fetch_add(1, Ordering::SeqCst) < n {
                first()
            } else {
                one_number()
            }
        })
    }
}

#[actix_web::test]
async fn a_429_with_retry_after_is_retried_no_sooner_than_asked() {
    let stub = Stub::start(fail_first(1, || throttled(Some("1")))).await;
    let recorder = Arc::new(Recorder::default());
    let client = stub.client().with_observer(recorder.clone());

    client.number_assignment("abc").await.expect("retried");

    let calls = stub.graph_requests();
    assert_eq!(calls.len(), 2);
    let gap = calls[1].at - calls[0].at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    let events: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.0 != Endpoint::Token)
        .collect();
    assert_eq!(events.len(), 2, "every attempt is observed");
    assert_eq!(events[0].1, Some(429));
    assert_eq!(events[0].2, Some(Duration::from_secs(1)));
    assert_eq!(
        (events[1].1, events[1].3.as_deref()),
        (Some(200), Some("rid-ok"))
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_503_without_retry_after_is_retried_after_a_backoff() {
    let stub = Stub::start(fail_first(2, || {
        Reply::error(
            503,
            "serviceNotAvailable",
            "Service is unavailable. Please try again",
        )
    }))
    .await;

    let number = stub
        .client()
        .number_assignment("abc")
        .await
        .expect("retried");

    assert_eq!(number.id, "abc");
    assert_eq!(stub.graph_requests().len(), 3);
    stub.stop().await;
}

#[actix_web::test]
async fn throttling_past_the_attempt_budget_is_a_throttled_error() {
    let stub = Stub::start(|seen| (!seen.is_token()).then(|| Reply::empty(504))).await;

    let error = stub
        .client()
        .number_assignment("abc")
        .await
        .expect_err("gave up");

    assert!(
        matches!(
            error,
            GraphError::Throttled {
                status: 504,
                retry_after: None
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(
        stub.graph_requests().len(),
        4,
        "max_attempts requests, no more"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_retry_after_beyond_the_wait_budget_is_handed_back_rather_than_shortened() {
    let stub = Stub::start(|seen| (!seen.is_token()).then(|| throttled(Some("3600")))).await;
    let started = Instant::now();

    let error = stub
        .client()
        .number_assignment("abc")
        .await
        .expect_err("gave up");

    assert!(
        matches!(error, GraphError::Throttled { status: 429, retry_after: Some(d) } if d == Duration::from_secs(3600)),
        "{error:?}"
    );
    assert_eq!(stub.graph_requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
    stub.stop().await;
}

#[actix_web::test]
async fn an_assign_refused_with_429_is_retried_because_graph_did_not_accept_it() {
    let count = Arc::new(AtomicUsize::new(0));
    let stub = Stub::start(move |seen| {
        (!seen.is_token()).then(|| {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                throttled(Some("0"))
            } else {
                Reply::empty(202).header(
                    "location",
                    &format!(
                        "{}/v1.0/admin/teams/telephoneNumberManagement/operations('x')",
                        seen.base
                    ),
                )
            }
        })
    })
    .await;

    let location = stub
        .client()
        .assign_number(&assign())
        .await
        .expect("accepted");

    assert_eq!(location.id().as_deref(), Some("x"));
    assert_eq!(stub.graph_requests().len(), 2);
    stub.stop().await;
}

fn assign() -> graph::AssignNumber {
    graph::AssignNumber {
        telephone_number: "+12061234567".into(),
        assignment_target_id: "94ec379d-30a2-4cdb-a377-75e42f7a61e5".into(),
        number_type: graph::NumberType::CallingPlan,
        assignment_category: None,
        location_id: None,
    }
}

#[actix_web::test]
async fn an_assign_that_timed_out_is_not_sent_again() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| Reply::empty(202).after(Duration::from_millis(600)))
    })
    .await;
    let mut config = stub.config();
    config.timeout = Duration::from_millis(200);
    let client = graph::Client::new(config).expect("client");

    let error = client
        .assign_number(&assign())
        .await
        .expect_err("timed out");

    assert!(matches!(error, GraphError::Timeout), "{error:?}");
    assert_eq!(
        stub.graph_requests().len(),
        1,
        "the POST may have been applied"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_get_that_timed_out_is_retried() {
    let count = Arc::new(AtomicUsize::new(0));
    let stub = Stub::start(move |seen| {
        (!seen.is_token()).then(|| {
            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                one_number().after(Duration::from_millis(600))
            } else {
                one_number()
            }
        })
    })
    .await;
    let mut config = stub.config();
    config.timeout = Duration::from_millis(200);
    let recorder = Arc::new(Recorder::default());
    let client = graph::Client::new(config)
        .expect("client")
        .with_observer(recorder.clone());

    client.number_assignment("abc").await.expect("retried");

    assert_eq!(stub.graph_requests().len(), 2);
    let statuses: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.0 == Endpoint::NumberAssignment)
        .map(|e| e.1)
        .collect();
    assert_eq!(
        statuses,
        [None, Some(200)],
        "the timed-out attempt is observed without a status"
    );
    stub.stop().await;
}
