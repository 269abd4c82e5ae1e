//! Assigning never takes a number from its holder silently (SPEC §2): a held number is 409
//! `number_assigned` unless the request says `reassign: true`, and assigning it to its
//! holder again changes nothing.

use domain::Role;
use serde_json::{Value, json};

use crate::common::*;

fn assign_body(service: &str, reassign: bool) -> Value {
    json!({"target": {"kind": "service", "id": service}, "reassign": reassign})
}

async fn history(app: &TestApp, by: &User, e164: &str) -> Vec<String> {
    app.list_all(by, &format!("/api/v1/numbers/{}/history", enc(e164)), 100)
        .await
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn twenty_racing_assigns_of_one_free_number_give_one_winner_and_nineteen_conflicts() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.number(&admin, json!({"number": "+442071239001"})).await;
    let mut services = Vec::new();
    for i in 0..20 {
        services.push(app.service(&admin, &format!("Queue {i}")).await);
    }
    let path = format!("/api/v1/numbers/{}/assign", enc("+442071239001"));
    let answers = futures_util::future::join_all(services.iter().map(|s| {
        app.post(&path)
            .as_(&admin)
            .json(json!({"target": {"kind": "service", "id": s}}))
            .send()
    }))
    .await;
    let won: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one assign wins");
    let winner = won[0].json()["assignment"]["target"]["id"].clone();
    for r in answers.iter().filter(|r| r.status != 200) {
        let details = r.expect_error(409, "number_assigned");
        assert_eq!(
            details["assignment"]["id"], winner,
            "the conflict names the holder: {details}"
        );
    }
    assert_eq!(
        history(&app, &admin, "+442071239001").await,
        ["number.assign", "number.create"],
        "one assign record, no reassigns"
    );
}

#[actix_web::test]
async fn a_held_number_moves_only_with_reassign_and_assigning_its_holder_again_records_nothing() {
    let app = TestApp::new().await;
    let operator = app.user(Role::Operator).await;
    let admin = app.user(Role::Admin).await;
    app.number(&admin, json!({"number": "+442071239002"})).await;
    let first = app.service(&admin, "Reception").await;
    let second = app.service(&admin, "Sales line").await;
    let path = format!("/api/v1/numbers/{}/assign", enc("+442071239002"));
    app.post(&path)
        .as_(&operator)
        .json(assign_body(&first, false))
        .send()
        .await
        .expect(200);
    // The same holder again: 200, the number as it is, no new record.
    let again = app
        .post(&path)
        .as_(&operator)
        .json(assign_body(&first, false))
        .send()
        .await
        .expect(200);
    assert_eq!(again["version"], 2, "{again}");
    let refused = app
        .post(&path)
        .as_(&operator)
        .json(assign_body(&second, false))
        .send()
        .await;
    let details = refused.expect_error(409, "number_assigned");
    assert_eq!(details["assignment"]["name"], "Reception");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reassign: true"),
        "the refusal says how to move it: {}",
        refused.json()
    );
    let moved = app
        .post(&path)
        .as_(&operator)
        .json(assign_body(&second, true))
        .send()
        .await
        .expect(200);
    assert_eq!(moved["assignment"]["target"]["name"], "Sales line");
    assert_eq!(
        history(&app, &admin, "+442071239002").await,
        ["number.reassign", "number.assign", "number.create"]
    );
    // `reassign: true` on a free number is a plain assign.
    app.number(&admin, json!({"number": "+442071239003"})).await;
    app.post(&format!("/api/v1/numbers/{}/assign", enc("+442071239003")))
        .as_(&operator)
        .json(assign_body(&first, true))
        .send()
        .await
        .expect(200);
    assert_eq!(
        history(&app, &admin, "+442071239003").await,
        ["number.assign", "number.create"]
    );
}
