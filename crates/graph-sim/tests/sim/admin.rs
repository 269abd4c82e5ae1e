use graph_sim::SimConfig;
use serde_json::{Value, json};

use crate::common::{NA, client, read, start};

async fn send(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> crate::common::Resp {
    let mut req = c.request(method, url);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&b).unwrap());
    }
    read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn the_admin_api_round_trips_users_groups_numbers_faults_and_stats() {
    use reqwest::Method;
    let h = start(SimConfig::default()).await;
    let c = client();
    let base = h.sim.admin_base_url();

    let r = send(&c, Method::POST, format!("{base}/users"), Some(json!({"userPrincipalName": "a@contoso.example", "displayName": "A", "department": "Ops"}))).await;
    assert_eq!(r.status, 201);
    let a = r.body["id"].as_str().unwrap().to_owned();
    let r = send(
        &c,
        Method::PATCH,
        format!("{base}/users/{a}"),
        Some(json!({"department": null, "jobTitle": "Lead"})),
    )
    .await;
    assert_eq!(r.status, 204);
    let u = h.sim.tenant().user(&a).unwrap();
    assert_eq!((u.department, u.job_title.as_deref()), (None, Some("Lead")));
    assert_eq!(
        send(&c, Method::POST, format!("{base}/users/{a}/disable"), None)
            .await
            .status,
        204
    );
    assert!(!h.sim.tenant().user(&a).unwrap().account_enabled);

    let g = send(
        &c,
        Method::POST,
        format!("{base}/groups"),
        Some(json!({"displayName": "G"})),
    )
    .await
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send(
            &c,
            Method::POST,
            format!("{base}/groups/{g}/members/{a}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        send(
            &c,
            Method::DELETE,
            format!("{base}/groups/{g}/members/{a}"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        send(
            &c,
            Method::DELETE,
            format!("{base}/groups/{g}/members/{a}"),
            None
        )
        .await
        .status,
        404
    );

    let r = send(&c, Method::POST, format!("{base}/numbers"), Some(json!([{"telephoneNumber": "+15550001"}, {"telephoneNumber": "15550002", "numberType": "callingPlan"}]))).await;
    assert_eq!(r.body["added"], 2);
    let r = send(
        &c,
        Method::POST,
        format!("{base}/numbers"),
        Some(json!({"telephoneNumber": "+15550003"})),
    )
    .await;
    assert_eq!(r.body["added"], 1);
    let r = send(
        &c,
        Method::PUT,
        format!("{base}/numbers/%2B15550001/assignment"),
        Some(json!({"assignmentTargetId": a})),
    )
    .await;
    assert_eq!(r.status, 204);
    let listed = h.get(NA).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 3);
    assert_eq!(
        listed.body["value"][0]["assignmentTargetId"].as_str(),
        Some(a.as_str())
    );

    assert_eq!(
        send(
            &c,
            Method::PUT,
            format!("{base}/faults"),
            Some(json!({"throttleRate": 1.0, "retryAfterSecs": 7}))
        )
        .await
        .status,
        204
    );
    let r = h.get("/users").await;
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (429, Some("7"))
    );
    assert_eq!(
        send(&c, Method::PUT, format!("{base}/faults"), Some(json!({})))
            .await
            .status,
        204
    );

    assert_eq!(
        send(
            &c,
            Method::POST,
            format!("{base}/expire-delta-tokens"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        send(
            &c,
            Method::DELETE,
            format!("{base}/users/{a}?permanent=true"),
            None
        )
        .await
        .status,
        204
    );
    let stats = send(&c, Method::GET, format!("{base}/stats"), None).await;
    assert_eq!(stats.status, 200);
    assert_eq!(stats.body["throttled"], 1);
    assert_eq!(stats.body["tokensIssued"], 1);
    assert_eq!(stats.body["requests"]["GET /users"], 1);
    h.sim.stop().await;
}
