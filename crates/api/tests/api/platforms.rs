//! Platforms over HTTP (issue 11): the SPEC §6 shape, write-only secrets, ETags, roles.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, User};

const TENANT: &str = "0f5e3c2a-1b4d-4e6f-8a9b-0c1d2e3f4a5b";
const CLIENT: &str = "7a8b9c0d-1e2f-4a3b-9c5d-6e7f8a9b0c1d";
const CLIENT_SECRET: &str = "api~client~secret~V7xq";
const SIGNING_SECRET: &str = "api-webhook-signing-secret-42";

fn teams(name: &str) -> Value {
    json!({
        "name": name,
        "kind": "teams",
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": CLIENT_SECRET,
        "sync_interval_seconds": 30
    })
}

fn webhook(name: &str) -> Value {
    json!({
        "name": name,
        "kind": "webhook",
        "url": "https://hooks.example.com/in",
        "signing_secret": SIGNING_SECRET
    })
}

async fn create(app: &TestApp, by: &User, body: Value) -> Value {
    app.post("/api/v1/platforms")
        .as_(by)
        .json(body)
        .send()
        .await
        .expect(201)
}

#[track_caller]
fn no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(CLIENT_SECRET) && !text.contains(SIGNING_SECRET),
        "{what} shows a secret: {text}"
    );
}

#[actix_web::test]
async fn platforms_of_each_kind_are_created_read_and_listed_without_their_secrets() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let viewer = app.user(Role::Viewer).await;
    let r = app
        .post("/api/v1/platforms")
        .as_(&owner)
        .json(teams("Contoso"))
        .send()
        .await;
    let t = r.expect(201);
    no_secret("create", &r.text());
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(t["kind"], "teams");
    assert_eq!(t["tenant_id"], TENANT);
    assert_eq!(t["has_client_secret"], true);
    assert_eq!(t["has_signing_secret"], false);
    assert_eq!(t["sync_interval_seconds"], 30);
    assert!(t["sync"].is_null());
    assert!(t.get("client_secret").is_none());
    let w = create(&app, &owner, webhook("Hooks")).await;
    assert_eq!(w["url"], "https://hooks.example.com/in");
    assert_eq!(w["has_signing_secret"], true);
    let n = create(&app, &owner, json!({"name": "Paper", "kind": "none"})).await;
    assert_eq!(n["kind"], "none");

    let id = t["id"].as_str().unwrap();
    let got = app
        .get(&format!("/api/v1/platforms/{id}"))
        .as_(&viewer)
        .send()
        .await;
    no_secret("get", &got.text());
    assert_eq!(got.expect(200)["name"], "Contoso");
    let list = app.get("/api/v1/platforms").as_(&viewer).send().await;
    no_secret("list", &list.text());
    let items = list.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    let webhooks = app
        .get("/api/v1/platforms?kind=webhook")
        .as_(&viewer)
        .send()
        .await
        .expect(200);
    assert_eq!(webhooks["items"].as_array().unwrap().len(), 1);
    let page = app
        .get("/api/v1/platforms?limit=2")
        .as_(&viewer)
        .send()
        .await
        .expect(200);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let rest = app
        .get(&format!("/api/v1/platforms?limit=2&cursor={cursor}"))
        .as_(&viewer)
        .send()
        .await
        .expect(200);
    assert_eq!(rest["items"][0]["name"], "Paper");

    // The audit trail shows that secrets were set, never what they are.
    let audit = app
        .get("/api/v1/audit?entity=platform")
        .as_(&owner)
        .send()
        .await;
    no_secret("audit", &audit.text());
    assert!(audit.text().contains("platform.create"), "{}", audit.text());
    let csv = app.get("/api/v1/export/audit.csv").as_(&owner).send().await;
    no_secret("audit csv", &csv.text());
}

/// The store's tests check the sealed column itself; here, that what the API stored is
/// what the worker gets back under the server's key.
#[actix_web::test]
async fn the_worker_opens_the_secret_the_api_sealed() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let t = create(&app, &owner, teams("Contoso")).await;
    let id: i64 = t["id"].as_str().unwrap().parse().unwrap();
    // The worker gets it back with the server's key.
    let key = store::secrets::SecretKey::insecure_default();
    let creds = app
        .tdb
        .db
        .write(|c| {
            let s = store::settings::sealer(c, &key)?;
            store::platforms::credentials(c, &s, id)
        })
        .unwrap();
    match creds {
        store::platforms::Credentials::Teams { client_secret, .. } => {
            assert_eq!(client_secret, CLIENT_SECRET)
        }
        other => panic!("{other:?}"),
    }
}

