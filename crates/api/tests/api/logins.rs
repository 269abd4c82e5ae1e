//! Logging in under attack: a guess limit that holds under parallel requests, throttles
//! per client address and per server, bounded passwords, usernames that cannot be told
//! apart, owners who keep a way in, and an audit trail that does not grow per attempt.

use domain::Role;
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Resp, TestApp};

/// Throttles out of the way, so only the guess limit (5) answers.
fn unthrottled() -> api::ApiConfig {
    api::ApiConfig {
        login: api::throttle::LoginLimits {
            max_failures: 5,
            client_per_minute: 100_000,
            global_per_minute: 100_000,
            hash_concurrency: 64,
        },
        ..api::ApiConfig::default()
    }
}

fn throttled(client_per_minute: u32, global_per_minute: u32) -> api::ApiConfig {
    let mut config = unthrottled();
    config.login.client_per_minute = client_per_minute;
    config.login.global_per_minute = global_per_minute;
    config
}

async fn login_from(app: &TestApp, addr: &str, username: &str, password: &str) -> Resp {
    app.post("/api/v1/auth/login")
        .peer(addr)
        .json(json!({ "username": username, "password": password }))
        .send()
        .await
}

fn count(answers: &[Resp], status: u16) -> usize {
    answers
        .iter()
        .filter(|r| r.status.as_u16() == status)
        .count()
}

/// The `auth.login_failed` records, newest first.
async fn failed_records(app: &TestApp) -> Vec<Value> {
    let owner = app.user(Role::Owner).await;
    app.list_all(&owner, "/api/v1/audit?action=auth.login_failed", 100)
        .await
}

#[actix_web::test]
async fn sixty_parallel_wrong_passwords_get_five_checks_and_the_rest_429() {
    let app = TestApp::with_config(unthrottled()).await;
    app.create_account("dave", Role::Operator, &[], &[]);
    let guesses: Vec<String> = (0..60).map(|i| format!("wrong-{i}")).collect();
    let answers = join_all(
        guesses
            .iter()
            .map(|p| login_from(&app, "192.0.2.1:4000", "dave", p)),
    )
    .await;
    // Four wrong guesses are answered 401; the fifth locks (429) after its check; every
    // other request is refused without one.
    assert_eq!(count(&answers, 401), 4, "{answers:#?}");
    assert_eq!(count(&answers, 429), 56);
    for r in answers.iter().filter(|r| r.status.as_u16() == 429) {
        r.expect_error(429, "too_many_attempts");
        assert!(r.header("retry-after").is_some());
    }
    let failed = failed_records(&app).await;
    let locks: Vec<&Value> = failed
        .iter()
        .filter(|r| r["after"]["locked_until"].is_string())
        .collect();
    assert_eq!(locks.len(), 1, "{failed:#?}");
    assert_eq!(locks[0]["after"]["failed_logins"], 5);
}

#[actix_web::test]
async fn the_right_password_in_a_burst_of_wrong_ones_gets_in_only_within_the_limit() {
    let app = TestApp::with_config(unthrottled()).await;
    app.create_account("erin", Role::Viewer, &[], &[]);
    let addr = "192.0.2.2:4000";
    let mut passwords: Vec<String> = (0..39).map(|i| format!("wrong-{i}")).collect();
    passwords.insert(17, PASSWORD.to_string());
    let answers = join_all(passwords.iter().map(|p| login_from(&app, addr, "erin", p))).await;
    let right = &answers[17];
    let wrong_checked = answers
        .iter()
        .enumerate()
        .filter(|(i, r)| *i != 17 && r.status.as_u16() == 401)
        .count();
    let failed = failed_records(&app).await;
    let locks = failed
        .iter()
        .filter(|r| r["after"]["locked_until"].is_string())
        .count();
    assert!(locks <= 1, "{failed:#?}");
    match right.status.as_u16() {
        // It got in only as one of the first five guesses of its window.
        200 => {
            let owner = app.user(Role::Owner).await;
            let logins = app
                .list_all(&owner, "/api/v1/audit?action=auth.login", 100)
                .await;
            let erin: Vec<&Value> = logins
                .iter()
                .filter(|r| r["actor"]["name"] == "erin")
                .collect();
            assert_eq!(erin.len(), 1, "{logins:#?}");
            let before = erin[0]["after"]["failed_before"].as_i64().expect("a count");
            assert!(before < 5, "{before} failures were counted before it");
        }
        // The limit was reached first: exactly five passwords were checked, all wrong.
        429 => {
            right.expect_error(429, "too_many_attempts");
            assert_eq!(locks, 1, "{failed:#?}");
            assert_eq!(wrong_checked + locks, 5, "{answers:#?}");
        }
        other => panic!("the right password got {other}: {}", right.text()),
    }
    if locks == 1 {
        // A lock a wrong guess set stands, whatever the right one did meanwhile…
        login_from(&app, addr, "erin", PASSWORD)
            .await
            .expect_error(429, "too_many_attempts");
    }
    // …and never keeps the account's owner out from another address.
    login_from(&app, "198.51.100.9:4000", "erin", PASSWORD)
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_lock_holds_for_the_failing_address_only() {
    let app = TestApp::with_config(unthrottled()).await;
    app.create_account("owner2", Role::Owner, &[], &[]);
    for i in 0..4 {
        login_from(&app, "203.0.113.5:1000", "owner2", &format!("guess-{i}"))
            .await
            .expect_error(401, "invalid_credentials");
    }
    login_from(&app, "203.0.113.5:1000", "owner2", "guess-4")
        .await
        .expect_error(429, "too_many_attempts");
    login_from(&app, "203.0.113.5:1000", "owner2", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    login_from(&app, "192.0.2.77:1000", "owner2", PASSWORD)
        .await
        .expect(200);
}

#[actix_web::test]
async fn unknown_and_existing_usernames_are_answered_alike_through_the_lock() {
    let app = TestApp::with_config(unthrottled()).await;
    app.create_account("frank", Role::Viewer, &[], &[]);
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..7 {
        known.push(login_from(&app, "192.0.2.3:1", "frank", &format!("nope-{i}")).await);
        unknown.push(login_from(&app, "192.0.2.3:1", "nobody", &format!("nope-{i}")).await);
    }
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.status, u.status, "{k:?} / {u:?}");
        let (kb, ub) = (k.json(), u.json());
        assert_eq!(kb["error"]["code"], ub["error"]["code"]);
        assert_eq!(kb["error"]["message"], ub["error"]["message"]);
        let retry = |r: &Resp| r.header("retry-after").map(|v| v.parse::<i64>().unwrap());
        match (retry(k), retry(u)) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1, "{a} / {b}"),
            (a, b) => assert_eq!(a, b),
        }
    }
    let statuses: Vec<u16> = known.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429, 429]);
}

