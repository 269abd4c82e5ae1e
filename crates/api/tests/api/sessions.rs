//! Credentials that die when they should: login tokens end when the account's password,
//! role or scope changes; open event streams end with their credential; the signing key
//! follows `TELESTATE_SECRET_KEY`; edits of accounts are versioned.

use std::{pin::Pin, sync::Arc, time::Duration};

use actix_web::{
    body::{BoxBody, MessageBody},
    dev::ServiceResponse,
    test::{self, TestRequest},
    web,
};
use domain::Role;
use serde_json::json;
use store::Db;

use crate::common::TestApp;

/// How long an open stream is given to end after its credential did.
const DEADLINE: Duration = Duration::from_secs(10);

/// Another instance over the same database, with this secret key.
fn instance(db: Db, secret: store::secrets::SecretKey) -> web::Data<api::AppState> {
    let config = api::ApiConfig {
        secret_key: secret,
        ..api::ApiConfig::default()
    };
    web::Data::new(api::AppState::new(db, config).expect("state"))
}

fn me(token: &str) -> TestRequest {
    TestRequest::get()
        .uri("/api/v1/me")
        .insert_header(("authorization", format!("Bearer {token}")))
}

/// An open `text/event-stream` body.
struct Open(Pin<Box<BoxBody>>);

impl Open {
    fn of<B: MessageBody + 'static>(res: ServiceResponse<B>) -> Open {
        assert_eq!(res.status(), 200, "GET /api/v1/events");
        Open(Box::pin(res.map_into_boxed_body().into_body()))
    }

    /// Reads until `text` has arrived; panics after the deadline or at the end.
    async fn read_until(&mut self, text: &str) {
        let mut seen = String::new();
        let read = async {
            while !seen.contains(text) {
                let chunk = std::future::poll_fn(|cx| self.0.as_mut().poll_next(cx))
                    .await
                    .expect("the stream is open")
                    .expect("the stream reads");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .unwrap_or_else(|_| panic!("{text:?} did not arrive within {DEADLINE:?}"));
    }

    /// Reads until the stream ends; returns what came before the end.
    async fn end(&mut self) -> String {
        let mut seen = String::new();
        let read = async {
            while let Some(chunk) = std::future::poll_fn(|cx| self.0.as_mut().poll_next(cx)).await {
                seen.push_str(&String::from_utf8_lossy(&chunk.expect("the stream reads")));
            }
        };
        tokio::time::timeout(DEADLINE, read)
            .await
            .unwrap_or_else(|_| panic!("the stream did not end within {DEADLINE:?}"));
        seen
    }
}

fn events(token: &str) -> TestRequest {
    TestRequest::get()
        .uri("/api/v1/events")
        .insert_header(("authorization", format!("Bearer {token}")))
}

#[actix_web::test]
async fn a_login_token_stops_working_once_the_password_changes() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let op = app.user(Role::Operator).await;
    app.get("/api/v1/me").as_(&op).send().await.expect(200);
    app.patch(&format!("/api/v1/admins/{}", op.id))
        .as_(&owner)
        .json(json!({"password": "a brand new password"}))
        .send()
        .await
        .expect(200);
    app.get("/api/v1/me")
        .as_(&op)
        .send()
        .await
        .expect_error(401, "unauthenticated");
    let fresh = app
        .login(&op.username, "a brand new password")
        .await
        .expect(200);
    app.get("/api/v1/me")
        .bearer(fresh["access_token"].as_str().unwrap())
        .send()
        .await
        .expect(200);
}

#[actix_web::test]
async fn changing_your_own_password_ends_your_other_sessions_too() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let second = app
        .login(&owner.username, crate::common::PASSWORD)
        .await
        .expect(200);
    let second = second["access_token"].as_str().unwrap().to_string();
    app.patch(&format!("/api/v1/admins/{}", owner.id))
        .as_(&owner)
        .json(json!({"password": "owner's new password"}))
        .send()
        .await
        .expect(200);
    app.get("/api/v1/me")
        .bearer(&second)
        .send()
        .await
        .expect_error(401, "unauthenticated");
}

#[actix_web::test]
async fn an_open_stream_of_a_revoked_api_token_ends() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let created = app
        .post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "listener", "role": "viewer"}))
        .send()
        .await
        .expect(201);
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    // The stream is served by another instance, as in a deployment of several.
    let other = Db::connect(&app.tdb.url, 2).expect("second pool");
    let svc = test::init_service(api::app(
        instance(other, store::secrets::SecretKey::insecure_default()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut stream = Open::of(test::call_service(&svc, events(&secret).to_request()).await);
    stream.read_until("event: ready").await;
    app.delete(&format!("/api/v1/api-tokens/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(204);
    let rest = stream.end().await;
    assert!(!rest.contains("api_token.revoke"), "{rest}");
}

#[actix_web::test]
async fn an_open_stream_ends_when_its_account_is_demoted() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.user(Role::Admin).await;
    let other = Db::connect(&app.tdb.url, 2).expect("second pool");
    let svc = test::init_service(api::app(
        instance(other, store::secrets::SecretKey::insecure_default()),
        Arc::new(api::openapi()),
    ))
    .await;
    let mut stream = Open::of(test::call_service(&svc, events(&admin.token).to_request()).await);
    stream.read_until("event: ready").await;
    app.patch(&format!("/api/v1/admins/{}", admin.id))
        .as_(&owner)
        .json(json!({"role": "viewer"}))
        .send()
        .await
        .expect(200);
    stream.end().await;
    app.get("/api/v1/me")
        .as_(&admin)
        .send()
        .await
        .expect_error(401, "unauthenticated");
}

#[actix_web::test]
async fn the_signing_key_follows_the_secret_key() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let same = test::init_service(api::app(
        instance(
            app.tdb.db.clone(),
            store::secrets::SecretKey::insecure_default(),
        ),
        Arc::new(api::openapi()),
    ))
    .await;
    assert_eq!(
        test::call_service(&same, me(&owner.token).to_request())
            .await
            .status(),
        200
    );
    // Another secret (a rotation) signs with another key: earlier sessions end.
    let rotated = store::secrets::SecretKey::from_text(&"r".repeat(48)).expect("a key");
    let other = test::init_service(api::app(
        instance(app.tdb.db.clone(), rotated),
        Arc::new(api::openapi()),
    ))
    .await;
    assert_eq!(
        test::call_service(&other, me(&owner.token).to_request())
            .await
            .status(),
        401
    );
}

#[actix_web::test]
async fn account_edits_are_versioned_with_if_match() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let op = app.user(Role::Operator).await;
    let path = format!("/api/v1/admins/{}", op.id);
    let read = app.get(&path).as_(&owner).send().await;
    let etag = read.header("etag").expect("an ETag");
    read.expect(200);
    let edited = app
        .patch(&path)
        .as_(&owner)
        .header("if-match", &etag)
        .json(json!({"role": "viewer"}))
        .send()
        .await;
    let new_etag = edited.header("etag").expect("an ETag");
    assert_ne!(new_etag, etag);
    edited.expect(200);
    // A second edit made against the same read loses: 412, and nothing is overwritten.
    app.patch(&path)
        .as_(&owner)
        .header("if-match", &etag)
        .json(json!({"role": "admin"}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    let now = app.get(&path).as_(&owner).send().await.expect(200);
    assert_eq!(now["role"], "viewer");
}
