use graph_sim::SimConfig;

use crate::common::{read, start};

#[tokio::test]
async fn a_correct_client_credentials_request_gets_a_bearer_token() {
    let h = start(SimConfig::default()).await;
    let c = SimConfig::default();
    let r = h
        .token_request(&[
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    assert!(r.body["ext_expires_in"].is_u64());
    assert!(
        r.body["access_token"]
            .as_str()
            .is_some_and(|t| t.len() > 20)
    );
    assert_eq!(h.sim.tenant().stats().tokens_issued, 2);
    h.sim.stop().await;
}

#[tokio::test]
async fn the_secret_may_come_by_http_basic_instead_of_the_form() {
    let h = start(SimConfig::default()).await;
    let c = SimConfig::default();
    let body = format!(
        "scope={}&grant_type=client_credentials",
        crate::common::enc("https://graph.microsoft.com/.default")
    );
    let resp = h
        .client
        .post(h.token_url())
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("send");
    let r = read(resp).await;
    assert_eq!(r.status, 200, "{}", r.body);
    h.sim.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_invalid_client_with_aadsts7000215() {
    let h = start(SimConfig::default()).await;
    let c = SimConfig::default();
    let r = h
        .token_request(&[
            ("client_id", &c.client_id),
            ("client_secret", "nope"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    assert_eq!(r.body["error_codes"][0], 7000215);
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );
    assert!(r.body["trace_id"].is_string() && r.body["correlation_id"].is_string());
    h.sim.stop().await;
}

#[tokio::test]
async fn a_scope_other_than_graph_default_is_invalid_scope() {
    let h = start(SimConfig::default()).await;
    let c = SimConfig::default();
    let r = h
        .token_request(&[
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("scope", "https://graph.microsoft.com/User.Read.All"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_scope");
    assert_eq!(r.body["error_codes"][0], 70011);
    h.sim.stop().await;
}

#[tokio::test]
async fn an_unknown_tenant_or_application_is_refused_with_its_aadsts_code() {
    let h = start(SimConfig::default()).await;
    let c = SimConfig::default();
    let url = format!(
        "{}/11111111-0000-0000-0000-000000000000/oauth2/v2.0/token",
        h.sim.login_base_url()
    );
    let r = read(
        h.client
            .post(url)
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error_codes"][0], 90002);
    let r = h
        .token_request(&[
            ("client_id", "22222222-0000-0000-0000-000000000000"),
            ("client_secret", &c.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .await;
    assert_eq!(r.body["error_codes"][0], 700016);
    h.sim.stop().await;
}

#[tokio::test]
async fn a_graph_call_without_a_bearer_is_401_in_the_graph_envelope() {
    let h = start(SimConfig::default()).await;
    let resp = h
        .client
        .get(format!("{}/users", h.sim.graph_base_url()))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    let r = read(resp).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(
        r.body["error"]["innerError"]["client-request-id"],
        "abc-123"
    );
    assert!(r.header("request-id").is_some());
    assert_eq!(r.header("client-request-id").as_deref(), Some("abc-123"));
    h.sim.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused_and_a_fresh_one_works() {
    let config = SimConfig {
        token_lifetime: std::time::Duration::from_millis(300),
        ..SimConfig::default()
    };
    let mut h = start(config).await;
    assert_eq!(h.get("/users").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let r = h.get("/users").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "InvalidAuthenticationToken");
    h.token = h.fetch_token().await;
    assert_eq!(h.get("/users").await.status, 200);
    h.sim.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_graph_envelope() {
    let h = start(SimConfig::default()).await;
    let r = h.get("/nothingHere").await;
    assert_eq!(r.status, 404);
    assert!(r.body["error"]["code"].is_string());
    let r = h.post("/users/delta", &serde_json::json!({})).await;
    assert_eq!(r.status, 405);
    assert!(r.body["error"]["innerError"]["request-id"].is_string());
    h.sim.stop().await;
}
