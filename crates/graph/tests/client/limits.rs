//! A broken or hostile Graph endpoint (a platform's `graph_base_url` can point anywhere):
//! bodies that never end, links that go round, a `$skip` that is ignored. Each ends in its
//! own error, once, and the client goes on working.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use graph::{Client, Endpoint, GraphError};
use serde_json::{Value, json};

use crate::stub::{Reply, Seen, Streamed, Stub, read_round};

/// The body limit these tests set: 1 MiB, so the bodies that pass it stay small.
const LIMIT: u64 = 1024 * 1024;

const NUMBERS: &str = "/v1.0/admin/teams/telephoneNumberManagement/numberAssignments";

fn number(i: usize) -> Value {
    json!({"id": format!("id-{i}"), "telephoneNumber": format!("+1202{i:07}"), "numberType": "directRouting"})
}

/// A client of `stub` that reads at most `limit` bytes a body and `max_pages` pages a listing.
fn client(stub: &Stub, limit: u64, max_pages: u32) -> Client {
    let mut config = stub.config();
    config.limits.max_response_bytes = limit;
    config.limits.max_pages = max_pages;
    Client::new(config).expect("client")
}

/// Two megabytes of whitespace: nothing a client could want to hold.
fn huge() -> Reply {
    let mut reply = Reply::json(200, json!({"value": []}));
    reply.body.push_str(&" ".repeat(2 * LIMIT as usize));
    reply
}

/// Answers one number by id at `…/numberAssignments/id-1` and `huge` elsewhere.
fn huge_but_for_one_number(huge: fn() -> Reply) -> impl Fn(&Seen) -> Option<Reply> {
    move |seen| {
        if seen.is_token() {
            return None;
        }
        Some(if seen.path.ends_with("/id-1") {
            Reply::json(200, number(1))
        } else {
            huge()
        })
    }
}

#[actix_web::test]
async fn a_body_over_the_limit_without_content_length_is_refused_once_and_the_client_goes_on() {
    let stub = Stub::start(huge_but_for_one_number(|| {
        huge().streamed(Streamed {
            announce: None,
            stall: false,
        })
    }))
    .await;
    let client = client(&stub, LIMIT, 10);

    let error = client.number_assignments().await.expect_err("too large");

    assert!(
        matches!(error, GraphError::ResponseTooLarge { limit: LIMIT }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(stub.graph_requests().len(), 1, "not asked again");
    let one = client
        .number_assignment("id-1")
        .await
        .expect("still usable");
    assert_eq!(one.id, "id-1");
    stub.stop().await;
}

#[actix_web::test]
async fn a_content_length_over_the_limit_is_refused_before_the_body_is_read() {
    // The body stalls after its first piece: a client that read on would time out instead.
    let stub = Stub::start(huge_but_for_one_number(|| {
        let reply = huge();
        let length = reply.body.len() as u64;
        reply.streamed(Streamed {
            announce: Some(length),
            stall: true,
        })
    }))
    .await;
    let client = client(&stub, LIMIT, 10);

    let error = client.number_assignments().await.expect_err("too large");

    assert!(
        matches!(error, GraphError::ResponseTooLarge { limit: LIMIT }),
        "{error:?}"
    );
    assert_eq!(stub.graph_requests().len(), 1, "not asked again");
    let one = client
        .number_assignment("id-1")
        .await
        .expect("still usable");
    assert_eq!(one.id, "id-1");
    stub.stop().await;
}

/// A number whose body is longer than the token endpoint's answer, which the limit
/// bounds too.
fn long_number() -> Value {
    let mut number = number(1);
    number["city"] = json!("x".repeat(1000));
    number
}

#[actix_web::test]
async fn a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() {
    let body = long_number().to_string();
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            Reply::json(200, long_number()).streamed(Streamed {
                announce: None,
                stall: false,
            })
        })
    })
    .await;
    let exact = body.len() as u64;

    let read = client(&stub, exact, 10).number_assignment("id-1").await;
    let refused = client(&stub, exact - 1, 10).number_assignment("id-1").await;

    assert_eq!(read.expect("at the limit").id, "id-1");
    assert!(
        matches!(refused, Err(GraphError::ResponseTooLarge { limit }) if limit == exact - 1),
        "{refused:?}"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_next_link_the_round_already_followed_is_a_paging_loop() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        let base = &seen.base;
        // Page one leads to page two, and page two back to page one.
        let next = if seen.query.contains("$skiptoken=two") {
            format!("{base}/v1.0/users/delta?$skiptoken=one")
        } else {
            format!("{base}/v1.0/users/delta?$skiptoken=two")
        };
        Some(Reply::json(
            200,
            json!({"@odata.nextLink": next, "value": [{"id": "u1", "userPrincipalName": "a@contoso.example"}]}),
        ))
    })
    .await;
    let client = stub.client();
    let first = format!("{}/v1.0/users/delta?$skiptoken=one", stub.base);

    let mut round = client.users_delta(Some(&first)).expect("round");
    let page = round.next_page().await.expect("page one");
    let error = round.next_page().await.expect_err("page two goes back");

    assert_eq!(
        page.changes.len(),
        1,
        "pages before the loop are handed out"
    );
    assert!(
        matches!(
            error,
            GraphError::PagingLoop {
                endpoint: Endpoint::UsersDelta
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(
        stub.graph_requests().len(),
        2,
        "page one is not asked again"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_delta_round_that_never_ends_stops_at_the_page_limit() {
    let stub = Stub::start(|seen| {
        if seen.is_token() {
            return None;
        }
        // Always a fresh link: no loop to see, only no end.
        let page: u64 = seen
            .query
            .strip_prefix("$skiptoken=")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Some(Reply::json(
            200,
            json!({"@odata.nextLink": format!("{}/v1.0/groups/delta?$skiptoken={}", seen.base, page + 1), "value": []}),
        ))
    })
    .await;

    let error = read_round(client(&stub, LIMIT, 5).groups_delta(None).expect("round"))
        .await
        .expect_err("no end");

    assert!(
        matches!(
            error,
            GraphError::TooManyPages {
                endpoint: Endpoint::GroupsDelta,
                limit: 5
            }
        ),
        "{error:?}"
    );
    assert_eq!(stub.graph_requests().len(), 5);
    stub.stop().await;
}

#[actix_web::test]
async fn a_number_list_that_ignores_skip_is_a_paging_loop_not_an_endless_list() {
    // Always the first 1,000 numbers, whatever $skip says.
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            Reply::json(
                200,
                json!({"value": (0..1000).map(number).collect::<Vec<_>>()}),
            )
        })
    })
    .await;

    let error = stub.client().number_assignments().await.expect_err("loop");

    assert!(
        matches!(
            error,
            GraphError::PagingLoop {
                endpoint: Endpoint::NumberAssignments
            }
        ),
        "{error:?}"
    );
    assert_eq!(stub.graph_requests().len(), 2);
    stub.stop().await;
}

