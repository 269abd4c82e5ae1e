//! Accounts, API tokens and logins: who the caller is, what it may do, and how it stops.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, User, enc};

#[actix_web::test]
async fn me_describes_the_account_its_role_and_scope() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let loc = app.location(&owner, "HQ", "GB").await;
    let op = app.scoped_user(Role::Operator, &[&loc], &["Sales"]).await;
    let me = app.get("/api/v1/me").as_(&op).send().await.expect(200);
    assert_eq!(
        me,
        json!({
            "kind": "admin",
            "id": op.id,
            "name": op.username,
            "role": "operator",
            "scope": {"locations": [loc], "tags": ["sales"]},
        })
    );
}

#[actix_web::test]
async fn login_answers_a_bearer_token_that_works() {
    let app = TestApp::new().await;
    app.create_account("Carol", Role::Viewer, &[], &[]);
    // Usernames are case-insensitive.
    let body = app.login("carol", PASSWORD).await.expect(200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me").bearer(token).send().await.expect(200);
    assert_eq!(me["name"], "Carol");
    // Wrong password and unknown user are the same refusal.
    let wrong = app.login("carol", "wrong-password").await;
    let unknown = app.login("nobody", "wrong-password").await;
    let a = wrong.expect_error(401, "invalid_credentials");
    let b = unknown.expect_error(401, "invalid_credentials");
    assert_eq!(a, b);
    assert_eq!(
        wrong.json()["error"]["message"],
        unknown.json()["error"]["message"]
    );
    app.post("/api/v1/auth/login")
        .json(json!({"username": "carol"}))
        .send()
        .await
        .expect_invalid("invalid_json", "password");
}

#[actix_web::test]
async fn five_wrong_passwords_lock_the_account_even_against_the_right_one() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let id = app.create_account("dave", Role::Operator, &[], &[]);
    for attempt in 1..=4 {
        let r = app.login("dave", &format!("wrong-{attempt}")).await;
        r.expect_error(401, "invalid_credentials");
    }
    let r = app.login("dave", "wrong-5").await;
    let details = r.expect_error(429, "too_many_attempts");
    let retry: i64 = r
        .header("retry-after")
        .expect("Retry-After on the 5th failure")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(details["retry_after_seconds"], retry);
    let r = app.login("dave", PASSWORD).await;
    r.expect_error(429, "too_many_attempts");
    assert!(r.header("retry-after").is_some());
    // The failures are on the record, against the account, aggregated: the first one
    // and the lock, each with the count.
    let failed = app
        .list_all(&owner, "/api/v1/audit?action=auth.login_failed", 50)
        .await;
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for f in &failed {
        assert_eq!(f["entity"], "auth");
        assert_eq!(f["entity_id"], id.as_str());
        assert_eq!(f["actor"]["name"], "dave");
        assert!(f["request_id"].is_string());
    }
    assert_eq!(failed[0]["after"]["failed_logins"], 5);
    assert_eq!(failed[1]["after"]["failed_logins"], 1);
    // Refused attempts write nothing: a locked account cannot grow the trail.
    let refused = app
        .list_all(&owner, "/api/v1/audit?action=auth.login_refused", 50)
        .await;
    assert!(refused.is_empty(), "{refused:#?}");
    let account = app
        .get(&format!("/api/v1/admins/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert!(account["locked_until"].is_string(), "{account}");
    // An owner resetting the password lifts the lock.
    app.patch(&format!("/api/v1/admins/{id}"))
        .as_(&owner)
        .json(json!({"password": "a new password"}))
        .send()
        .await
        .expect(200);
    app.login("dave", "a new password").await.expect(200);
    app.login("dave", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
}

#[actix_web::test]
async fn a_successful_login_forgets_earlier_failures() {
    let app = TestApp::new().await;
    app.create_account("erin", Role::Viewer, &[], &[]);
    for _ in 0..4 {
        app.login("erin", "nope-nope")
            .await
            .expect_error(401, "invalid_credentials");
    }
    app.login("erin", PASSWORD).await.expect(200);
    for _ in 0..4 {
        app.login("erin", "nope-nope")
            .await
            .expect_error(401, "invalid_credentials");
    }
    app.login("erin", PASSWORD).await.expect(200);
}

#[actix_web::test]
async fn failed_logins_for_unknown_users_are_audited() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    app.login("mallory", "guess-guess")
        .await
        .expect_error(401, "invalid_credentials");
    let failed = app
        .list_all(&owner, "/api/v1/audit?action=auth.login_failed", 50)
        .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["actor"]["name"], "mallory");
    assert_eq!(failed[0]["after"]["reason"], "unknown_username");
}

async fn create_token(app: &TestApp, owner: &User, body: Value) -> Value {
    app.post("/api/v1/api-tokens")
        .as_(owner)
        .json(body)
        .send()
        .await
        .expect(201)
}

#[actix_web::test]
async fn an_api_token_acts_with_its_role_and_scope_until_revoked() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    app.number(
        &owner,
        json!({"number": "+442071240001", "location_id": here}),
    )
    .await;
    app.number(
        &owner,
        json!({"number": "+442071240002", "location_id": there}),
    )
    .await;
    let created = create_token(
        &app,
        &owner,
        json!({"name": "ITSM", "role": "operator", "scope": {"locations": [here]}}),
    )
    .await;
    let secret = created["token"].as_str().expect("the secret").to_string();
    assert!(secret.starts_with("tst_"), "{secret}");
    assert!(secret.len() > 40);
    assert_eq!(created["prefix"], &secret[..12]);
    assert_eq!(created["role"], "operator");
    assert_eq!(created["scope"], json!({"locations": [here], "tags": []}));
    assert_eq!(created["created_by"], owner.username.as_str());
    let id = created["id"].as_str().unwrap().to_string();

    let me = app
        .get("/api/v1/me")
        .bearer(&secret)
        .send()
        .await
        .expect(200);
    assert_eq!(me["kind"], "token");
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["name"], "ITSM");
    assert_eq!(me["role"], "operator");
    let mine = format!("/api/v1/numbers/{}", enc("+442071240001"));
    let theirs = format!("/api/v1/numbers/{}", enc("+442071240002"));
    app.get(&mine).bearer(&secret).send().await.expect(200);
    app.get(&theirs)
        .bearer(&secret)
        .send()
        .await
        .expect_error(404, "not_found");
    let r = app
        .patch(&mine)
        .bearer(&secret)
        .json(json!({"description": "by token"}))
        .send()
        .await;
    r.expect(200);
    app.post("/api/v1/numbers")
        .bearer(&secret)
        .json(json!({"number": "+442071240003", "location_id": here}))
        .send()
        .await
        .expect_error(403, "forbidden");
    // The change is recorded against the token.
    let rec = app
        .get("/api/v1/audit?action=number.update")
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(
        rec["items"][0]["actor"],
        json!({"kind": "token", "id": id, "name": "ITSM"})
    );
    assert_eq!(rec["items"][0]["request_id"], r.request_id().as_str());

    // Listing never shows a secret, and marks use.
    let list = app
        .get("/api/v1/api-tokens")
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert!(!list.to_string().contains(&secret[12..]), "{list}");
    assert!(list["items"][0].get("token").is_none(), "{list}");
    assert!(list["items"][0]["last_used_at"].is_string(), "{list}");

    app.delete(&format!("/api/v1/api-tokens/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(204);
    let r = app.get("/api/v1/me").bearer(&secret).send().await;
    r.expect_error(401, "unauthenticated");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    let list = app
        .get("/api/v1/api-tokens")
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert!(list["items"][0]["revoked_at"].is_string(), "{list}");
    // Revoking again changes nothing; an unknown token is not found.
    app.delete(&format!("/api/v1/api-tokens/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(204);
    app.delete("/api/v1/api-tokens/99999")
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn an_expired_token_stops_working_and_a_past_expiry_is_refused() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let r = app
        .post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}))
        .send()
        .await;
    r.expect_field("expires_at");
    let future = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let t = create_token(
        &app,
        &owner,
        json!({"name": "new", "role": "viewer", "expires_at": future}),
    )
    .await;
    assert!(t["expires_at"].is_string());
    app.get("/api/v1/me")
        .bearer(t["token"].as_str().unwrap())
        .send()
        .await
        .expect(200);
    app.post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "x", "role": "superuser"}))
        .send()
        .await
        .expect_invalid("invalid_field", "role");
}

