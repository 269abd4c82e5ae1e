//! Hardening: security headers, what a client may put into request ids, sources and
//! usernames, and a database that stays readable while a long write runs.

use std::{
    sync::{Arc, Barrier},
    thread,
    time::Duration,
};

use actix_web::{test, web};
use domain::Role;
use serde_json::json;

use crate::common::{TestApp, enc};

fn assert_secure(resp: &crate::common::Resp, policy: &str) {
    assert_eq!(
        resp.header("x-content-type-options").as_deref(),
        Some("nosniff"),
        "{}",
        resp.what
    );
    assert_eq!(
        resp.header("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{}",
        resp.what
    );
    assert_eq!(
        resp.header("x-frame-options").as_deref(),
        Some("DENY"),
        "{}",
        resp.what
    );
    assert_eq!(
        resp.header("content-security-policy").as_deref(),
        Some(policy),
        "{}",
        resp.what
    );
    assert!(policy.contains("frame-ancestors 'none'"));
}

#[actix_web::test]
async fn every_response_carries_the_security_headers_errors_included() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let responses = [
        app.get("/healthz").send().await,
        app.get("/readyz").send().await,
        app.get("/metrics").send().await,
        app.get("/api/v1/openapi.json").send().await,
        app.get("/api/v1/me").as_(&owner).send().await,
        app.get("/api/v1/me").send().await,
        app.get("/api/v1/nowhere").send().await,
        app.get("/api/v1/numbers?limit=0").as_(&owner).send().await,
        app.get("/api/v1/locations/%00").as_(&owner).send().await,
        app.post("/api/v1/numbers")
            .as_(&owner)
            .payload("{not json")
            .header("content-type", "application/json")
            .send()
            .await,
        app.get("/api/v1/export/numbers.csv")
            .as_(&owner)
            .send()
            .await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 401, 404, 400, 400, 400, 200]
    );
    for resp in &responses {
        assert_secure(resp, api::headers::API_POLICY);
    }
    assert!(api::headers::API_POLICY.starts_with("default-src 'none'"));
}

#[actix_web::test]
async fn the_docs_page_gets_a_policy_under_which_its_own_files_load() {
    let app = TestApp::new().await;
    let page = app.get("/api/docs/").send().await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_secure(&page, api::headers::DOCS_POLICY);
    // The policy allows scripts and styles from this origin only: so the page itself must
    // hold no inline script or style, and load nothing from elsewhere.
    let html = page.text().to_lowercase();
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty(), "{html}");
    for script in scripts {
        let tag = &script[..script.find('>').unwrap()];
        assert!(
            tag.contains("src=\"./"),
            "an inline or foreign script: {tag}"
        );
        let body = &script[script.find('>').unwrap() + 1..script.find("</script>").unwrap()];
        assert!(body.trim().is_empty(), "an inline script: {body}");
    }
    assert!(!html.contains("<style"), "an inline stylesheet");
    assert!(!html.contains(" style="), "an inline style attribute");
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"));
    // The files it loads are served here, under the same policy.
    for file in [
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
        "swagger-ui.css",
        "index.css",
    ] {
        let resp = app.get(&format!("/api/docs/{file}")).send().await;
        assert_eq!(resp.status, 200, "{file}");
        assert_secure(&resp, api::headers::DOCS_POLICY);
    }
    let init = app.get("/api/docs/swagger-initializer.js").send().await;
    assert!(
        init.text().contains("/api/v1/openapi.json"),
        "{}",
        init.text()
    );
}