#[actix_web::test]
async fn bad_fields_are_a_400_naming_them() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let mut no_tenant = teams("x");
    no_tenant.as_object_mut().unwrap().remove("tenant_id");
    let mut both = teams("x");
    both["client_secret_env"] = json!("TEAMS_SECRET");
    let mut plain_http = teams("x");
    plain_http["login_base_url"] = json!("http://login.example.com");
    let mut foreign = webhook("x");
    foreign["client_id"] = json!(CLIENT);
    let cases = [
        (json!({"name": "", "kind": "none"}), "invalid_name", "name"),
        (json!({"name": "x", "kind": "fax"}), "invalid_field", "kind"),
        (no_tenant, "invalid_field", "tenant_id"),
        (both, "invalid_field", "client_secret"),
        (plain_http, "invalid_field", "login_base_url"),
        (foreign, "invalid_field", "client_id"),
        (
            json!({"name": "x", "kind": "webhook", "url": "https://h.example.com", "signing_secret": "short"}),
            "invalid_field",
            "signing_secret",
        ),
    ];
    for (body, code, field) in cases {
        let r = app
            .post("/api/v1/platforms")
            .as_(&owner)
            .json(body)
            .send()
            .await;
        r.expect_invalid(code, field);
        no_secret("an error", &r.text());
    }
    // Unknown fields are refused too (nothing sent is ignored).
    app.post("/api/v1/platforms")
        .as_(&owner)
        .json(json!({"name": "x", "kind": "none", "secret": "y"}))
        .send()
        .await
        .expect(400);
    let list = app
        .get("/api/v1/platforms")
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(list["items"], json!([]));
    create(&app, &owner, json!({"name": "Paper", "kind": "none"})).await;
    app.post("/api/v1/platforms")
        .as_(&owner)
        .json(json!({"name": "PAPER", "kind": "none"}))
        .send()
        .await
        .expect_error(409, "platform_exists");
}