#[actix_web::test]
async fn a_number_list_that_repeats_its_first_number_each_page_is_a_paging_loop() {
    // A server that ignores $skip but shuffles the rest: each page starts where the last
    // one did, so the duplicates are not silently dropped into an endless list.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let stub = Stub::start(move |seen| {
        (!seen.is_token()).then(|| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            let value: Vec<Value> = std::iter::once(0)
                .chain((1..1000).map(|i| i + call * 1000))
                .map(number)
                .collect();
            Reply::json(200, json!({ "value": value }))
        })
    })
    .await;

    let error = stub.client().number_assignments().await.expect_err("loop");

    assert!(matches!(error, GraphError::PagingLoop { .. }), "{error:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    stub.stop().await;
}

#[actix_web::test]
async fn a_number_list_whose_next_links_go_round_is_a_paging_loop() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            let next = if seen.query.contains("$skiptoken=b") { "a" } else { "b" };
            Reply::json(
                200,
                json!({"@odata.nextLink": format!("{}{NUMBERS}?$skiptoken={next}", seen.base), "value": [number(1)]}),
            )
        })
    })
    .await;

    let error = stub.client().number_assignments().await.expect_err("loop");

    assert!(matches!(error, GraphError::PagingLoop { .. }), "{error:?}");
    // The first request ($top/$skip), then "b", then "a"; "b" again is the loop.
    assert_eq!(stub.graph_requests().len(), 3);
    stub.stop().await;
}

#[actix_web::test]
async fn a_number_list_that_never_ends_stops_at_the_page_limit() {
    // A fresh, full page for every $skip: an endless tenant.
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            let skip: usize = seen
                .query
                .split('&')
                .find_map(|p| p.strip_prefix("$skip="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Reply::json(
                200,
                json!({"value": (skip..skip + 1000).map(number).collect::<Vec<_>>()}),
            )
        })
    })
    .await;

    let error = client(&stub, LIMIT, 3)
        .number_assignments()
        .await
        .expect_err("no end");

    assert!(
        matches!(
            error,
            GraphError::TooManyPages {
                endpoint: Endpoint::NumberAssignments,
                limit: 3
            }
        ),
        "{error:?}"
    );
    assert_eq!(stub.graph_requests().len(), 3);
    stub.stop().await;
}
