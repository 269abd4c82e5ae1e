use std::time::{Duration, Instant};

use graph_sim::{Faults, SimConfig, SimNumber, SimUser};
use serde_json::json;

use crate::common::{NA, start};

#[tokio::test]
async fn throttling_gives_429_with_retry_after_and_an_early_retry_is_a_violation() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    t.set_faults(Faults {
        throttle_rate: 1.0,
        retry_after_secs: 1,
        ..Faults::default()
    });
    let r = h.get("/users").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(r.body["error"]["code"], "TooManyRequests");
    assert_eq!(r.body["error"]["innerError"]["status"], "429");
    assert_eq!(t.stats().retry_after_violations, 0);

    let r = h.get("/users").await;
    assert_eq!(r.status, 429, "an early retry is throttled again");
    assert_eq!(t.stats().retry_after_violations, 1);

    t.set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        h.get("/users").await.status,
        200,
        "a retry after the wait is served"
    );
    let stats = t.stats();
    assert_eq!(stats.retry_after_violations, 1);
    assert_eq!(stats.throttled, 2);
    assert_eq!(stats.responses_with(429), 2);
    assert_eq!(stats.requests_to("GET", "/users"), 3);
    h.sim.stop().await;
}

#[tokio::test]
async fn server_errors_are_5xx_in_the_graph_envelope() {
    let config = SimConfig {
        faults: Faults {
            server_error_rate: 1.0,
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let h = start(config).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let r = h.get("/users").await;
        assert!([500, 502, 503, 504].contains(&r.status), "{}", r.status);
        assert!(r.body["error"]["code"].is_string());
        if r.header("retry-after").is_some() {
            // Honour it, so later requests do not count as violations.
            tokio::time::sleep(Duration::from_millis(1050)).await;
        }
        seen.insert(r.status);
    }
    assert!(seen.len() >= 3, "{seen:?}");
    assert_eq!(h.sim.tenant().stats().retry_after_violations, 0);
    h.sim.stop().await;
}

#[tokio::test]
async fn latency_and_slow_faults_delay_graph_responses() {
    let config = SimConfig {
        latency: Duration::from_millis(100),
        faults: Faults {
            slow_rate: 1.0,
            slow_delay: Duration::from_millis(200),
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let h = start(config).await;
    let started = Instant::now();
    assert_eq!(h.get("/users").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    h.sim.stop().await;
}

#[tokio::test]
async fn an_injected_operation_failure_says_the_service_is_unavailable() {
    let config = SimConfig {
        faults: Faults {
            failed_operation_rate: 1.0,
            ..Faults::default()
        },
        ..SimConfig::default()
    };
    let h = start(config).await;
    let t = h.sim.tenant();
    let alice = t.add_user(SimUser {
        user_principal_name: "a@contoso.example".into(),
        ..SimUser::default()
    });
    t.add_number(SimNumber {
        telephone_number: "+12065550001".into(),
        ..SimNumber::default()
    });
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "+12065550001", "assignmentTargetId": alice, "numberType": "directRouting"}))
        .await;
    let op = h.get(&r.header("location").unwrap()).await;
    assert_eq!(op.body["status"], "failed");
    assert_eq!(
        op.body["numbers"][0]["statusDetail"],
        "Service is unavailable. Please try again"
    );
    assert_eq!(t.number("+12065550001").unwrap().assignment_target_id, None);
    h.sim.stop().await;
}

#[tokio::test]
async fn token_endpoint_faults_are_503_with_retry_after_tracked_per_client() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    t.set_faults(Faults {
        token_error_rate: 1.0,
        ..Faults::default()
    });
    let c = SimConfig::default();
    let form = [
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("grant_type", "client_credentials"),
    ];
    let r = h.token_request(&form).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error"], "temporarily_unavailable");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    t.set_faults(Faults::default());
    assert_eq!(h.token_request(&form).await.status, 429);
    assert_eq!(t.stats().retry_after_violations, 1);
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(h.token_request(&form).await.status, 200);
    h.sim.stop().await;
}

#[tokio::test]
async fn a_lost_response_is_a_504_but_the_assignment_still_happens() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    let alice = t.add_user(SimUser {
        user_principal_name: "a@contoso.example".into(),
        ..SimUser::default()
    });
    t.add_number(SimNumber {
        telephone_number: "+12065550001".into(),
        ..SimNumber::default()
    });
    t.set_faults(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    });
    let r = h
        .post(&format!("{NA}/assignNumber"), &json!({"telephoneNumber": "+12065550001", "assignmentTargetId": alice, "numberType": "directRouting"}))
        .await;
    assert_eq!(r.status, 504);
    assert_eq!(t.stats().operations_started, 1);
    assert_eq!(
        t.number("+12065550001").unwrap().assignment_target_id,
        Some(alice)
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn a_token_without_the_routes_permission_is_403() {
    let config = SimConfig {
        granted_roles: Some(vec![
            "User.Read.All".into(),
            "TeamsTelephoneNumber.Read.All".into(),
        ]),
        ..SimConfig::default()
    };
    let h = start(config).await;
    assert_eq!(h.get("/users/delta").await.status, 200);
    assert_eq!(h.get(NA).await.status, 200);
    let r = h.get("/groups/delta").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "Authorization_RequestDenied");
    let r = h.post(&format!("{NA}/assignNumber"), &json!({})).await;
    assert_eq!(
        r.status, 403,
        "writing needs TeamsTelephoneNumber.ReadWrite.All"
    );
    h.sim.stop().await;
}

#[tokio::test]
async fn a_paging_loop_sends_every_delta_page_back_to_itself() {
    let h = start(SimConfig::default()).await;
    let t = h.sim.tenant();
    t.add_user(SimUser {
        user_principal_name: "a@contoso.example".into(),
        ..SimUser::default()
    });
    let first = h.get("/users/delta?$select=displayName").await;
    let delta_link = first.body["@odata.deltaLink"].as_str().unwrap().to_owned();
    t.set_faults(Faults {
        paging_loop: true,
        ..Faults::default()
    });

    for link in [
        format!("{}/users/delta?$select=displayName", h.sim.graph_base_url()),
        delta_link,
    ] {
        let page = h.get(&link).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.body["@odata.nextLink"], link.as_str());
        assert!(page.body.get("@odata.deltaLink").is_none());
    }
    h.sim.stop().await;
}