#[actix_web::test]
async fn usernames_with_invisible_or_text_direction_characters_are_refused_naming_username() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    for username in [
        "admin\u{202E}nimda",
        "ad\u{200B}min",
        "\u{2066}admin\u{2069}",
        "admin\u{2067}",
        "ad\u{200D}min",
        "ad\u{FEFF}min",
        "ad\u{00A0}min",
        "ad\u{0007}min",
        "ad\u{E0041}min",
    ] {
        let resp = app
            .post("/api/v1/admins")
            .as_(&owner)
            .json(json!({"username": username, "password": "password123", "role": "viewer"}))
            .send()
            .await;
        resp.expect_invalid("invalid_username", "username");
    }
    let created = app
        .post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": " Zoë Müller ", "password": "password123", "role": "viewer"}))
        .send()
        .await
        .expect(201);
    assert_eq!(created["username"], "Zoë Müller");
}

#[actix_web::test]
async fn a_client_request_id_is_kept_only_when_short_and_plain() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let longest = "a".repeat(64);
    for kept in ["itsm.change-42_b", longest.as_str(), "0"] {
        let resp = app
            .get("/api/v1/me")
            .as_(&owner)
            .header("x-request-id", kept)
            .send()
            .await;
        resp.expect(200);
        assert_eq!(resp.request_id(), kept);
    }
    let too_long = "a".repeat(65);
    for replaced in [
        too_long.as_str(),
        "two words",
        "a/b",
        "a:b",
        "\"quoted\"",
        "tab\there",
        "",
    ] {
        let resp = app
            .get("/api/v1/me")
            .as_(&owner)
            .header("x-request-id", replaced)
            .send()
            .await;
        resp.expect(200);
        let id = resp.request_id();
        assert_ne!(id, replaced);
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{replaced:?} became {id:?}"
        );
    }
}

#[actix_web::test]
async fn clients_cannot_claim_the_sources_telestate_sets_itself() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let token = app
        .post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "ITSM", "role": "admin"}))
        .send()
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let cases = [
        // (bearer, claimed source, recorded source)
        (owner.token.as_str(), "ui", "ui"),
        (owner.token.as_str(), "UI", "ui"),
        (owner.token.as_str(), "import", "api"),
        (owner.token.as_str(), "sync", "api"),
        (owner.token.as_str(), "scheduler", "api"),
        (owner.token.as_str(), "rule", "api"),
        (owner.token.as_str(), "cli", "api"),
        (token.as_str(), "ui", "api"),
        (token.as_str(), "import", "api"),
    ];
    for (i, (bearer, claimed, recorded)) in cases.into_iter().enumerate() {
        let number = format!("+4420712340{i:02}");
        app.post("/api/v1/numbers")
            .bearer(bearer)
            .header("x-telestate-source", claimed)
            .json(json!({ "number": number }))
            .send()
            .await
            .expect(201);
        let rec = app
            .get(&format!("/api/v1/audit?number={}", enc(&number)))
            .as_(&owner)
            .send()
            .await
            .expect(200);
        assert_eq!(
            rec["items"][0]["source"], recorded,
            "case {i}: {claimed} claimed"
        );
    }
}

/// Holds a write transaction open on another thread until the returned barrier is passed.
fn hold_a_write(db: &store::Db) -> (Arc<Barrier>, thread::JoinHandle<store::StoreResult<()>>) {
    let started = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let handle = {
        let (db, started, release) = (db.clone(), started.clone(), release.clone());
        thread::spawn(move || {
            db.write(|c| {
                store::admins::count(c)?;
                started.wait();
                release.wait();
                Ok(())
            })
        })
    };
    started.wait();
    (release, handle)
}