#[actix_web::test]
async fn an_owner_token_can_govern_but_an_admin_token_cannot() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin_token =
        create_token(&app, &owner, json!({"name": "a", "role": "admin"})).await["token"]
            .as_str()
            .unwrap()
            .to_string();
    let owner_token =
        create_token(&app, &owner, json!({"name": "o", "role": "owner"})).await["token"]
            .as_str()
            .unwrap()
            .to_string();
    app.get("/api/v1/admins")
        .bearer(&admin_token)
        .send()
        .await
        .expect_error(403, "forbidden");
    app.post("/api/v1/locations")
        .bearer(&admin_token)
        .json(json!({"name": "By token", "country": "GB"}))
        .send()
        .await
        .expect(201);
    app.get("/api/v1/admins")
        .bearer(&owner_token)
        .send()
        .await
        .expect(200);
}

#[actix_web::test]
async fn owners_manage_accounts_and_changes_apply_to_existing_logins() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let loc = app.location(&owner, "HQ", "GB").await;
    let created = app
        .post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "Alice", "password": "password123", "role": "admin", "scope": {"locations": [loc]}}))
        .send()
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["username"], "Alice");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["scope"], json!({"locations": [loc], "tags": []}));
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    app.post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "ALICE", "password": "password123", "role": "viewer"}))
        .send()
        .await
        .expect_error(409, "username_taken");
    let r = app
        .post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "bob", "password": "short", "role": "viewer"}))
        .send()
        .await;
    r.expect_field("password");
    app.post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "bob", "password": "password123", "role": "god"}))
        .send()
        .await
        .expect_invalid("invalid_field", "role");

    let alice = User {
        id: id.clone(),
        username: "Alice".into(),
        token: app.login("alice", "password123").await.expect(200)["access_token"]
            .as_str()
            .unwrap()
            .to_string(),
    };
    app.number(
        &alice,
        json!({"number": "+442071241001", "location_id": loc}),
    )
    .await;
    // Demoted: the session ends at once, and a new one only reads.
    let patched = app
        .patch(&format!("/api/v1/admins/{id}"))
        .as_(&owner)
        .json(json!({"role": "viewer"}))
        .send()
        .await
        .expect(200);
    assert_eq!(patched["role"], "viewer");
    assert_eq!(patched["scope"]["locations"], json!([loc]));
    app.get("/api/v1/me")
        .as_(&alice)
        .send()
        .await
        .expect_error(401, "unauthenticated");
    let alice = User {
        token: app.login("alice", "password123").await.expect(200)["access_token"]
            .as_str()
            .unwrap()
            .to_string(),
        ..alice
    };
    app.post("/api/v1/numbers")
        .as_(&alice)
        .json(json!({"number": "+442071241002", "location_id": loc}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.get(&format!("/api/v1/numbers/{}", enc("+442071241001")))
        .as_(&alice)
        .send()
        .await
        .expect(200);
    let listed = app.list_all(&owner, "/api/v1/admins", 1).await;
    assert_eq!(listed.len(), 2);
    app.get(&format!("/api/v1/admins/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    // Deleted: the token stops working.
    app.delete(&format!("/api/v1/admins/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(204);
    app.get("/api/v1/me")
        .as_(&alice)
        .send()
        .await
        .expect_error(401, "unauthenticated");
    app.get(&format!("/api/v1/admins/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
    app.login("alice", "password123")
        .await
        .expect_error(401, "invalid_credentials");
}

#[actix_web::test]
async fn the_last_owner_cannot_be_demoted_or_deleted_and_nobody_deletes_themselves() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let me = format!("/api/v1/admins/{}", owner.id);
    app.patch(&me)
        .as_(&owner)
        .json(json!({"role": "admin"}))
        .send()
        .await
        .expect_error(409, "last_owner");
    app.delete(&me)
        .as_(&owner)
        .send()
        .await
        .expect_error(409, "cannot_delete_self");
    // An owner token is not the account, so it meets the last-owner rule instead.
    let token = create_token(&app, &owner, json!({"name": "o", "role": "owner"})).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete(&me)
        .bearer(&token)
        .send()
        .await
        .expect_error(409, "last_owner");
    app.patch(&me)
        .bearer(&token)
        .json(json!({"role": "viewer"}))
        .send()
        .await
        .expect_error(409, "last_owner");
    let still = app.get(&me).as_(&owner).send().await.expect(200);
    assert_eq!(still["role"], "owner");
    // With a second owner, either may go, but still not by its own hand.
    let second = app.user(Role::Owner).await;
    app.delete(&format!("/api/v1/admins/{}", second.id))
        .as_(&second)
        .send()
        .await
        .expect_error(409, "cannot_delete_self");
    app.patch(&me)
        .as_(&second)
        .json(json!({"role": "admin"}))
        .send()
        .await
        .expect(200);
    // The first is an admin now (its session ended with the demotion), and the second is
    // the last owner.
    app.get("/api/v1/admins")
        .as_(&owner)
        .send()
        .await
        .expect_error(401, "unauthenticated");
    let demoted = app
        .login(&owner.username, crate::common::PASSWORD)
        .await
        .expect(200);
    app.get("/api/v1/admins")
        .bearer(demoted["access_token"].as_str().unwrap())
        .send()
        .await
        .expect_error(403, "forbidden");
    app.patch(&format!("/api/v1/admins/{}", second.id))
        .bearer(&token)
        .json(json!({"role": "admin"}))
        .send()
        .await
        .expect_error(409, "last_owner");
    app.delete(&me).as_(&second).send().await.expect(204);
}
