//! The audit trail beyond "every write leaves its records": batches, request ids and
//! sources, refusals, append-only storage, filters and paging, a number's history.

use domain::Role;
use serde_json::json;

use crate::{
    audit::{Case, check_case, created, id_of},
    common::*,
    rbac::spec_operations,
};

#[actix_web::test]
async fn a_batch_create_leaves_one_record_per_number_under_one_request_id() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let mark = app.audit_mark(&owner).await;
    let resp = app
        .post("/api/v1/numbers")
        .as_(&owner)
        .json(json!({"items": [
            {"number": "+442071234003"},
            {"number": "+442071234001"},
            {"number": "+442071234002"},
        ]}))
        .send()
        .await;
    let body = resp.expect(201);
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
    let case = Case {
        mark,
        resp,
        actor: owner.clone(),
        expect: ["+442071234001", "+442071234002", "+442071234003"]
            .iter()
            .map(|n| created("number.create", "number", n))
            .collect(),
    };
    let mut problems = Vec::new();
    // Records of one statement may come in any order: sort them by entity id first.
    let mut records = app.audit_since(&owner, mark).await;
    records.sort_by(|a, b| a["entity_id"].as_str().cmp(&b["entity_id"].as_str()));
    let ids: Vec<&str> = records
        .iter()
        .map(|r| r["entity_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["+442071234001", "+442071234002", "+442071234003"]);
    problems.extend(
        check_case(&app, &owner, "batch create", case)
            .await
            .into_iter()
            .filter(|p| !p.contains("entity_id is not")),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[actix_web::test]
async fn a_client_request_id_is_echoed_and_recorded_and_the_ui_source_is_kept() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let resp = app
        .post("/api/v1/numbers")
        .as_(&owner)
        .header("x-request-id", "itsm-change-42")
        .header("x-telestate-source", "ui")
        .json(json!({"number": "+442071234010"}))
        .send()
        .await;
    resp.expect(201);
    assert_eq!(resp.request_id(), "itsm-change-42");
    let rec = app
        .get(&format!("/api/v1/audit?number={}", enc("+442071234010")))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(rec["items"][0]["request_id"], "itsm-change-42");
    assert_eq!(rec["items"][0]["source"], "ui");
    // An unusable id is replaced, not stored.
    let resp = app
        .get("/api/v1/me")
        .as_(&owner)
        .header("x-request-id", "bad id; DROP TABLE")
        .send()
        .await;
    resp.expect(200);
    let id = resp.request_id();
    assert_ne!(id, "bad id; DROP TABLE");
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
}

#[actix_web::test]
async fn failed_and_refused_actions_leave_no_change_records() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let viewer = app.user(Role::Viewer).await;
    app.number(&owner, json!({"number": "+442071234020"})).await;
    let mark = app.audit_mark(&owner).await;
    app.post("/api/v1/numbers")
        .as_(&owner)
        .json(json!({"number": "+442071234020"}))
        .send()
        .await
        .expect_error(409, "number_exists");
    app.post("/api/v1/numbers")
        .as_(&viewer)
        .json(json!({"number": "+442071234021"}))
        .send()
        .await
        .expect_error(403, "forbidden");
    app.patch(&format!("/api/v1/numbers/{}", enc("+442071234020")))
        .as_(&owner)
        .header("if-match", "\"7\"")
        .json(json!({"description": "x"}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    let records = app.audit_since(&owner, mark).await;
    assert!(records.is_empty(), "{records:#?}");
}

#[actix_web::test]
async fn no_route_edits_or_deletes_audit_records() {
    let spec = spec_operations();
    let audit_routes: Vec<_> = spec
        .iter()
        .filter(|(_, p)| p.starts_with("/api/v1/audit"))
        .collect();
    assert_eq!(
        audit_routes,
        [&("GET".to_string(), "/api/v1/audit".to_string())],
        "the audit trail must stay read-only"
    );
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let id = app
        .get("/api/v1/audit?limit=1")
        .as_(&owner)
        .send()
        .await
        .expect(200)["items"][0]["id"]
        .as_str()
        .expect("a record")
        .to_string();
    for (method, path) in [
        ("DELETE", "/api/v1/audit".to_string()),
        ("DELETE", format!("/api/v1/audit/{id}")),
        ("PATCH", format!("/api/v1/audit/{id}")),
        ("PUT", format!("/api/v1/audit/{id}")),
        ("POST", "/api/v1/audit".to_string()),
    ] {
        let r = app
            .req(method.parse().unwrap(), &path)
            .as_(&owner)
            .json(json!({"action": "x"}))
            .send()
            .await;
        assert!(
            matches!(r.status.as_u16(), 404 | 405),
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
        crate::common::assert_envelope(&format!("{method} {path}"), &r.json());
    }
}

/// Runs one SQL statement straight against the test database with the backend's own CLI.
fn raw_sql(app: &TestApp, sql: &str) -> std::process::Output {
    let url = &app.tdb.url;
    let mut cmd = match app.tdb.db.backend() {
        store::Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            let mut c = std::process::Command::new("sqlite3");
            c.args([path, sql]);
            c
        }
        store::Backend::Postgres => {
            let mut c = std::process::Command::new("psql");
            c.args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-c", sql]);
            c
        }
    };
    cmd.output()
        .unwrap_or_else(|e| panic!("running the database CLI for {sql:?}: {e}"))
}

#[actix_web::test]
async fn the_database_refuses_to_change_or_delete_audit_records() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let before = app.list_all(&owner, "/api/v1/audit", 100).await;
    assert!(!before.is_empty());
    // A statement that the database accepts, so a refusal below means the triggers.
    let ok = raw_sql(&app, "SELECT COUNT(*) FROM audit_log");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    for sql in [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
    ] {
        let out = raw_sql(&app, sql);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sql} succeeded");
        assert!(stderr.contains("append-only"), "{sql}: {stderr}");
    }
    if app.tdb.db.backend() == store::Backend::Postgres {
        let out = raw_sql(&app, "TRUNCATE audit_log");
        assert!(!out.status.success(), "TRUNCATE succeeded");
    }
    let after = app.list_all(&owner, "/api/v1/audit", 100).await;
    assert_eq!(before, after);
}

#[actix_web::test]
async fn the_audit_trail_filters_and_pages() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let other = app.user(Role::Admin).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    for i in 0..5 {
        app.number(&owner, json!({"number": format!("+44207123405{i}")}))
            .await;
    }
    app.patch(&format!("/api/v1/numbers/{}", enc("+442071234050")))
        .as_(&other)
        .json(json!({"description": "by other"}))
        .send()
        .await
        .expect(200);
    let creates = app
        .list_all(&owner, "/api/v1/audit?action=number.create", 2)
        .await;
    assert_eq!(creates.len(), 5);
    let ids: Vec<i64> = creates
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "not newest first: {ids:?}"
    );
    let by_other = app
        .list_all(
            &owner,
            &format!("/api/v1/audit?actor={}", other.username),
            10,
        )
        .await;
    assert!(
        by_other
            .iter()
            .all(|r| r["actor"]["id"] == other.id.as_str()),
        "{by_other:#?}"
    );
    assert!(by_other.iter().any(|r| r["action"] == "number.update"));
    let one = app
        .list_all(
            &owner,
            &format!(
                "/api/v1/audit?entity=number&entity_id={}",
                enc("+442071234050")
            ),
            10,
        )
        .await;
    let actions: Vec<&str> = one.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["number.update", "number.create"]);
    let by_number = app
        .list_all(
            &owner,
            &format!("/api/v1/audit?number={}", enc("442071234050")),
            10,
        )
        .await;
    assert_eq!(by_number, one);
    let window = app
        .list_all(
            &owner,
            &format!(
                "/api/v1/audit?action=number.create&since={}",
                enc(&since.to_rfc3339())
            ),
            10,
        )
        .await;
    assert_eq!(window.len(), 5);
    let none = app
        .list_all(
            &owner,
            &format!(
                "/api/v1/audit?action=number.create&until={}",
                enc(&since.to_rfc3339())
            ),
            10,
        )
        .await;
    assert!(none.is_empty(), "{none:#?}");
    let api = app.list_all(&owner, "/api/v1/audit?source=ui", 10).await;
    assert!(api.is_empty());
}

#[actix_web::test]
async fn a_numbers_history_is_newest_first_and_includes_its_range() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let range = app
        .post("/api/v1/ranges")
        .as_(&owner)
        .json(json!({"start": "+442079464000", "end": "+442079464009"}))
        .send()
        .await
        .expect(201);
    let n = format!("/api/v1/numbers/{}", enc("+442079464005"));
    for d in ["one", "two"] {
        app.patch(&n)
            .as_(&owner)
            .json(json!({"description": d}))
            .send()
            .await
            .expect(200);
    }
    let h = app
        .get(&format!("{n}/history"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    let got: Vec<(String, String)> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["entity_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let rid = id_of(&range);
    assert_eq!(
        got,
        [
            ("number.update".to_string(), "+442079464005".to_string()),
            ("number.update".to_string(), "+442079464005".to_string()),
            ("range.create".to_string(), rid),
        ]
    );
    assert_eq!(h["items"][0]["after"]["description"], "two");
    app.get(&format!("/api/v1/numbers/{}/history", enc("+442079465000")))
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
}
