//! `Idempotency-Key`: requests racing with one key and one body all get the one stored
//! answer, and the action runs once.

use domain::Role;
use serde_json::json;

use crate::common::{TestApp, enc};

#[actix_web::test]
async fn parallel_requests_sharing_a_key_all_get_the_one_stored_answer() {
    let app = TestApp::new().await;
    let operator = app.user(Role::Operator).await;
    let owner = app.user(Role::Owner).await;
    for round in 0..12 {
        let number = format!("+4420712350{round:02}");
        app.number(&owner, json!({"number": number})).await;
        let path = format!("/api/v1/numbers/{}/reserve", enc(&number));
        let key = format!("reserve-{round}");
        let mark = app.audit_mark(&owner).await;
        let answers = futures_util::future::join_all((0..40).map(|_| {
            app.post(&path)
                .as_(&operator)
                .header("idempotency-key", &key)
                .json(json!({"reason": "VIP"}))
                .send()
        }))
        .await;
        let first = &answers[0];
        assert_eq!(first.status, 200, "round {round}: {}", first.text());
        for a in &answers {
            assert_eq!(
                (a.status, &a.body),
                (first.status, &first.body),
                "round {round}: every answer is the stored one"
            );
        }
        let replayed = answers
            .iter()
            .filter(|a| a.header("idempotent-replayed").as_deref() == Some("true"))
            .count();
        assert_eq!(replayed, 39, "round {round}: one ran, the rest replayed");
        let records = app.audit_since(&owner, mark).await;
        let reserves: Vec<_> = records
            .iter()
            .filter(|r| r["action"] == "number.reserve")
            .collect();
        assert_eq!(reserves.len(), 1, "round {round}: {records:#?}");
    }
}

#[actix_web::test]
async fn a_failed_action_frees_its_key_and_an_answered_key_refuses_another_body() {
    let app = TestApp::new().await;
    let operator = app.user(Role::Operator).await;
    let owner = app.user(Role::Owner).await;
    app.number(&owner, json!({"number": "+442071235101"})).await;
    let path = format!("/api/v1/numbers/{}/reserve", enc("+442071235101"));
    // A failed action stores nothing: a retry with the key runs again.
    app.post(&path)
        .as_(&operator)
        .header("idempotency-key", "k1")
        .header("if-match", "\"7\"")
        .json(json!({"reason": "VIP"}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    app.post(&path)
        .as_(&operator)
        .header("idempotency-key", "k1")
        .json(json!({"reason": "VIP"}))
        .send()
        .await
        .expect(200);
    // The key answered; another body under it is refused.
    app.post(&path)
        .as_(&operator)
        .header("idempotency-key", "k1")
        .json(json!({"reason": "other"}))
        .send()
        .await
        .expect_error(409, "idempotency_key_reused");
}
