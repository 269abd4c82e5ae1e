//! Provisioning jobs and drift over HTTP: filters, scope, and bad input.

use domain::Role;
use serde_json::json;

use crate::common::{TestApp, enc};

async fn teams(app: &TestApp, owner: &crate::common::User) -> String {
    app.post("/api/v1/platforms")
        .as_(owner)
        .json(json!({"name": "Teams", "kind": "teams",
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "7a8b9c0d-1e2f-4a3b-9c5d-6e7f8a9b0c1d",
            "client_secret": "a-client-secret"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[actix_web::test]
async fn an_assignment_on_a_teams_number_is_listed_as_a_queued_job() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let platform = teams(&app, &owner).await;
    let site = app.location(&owner, "London", "GB").await;
    let service = app.service(&owner, "Reception").await;
    app.number(
        &owner,
        json!({"number": "+442071234001", "platform_id": platform, "number_type": "direct_routing", "location_id": site}),
    )
    .await;
    let assigned = app
        .post(&format!("/api/v1/numbers/{}/assign", enc("+442071234001")))
        .as_(&owner)
        .json(json!({"target": {"kind": "service", "id": service}}))
        .send()
        .await
        .expect(200);
    assert_eq!(assigned["assignment"]["provisioning"]["state"], "pending");
    let jobs = app
        .get(&format!(
            "/api/v1/provisioning/jobs?state=queued&number={}&platform={platform}",
            enc("+44 20 7123 4001")
        ))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    let items = jobs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{jobs}");
    assert_eq!(items[0]["action"], "assign");
    assert_eq!(items[0]["target"]["kind"], "service");
    assert_eq!(items[0]["target"]["name"], "Reception");
    assert_eq!(items[0]["state"], "queued");
    let id = items[0]["id"].as_str().unwrap();
    app.get(&format!("/api/v1/provisioning/jobs/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    // Only a job that failed for good can be retried.
    app.post(&format!("/api/v1/provisioning/jobs/{id}/retry"))
        .as_(&owner)
        .send()
        .await
        .expect_error(409, "job_not_failed");
    // A reader scoped to another site sees neither the job nor its number.
    let elsewhere = app.location(&owner, "Paris", "FR").await;
    let scoped = app.scoped_user(Role::Viewer, &[&elsewhere], &[]).await;
    let listed = app
        .get("/api/v1/provisioning/jobs")
        .as_(&scoped)
        .send()
        .await
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    app.get(&format!("/api/v1/provisioning/jobs/{id}"))
        .as_(&scoped)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn job_filters_name_what_is_wrong() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    for (query, field) in [
        ("state=stuck", "state"),
        ("number=12", "number"),
        ("platform=x", "platform"),
        ("cursor=%00", "cursor"),
        ("limit=0", "limit"),
        ("colour=red", ""),
    ] {
        let r = app
            .get(&format!("/api/v1/provisioning/jobs?{query}"))
            .as_(&owner)
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 400, "{query}: {}", r.text());
        if !field.is_empty() {
            r.expect_field(field);
        }
    }
    app.get("/api/v1/provisioning/jobs/abc")
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn drift_needs_an_unscoped_grant_and_a_teams_platform() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let platform = teams(&app, &owner).await;
    let drift = app
        .get(&format!("/api/v1/platforms/{platform}/drift"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(drift["items"], json!([]));
    assert_eq!(drift["listed_at"], json!(null), "never listed: sync first");
    let site = app.location(&owner, "London", "GB").await;
    let scoped = app.scoped_user(Role::Admin, &[&site], &[]).await;
    app.get(&format!("/api/v1/platforms/{platform}/drift"))
        .as_(&scoped)
        .send()
        .await
        .expect_error(403, "out_of_scope");
    app.post(&format!("/api/v1/platforms/{platform}/drift/adopt"))
        .as_(&scoped)
        .json(json!({}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    let none = app
        .post("/api/v1/platforms")
        .as_(&owner)
        .json(json!({"name": "Paper", "kind": "none"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.get(&format!("/api/v1/platforms/{none}/drift"))
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
    app.post(&format!("/api/v1/platforms/{platform}/drift/push"))
        .as_(&owner)
        .json(json!({"numbers": ["not a number"]}))
        .send()
        .await
        .expect_invalid("invalid_number", "numbers");
    let many: Vec<String> = (0..10_001).map(|i| format!("+4420712{i:05}")).collect();
    app.post(&format!("/api/v1/platforms/{platform}/drift/adopt"))
        .as_(&owner)
        .json(json!({"numbers": many}))
        .send()
        .await
        .expect_invalid("invalid_field", "numbers");
    app.post(&format!("/api/v1/platforms/{platform}/drift/adopt"))
        .as_(&owner)
        .json(json!({"numbers": [], "everything": true}))
        .send()
        .await
        .expect_error(400, "invalid_json");
}

/// Review finding: `"numbers": null` settled every drifted number of the platform, as if
/// the field had been left out; a client that meant "these numbers" and sent no list
/// must get a 400, not a platform-wide adopt.
#[actix_web::test]
async fn a_null_list_of_numbers_is_refused_not_taken_for_all() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let platform = teams(&app, &owner).await;
    for action in ["adopt", "push"] {
        app.post(&format!("/api/v1/platforms/{platform}/drift/{action}"))
            .as_(&owner)
            .json(json!({"numbers": null}))
            .send()
            .await
            .expect_invalid("invalid_json", "numbers");
    }
    // Leaving it out still means every drifted number.
    app.post(&format!("/api/v1/platforms/{platform}/drift/push"))
        .as_(&owner)
        .json(json!({}))
        .send()
        .await
        .expect(200);
}
