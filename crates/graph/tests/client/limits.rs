//! A broken or hostile Graph endpoint (a platform's `graph_base_url` can point anywhere):
//! bodies that never end. Each ends in its own error, once, and the client goes on working.

use graph::{Client, GraphError};
use serde_json::{Value, json};

use crate::stub::{Reply, Seen, Streamed, Stub};

/// The body limit these tests set: 1 MiB, so the bodies that pass it stay small.
const LIMIT: u64 = 1024 * 1024;

fn number(i: usize) -> Value {
    json!({"id": format!("id-{i}"), "telephoneNumber": format!("+1202{i:07}"), "numberType": "directRouting"})
}

/// A client of `stub` that reads at most `limit` bytes a body.
fn client(stub: &Stub, limit: u64) -> Client {
    let mut config = stub.config();
    config.limits.max_response_bytes = limit;
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
    let client = client(&stub, LIMIT);

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
    let client = client(&stub, LIMIT);

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

    let read = client(&stub, exact).number_assignment("id-1").await;
    let refused = client(&stub, exact - 1).number_assignment("id-1").await;

    assert_eq!(read.expect("at the limit").id, "id-1");
    assert!(
        matches!(refused, Err(GraphError::ResponseTooLarge { limit }) if limit == exact - 1),
        "{refused:?}"
    );
    stub.stop().await;
}