#[actix_web::test]
async fn reads_and_readyz_answer_while_a_long_write_runs_and_writers_queue_behind_it() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let db = app.tdb.db.clone();
    let (release, long) = hold_a_write(&db);
    // Twice as many writers as the test pool has connections queue behind it.
    let queued: Vec<_> = (0..16)
        .map(|i| {
            let db = db.clone();
            thread::spawn(move || {
                let site = store::locations::LocationInput {
                    name: format!("Site {i}"),
                    country: "GB".into(),
                    region: None,
                    city: None,
                    address: None,
                    emergency_location_id: None,
                };
                db.write(|c| store::locations::create(c, &store::testing::owner(), site))
            })
        })
        .collect();
    if db.backend() == store::Backend::Sqlite {
        // Until every writer waits at the gate, holding no pooled connection (one that
        // took a pooled connection first would end the wait, and fail the test).
        while store::testing::writers_waiting(&db) < queued.len() && db.pool_state().0 == 0 {
            thread::yield_now();
        }
        assert_eq!(
            db.pool_state().0,
            0,
            "queued writers hold pooled connections"
        );
    }
    for _ in 0..10 {
        app.get("/readyz").send().await.expect(200);
        app.get("/api/v1/numbers")
            .as_(&owner)
            .send()
            .await
            .expect(200);
        app.get("/api/v1/me").as_(&owner).send().await.expect(200);
    }
    release.wait();
    long.join().unwrap().unwrap();
    for q in queued {
        q.join().unwrap().unwrap();
    }
}

#[actix_web::test]
async fn a_write_that_cannot_get_its_turn_in_time_answers_503_with_retry_after() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    // The same database, served by an app whose writers do not wait at all.
    let impatient = app.tdb.db.clone().with_write_wait(Duration::ZERO);
    let state = web::Data::new(
        api::AppState::new(impatient, api::ApiConfig::default()).expect("application state"),
    );
    let service = test::init_service(api::app(state, Arc::new(api::openapi()))).await;
    let post = || {
        test::TestRequest::post()
            .uri("/api/v1/locations")
            .insert_header(("authorization", format!("Bearer {}", owner.token)))
            .set_json(json!({"name": "HQ", "country": "GB"}))
            .to_request()
    };
    let (release, long) = hold_a_write(&app.tdb.db);
    let refused = test::call_service(&service, post()).await;
    let expected = match app.tdb.db.backend() {
        store::Backend::Sqlite => 503,
        // Nothing global is held on PostgreSQL: the write goes through at once.
        store::Backend::Postgres => 201,
    };
    assert_eq!(refused.status().as_u16(), expected);
    if expected == 503 {
        assert_eq!(
            refused
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
        let body: serde_json::Value = test::read_body_json(refused).await;
        assert_eq!(body["error"]["code"], "unavailable");
    }
    let read = test::TestRequest::get()
        .uri("/api/v1/locations")
        .insert_header(("authorization", format!("Bearer {}", owner.token)))
        .to_request();
    assert_eq!(
        test::call_service(&service, read).await.status().as_u16(),
        200
    );
    release.wait();
    long.join().unwrap().unwrap();
    if expected == 503 {
        assert_eq!(
            test::call_service(&service, post()).await.status().as_u16(),
            201
        );
    }
}

#[actix_web::test]
async fn a_formula_behind_leading_blanks_is_neutralised_on_export_and_imports_back_unchanged() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let descriptions = [" =1+1", "\t =1", "  -2", " @SUM(A1)", " plain = text"];
    for (i, d) in descriptions.iter().enumerate() {
        app.number(
            &owner,
            json!({"number": format!("+44207123600{i}"), "description": d}),
        )
        .await;
    }
    let exported = app
        .get("/api/v1/export/numbers.csv")
        .as_(&owner)
        .send()
        .await;
    assert_eq!(exported.status, 200, "{}", exported.text());
    let csv = exported.text();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let cells: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[6].to_string())
        .collect();
    assert_eq!(
        cells,
        ["' =1+1", "'\t =1", "'  -2", "' @SUM(A1)", " plain = text"]
    );
    let plan = app
        .post("/api/v1/imports")
        .as_(&owner)
        .header("content-type", "text/csv")
        .bytes(csv)
        .send()
        .await
        .expect(201);
    assert_eq!(plan["summary"]["errors"], 0, "{plan:#}");
    assert_eq!(plan["summary"]["unchanged"], 5, "{plan:#}");
}