#[actix_web::test]
async fn a_stale_if_match_is_412_and_the_etag_follows_each_change() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let t = create(&app, &owner, teams("Contoso")).await;
    let path = format!("/api/v1/platforms/{}", t["id"].as_str().unwrap());
    let ok = app
        .patch(&path)
        .as_(&owner)
        .header("if-match", "\"1\"")
        .json(json!({"name": "Contoso EU", "graph_base_url": "https://graph.example.com/v1.0/"}))
        .send()
        .await;
    let body = ok.expect(200);
    assert_eq!(ok.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(body["graph_base_url"], "https://graph.example.com/v1.0");
    app.patch(&path)
        .as_(&owner)
        .header("if-match", "\"1\"")
        .json(json!({"name": "Late"}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    let reset = app
        .patch(&path)
        .as_(&owner)
        .json(json!({"graph_base_url": null, "sync_interval_seconds": null}))
        .send()
        .await
        .expect(200);
    assert!(reset["graph_base_url"].is_null() && reset["sync_interval_seconds"].is_null());
    app.patch(&path)
        .as_(&owner)
        .json(json!({"kind": "webhook"}))
        .send()
        .await
        .expect_invalid("invalid_field", "kind");
    // A field that cannot be cleared refuses null rather than reading it as "keep".
    for field in ["name", "tenant_id", "client_secret", "url"] {
        app.patch(&path)
            .as_(&owner)
            .json(json!({ field: null }))
            .send()
            .await
            .expect_invalid("invalid_json", field);
    }
}

#[actix_web::test]
async fn writes_need_an_unscoped_admin_and_secrets_need_the_owner() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.user(Role::Admin).await;
    let operator = app.user(Role::Operator).await;
    let viewer = app.user(Role::Viewer).await;
    let site = app.location(&owner, "Here", "GB").await;
    let scoped = app.scoped_user(Role::Admin, &[&site], &[]).await;
    let t = create(&app, &owner, teams("Contoso")).await;
    let path = format!("/api/v1/platforms/{}", t["id"].as_str().unwrap());
    for u in [&viewer, &operator] {
        app.post("/api/v1/platforms")
            .as_(u)
            .json(json!({"name": "x", "kind": "none"}))
            .send()
            .await
            .expect_error(403, "forbidden");
        app.patch(&path)
            .as_(u)
            .json(json!({"name": "x"}))
            .send()
            .await
            .expect_error(403, "forbidden");
        app.post(&format!("{path}/sync"))
            .as_(u)
            .send()
            .await
            .expect_error(403, "forbidden");
        app.delete(&path)
            .as_(u)
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    app.post("/api/v1/platforms")
        .as_(&scoped)
        .json(json!({"name": "x", "kind": "none"}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    app.patch(&path)
        .as_(&scoped)
        .json(json!({"name": "x"}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    app.post(&format!("{path}/sync"))
        .as_(&scoped)
        .send()
        .await
        .expect_error(403, "out_of_scope");
    // A scoped admin still reads platforms.
    app.get(&path).as_(&scoped).send().await.expect(200);
    // An admin may not set a secret, nor where one is sent.
    app.post("/api/v1/platforms")
        .as_(&admin)
        .json(webhook("Hooks"))
        .send()
        .await
        .expect_error(403, "forbidden");
    for body in [
        json!({"client_secret": "other"}),
        json!({"client_secret_env": "TEAMS_SECRET"}),
        json!({"login_base_url": "https://login.evil.example.com"}),
        // Review finding: whose tenant the worker acts on is the owner's to say.
        json!({"tenant_id": "attacker.onmicrosoft.com"}),
        json!({"client_id": "11111111-2222-4333-8444-555555555555"}),
    ] {
        app.patch(&path)
            .as_(&admin)
            .json(body)
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    let renamed = app
        .patch(&path)
        .as_(&admin)
        .json(json!({"name": "Contoso Teams", "sync_interval_seconds": 600}))
        .send()
        .await
        .expect(200);
    assert_eq!(renamed["name"], "Contoso Teams");
    let env = app
        .patch(&path)
        .as_(&owner)
        .json(json!({"client_secret_env": "TEAMS_SECRET"}))
        .send()
        .await
        .expect(200);
    assert_eq!(env["client_secret_env"], "TEAMS_SECRET");
    assert_eq!(env["has_client_secret"], false);
    create(&app, &admin, json!({"name": "Paper", "kind": "none"})).await;
}

#[actix_web::test]
async fn a_platform_numbers_use_is_not_deleted() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let t = create(&app, &owner, teams("Contoso")).await;
    let id = t["id"].as_str().unwrap();
    app.number(
        &owner,
        json!({"number": "+442071234567", "platform_id": id}),
    )
    .await;
    let details = app
        .delete(&format!("/api/v1/platforms/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect_error(409, "platform_in_use");
    assert_eq!(details["numbers"], 1);
    let w = create(&app, &owner, webhook("Hooks")).await;
    let wpath = format!("/api/v1/platforms/{}", w["id"].as_str().unwrap());
    app.delete(&wpath)
        .as_(&owner)
        .header("if-match", "\"9\"")
        .send()
        .await
        .expect_error(412, "precondition_failed");
    app.delete(&wpath).as_(&owner).send().await.expect(204);
    app.get(&wpath).as_(&owner).send().await.expect(404);
}

#[actix_web::test]
async fn a_sync_request_answers_202_for_teams_and_409_for_a_webhook() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.user(Role::Admin).await;
    let t = create(&app, &owner, teams("Contoso")).await;
    let r = app
        .post(&format!(
            "/api/v1/platforms/{}/sync",
            t["id"].as_str().unwrap()
        ))
        .as_(&admin)
        .send()
        .await;
    let body = r.expect(202);
    assert!(body["sync"]["requested_at"].is_string(), "{body}");
    assert_eq!(body["sync"]["users_changed"], 0);
    no_secret("sync", &r.text());
    let w = create(&app, &owner, webhook("Hooks")).await;
    app.post(&format!(
        "/api/v1/platforms/{}/sync",
        w["id"].as_str().unwrap()
    ))
    .as_(&admin)
    .send()
    .await
    .expect_error(409, "not_syncable");
    app.post("/api/v1/platforms/999/sync")
        .as_(&admin)
        .send()
        .await
        .expect(404);
}

/// Review finding: an admin could PATCH a webhook's `url` and have the worker POST
/// signed events (who holds which number, by whom) to any https host or to a port on the
/// worker's own loopback; where events go is the owner's to say, like the base URLs.
#[actix_web::test]
async fn an_admin_cannot_redirect_a_webhook() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.user(Role::Admin).await;
    let hook = create(&app, &owner, webhook("Hooks")).await;
    let path = format!("/api/v1/platforms/{}", hook["id"].as_str().unwrap());
    for url in [
        "https://collector.attacker.example/in",
        "http://127.0.0.1:2375/containers/create",
    ] {
        app.patch(&path)
            .as_(&admin)
            .json(json!({"url": url}))
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    // Sending back the URL it has is not a change.
    app.patch(&path)
        .as_(&admin)
        .json(json!({"name": "Hooks 2", "url": "https://hooks.example.com/in"}))
        .send()
        .await
        .expect(200);
    let after = app.get(&path).as_(&owner).send().await.expect(200);
    assert_eq!(after["url"], "https://hooks.example.com/in");
}
