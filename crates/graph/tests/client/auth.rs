use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use graph::GraphError;
use serde_json::json;

use crate::stub::{Reply, Stub, token_ok};

fn one_number(seen: &crate::stub::Seen) -> Reply {
    Reply::json(
        200,
        json!({"id": "abc", "telephoneNumber": "+12023456788", "numberType": "directRouting"}),
    )
    .header("request-id", &format!("rid-{}", seen.path.len()))
}

#[actix_web::test]
async fn the_token_is_requested_with_client_credentials_and_cached_across_calls() {
    let stub = Stub::start(|seen| (!seen.is_token()).then(|| one_number(seen))).await;
    let client = stub.client();

    client.number_assignment("abc").await.expect("first");
    client.number_assignment("abc").await.expect("second");

    let tokens = stub.token_requests();
    assert_eq!(tokens.len(), 1, "the token endpoint is hit once");
    assert_eq!(tokens[0].method, "POST");
    assert_eq!(tokens[0].path, "/contoso-tenant/oauth2/v2.0/token");
    assert_eq!(
        tokens[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = form_pairs(&tokens[0].body);
    assert!(form.contains(&(
        "client_id".into(),
        "535fb089-9ff3-47b6-9bfb-4f1264799865".into()
    )));
    assert!(form.contains(&(
        "scope".into(),
        "https://graph.microsoft.com/.default".into()
    )));
    assert!(form.contains(&("client_secret".into(), "sampleCredentials".into())));
    assert!(form.contains(&("grant_type".into(), "client_credentials".into())));

    let calls = stub.graph_requests();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.header("authorization"), Some("Bearer token-1"));
        assert_eq!(call.header("client-request-id").map(str::len), Some(36));
    }
    assert_ne!(
        calls[0].header("client-request-id"),
        calls[1].header("client-request-id")
    );
    stub.stop().await;
}

fn form_pairs(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

#[actix_web::test]
async fn invalid_client_from_the_token_endpoint_is_an_auth_error_with_the_first_line() {
    let stub = Stub::start(|seen| {
        seen.is_token().then(|| {
            Reply::json(401, json!({
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 255d1aef-8c98-452f-ac51-23d051240864\r\nCorrelation ID: fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\r\nTimestamp: 2016-01-09 02:02:12Z",
                "error_codes": [7000215],
                "timestamp": "2016-01-09 02:02:12Z",
                "trace_id": "255d1aef-8c98-452f-ac51-23d051240864",
                "correlation_id": "fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7",
                "error_uri": "https://login.microsoftonline.com/error?code=7000215"
            }))
        })
    })
    .await;

    let error = stub
        .client()
        .number_assignment("abc")
        .await
        .expect_err("refused");

    let GraphError::Auth {
        status,
        error,
        description,
    } = error
    else {
        panic!("expected Auth, got {error:?}");
    };
    assert_eq!((status, error.as_str()), (401, "invalid_client"));
    assert!(description.starts_with("AADSTS7000215: Invalid client secret provided."));
    assert!(!description.contains("Trace ID"));
    assert!(
        stub.graph_requests().is_empty(),
        "Graph is not called without a token"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_401_from_graph_refreshes_the_token_once_and_retries_the_request() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let issued = tokens.clone();
    let stub = Stub::start(move |seen| {
        if seen.is_token() {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            return Some(token_ok(&format!("token-{n}")));
        }
        Some(match seen.header("authorization") {
            Some("Bearer token-1") => Reply::error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            ),
            _ => one_number(seen),
        })
    })
    .await;
    let client = stub.client();

    let number = client
        .number_assignment("abc")
        .await
        .expect("retried with a new token");

    assert_eq!(number.telephone_number, "+12023456788");
    assert_eq!(stub.token_requests().len(), 2);
    let calls = stub.graph_requests();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].header("authorization"), Some("Bearer token-2"));

    client.number_assignment("abc").await.expect("later call");
    assert_eq!(
        stub.token_requests().len(),
        2,
        "the refreshed token is cached"
    );
    stub.stop().await;
}

#[actix_web::test]
async fn a_401_that_persists_after_the_refresh_is_an_api_error_not_a_loop() {
    let stub = Stub::start(|seen| {
        (!seen.is_token()).then(|| {
            Reply::error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            )
        })
    })
    .await;

    let error = stub
        .client()
        .number_assignment("abc")
        .await
        .expect_err("refused");

    assert!(
        matches!(&error, GraphError::Api { status: 401, code, .. } if code == "InvalidAuthenticationToken"),
        "{error:?}"
    );
    assert_eq!(stub.graph_requests().len(), 2);
    assert_eq!(stub.token_requests().len(), 2);
    stub.stop().await;
}

#[actix_web::test]
async fn concurrent_calls_share_one_token_request() {
    let stub = Stub::start(|seen| (!seen.is_token()).then(|| one_number(seen))).await;
    let client = stub.client();

    let calls: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            actix_web::rt::spawn(async move { client.number_assignment("abc").await })
        })
        .collect();
    for call in calls {
        call.await.expect("joined").expect("call");
    }

    assert_eq!(stub.token_requests().len(), 1);
    assert_eq!(stub.graph_requests().len(), 5);
    stub.stop().await;
}