#[actix_web::test]
async fn failed_logins_are_aggregated_in_the_audit_trail() {
    let app = TestApp::with_config(unthrottled()).await;
    let id = app.create_account("gina", Role::Viewer, &[], &[]);
    for i in 0..30 {
        login_from(&app, "192.0.2.4:1", "gina", &format!("nope-{i}")).await;
    }
    for i in 0..30 {
        login_from(&app, "192.0.2.4:1", "ghost", &format!("nope-{i}")).await;
    }
    let failed = failed_records(&app).await;
    // Per username and address: the first failure and the lock, each with its count.
    assert_eq!(failed.len(), 4, "{failed:#?}");
    let gina: Vec<&Value> = failed
        .iter()
        .filter(|r| r["entity_id"] == id.as_str())
        .collect();
    assert_eq!(gina.len(), 2);
    assert_eq!(gina[0]["after"]["failed_logins"], 5);
    assert_eq!(gina[1]["after"]["failed_logins"], 1);
    assert_eq!(gina[0]["after"]["client"], "192.0.2.4");
    let owner = app.user(Role::Owner).await;
    let refused = app
        .list_all(&owner, "/api/v1/audit?action=auth.login_refused", 100)
        .await;
    assert!(refused.is_empty(), "{refused:#?}");
}

#[actix_web::test]
async fn an_overlong_password_is_refused_before_it_is_hashed() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let long = "p".repeat(1025);
    app.login("anyone", &long)
        .await
        .expect_invalid("too_long", "password");
    app.post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "hal", "password": long, "role": "viewer"}))
        .send()
        .await
        .expect_invalid("too_long", "password");
    app.patch(&format!("/api/v1/admins/{}", owner.id))
        .as_(&owner)
        .json(json!({ "password": long }))
        .send()
        .await
        .expect_invalid("too_long", "password");
    // 1,024 bytes is still a password.
    app.post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "hal", "password": "p".repeat(1024), "role": "viewer"}))
        .send()
        .await
        .expect(201);
}

#[actix_web::test]
async fn one_address_is_throttled_without_slowing_another() {
    let app = TestApp::with_config(throttled(3, 100_000)).await;
    app.create_account("ivan", Role::Viewer, &[], &[]);
    for i in 0..3 {
        login_from(&app, "192.0.2.5:1", &format!("user-{i}"), "whatever-1")
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = login_from(&app, "192.0.2.5:1", "ivan", PASSWORD).await;
    r.expect_error(429, "too_many_attempts");
    let retry: i64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=20).contains(&retry), "{retry}");
    login_from(&app, "192.0.2.6:1", "ivan", PASSWORD)
        .await
        .expect(200);
}

#[actix_web::test]
async fn the_server_wide_throttle_holds_across_addresses() {
    let app = TestApp::with_config(throttled(100_000, 3)).await;
    app.create_account("judy", Role::Viewer, &[], &[]);
    for i in 0..3 {
        login_from(&app, &format!("192.0.2.{}:1", 10 + i), "judy", "wrong-pass")
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = login_from(&app, "192.0.2.20:1", "judy", PASSWORD).await;
    r.expect_error(429, "too_many_attempts");
    assert!(r.header("retry-after").is_some());
}
