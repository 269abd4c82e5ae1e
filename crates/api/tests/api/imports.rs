//! CSV imports (plan → apply) and change sets (list, revert) through the API.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{Resp, TestApp, User, enc};

async fn upload(app: &TestApp, by: &User, csv: impl Into<Vec<u8>>) -> Resp {
    app.post("/api/v1/imports")
        .as_(by)
        .header("content-type", "text/csv")
        .bytes(csv.into())
        .send()
        .await
}

async fn plan(app: &TestApp, by: &User, csv: impl Into<Vec<u8>>) -> Value {
    upload(app, by, csv).await.expect(201)
}

async fn apply(app: &TestApp, by: &User, id: &Value) -> Resp {
    app.post(&format!("/api/v1/imports/{}/apply", id.as_str().unwrap()))
        .as_(by)
        .send()
        .await
}

/// Five numbers: a site, tags, one assigned to a service, one reserved.
async fn estate(app: &TestApp, owner: &User) -> (String, String) {
    let london = app.location(owner, "London", "GB").await;
    let queue = app.service(owner, "Reception").await;
    for i in 1..=5 {
        app.number(
            owner,
            json!({"number": format!("+44207123500{i}"), "location_id": london,
                   "tags": ["Sales", "VIP"], "description": format!("=line {i}")}),
        )
        .await;
    }
    app.post(&format!("/api/v1/numbers/{}/assign", enc("+442071235001")))
        .as_(owner)
        .json(json!({"target": {"kind": "service", "id": queue}}))
        .send()
        .await
        .expect(200);
    app.post(&format!("/api/v1/numbers/{}/reserve", enc("+442071235002")))
        .as_(owner)
        .json(
            json!({"reason": "CEO", "reserved_for": "Board", "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .send()
        .await
        .expect(200);
    (london, queue)
}

async fn export(app: &TestApp, by: &User) -> String {
    let r = app.get("/api/v1/export/numbers.csv").as_(by).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

#[actix_web::test]
async fn an_exported_file_imports_back_unchanged_and_edits_become_exactly_their_changes() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner).await;
    let exported = export(&app, &owner).await;

    // Unedited, the export is a plan that changes nothing.
    let p = plan(&app, &owner, exported.clone()).await;
    assert_eq!(p["summary"]["errors"], 0, "{p:#}");
    assert_eq!(p["summary"]["rows"], 5, "{p:#}");
    assert_eq!(p["summary"]["unchanged"], 5, "{p:#}");
    assert_eq!(p["rows"], json!([]));

    // Edited the way a spreadsheet saves it: BOM, CRLF, numbers with ' and without +.
    let edited = exported
        .replace(
            "'=line 3",
            "\"'=line three, now \"\"quoted\"\"\nover two lines\"",
        )
        .replace(
            "+442071235004,available,GB,London,,Sales;VIP",
            "'442071235004,available,GB,London,,Sales",
        )
        .replace("+442071235005,available", "442071235005,quarantined");
    let mangled = format!("\u{feff}{}", edited.replace('\n', "\r\n"));
    let p = plan(&app, &owner, mangled).await;
    let s = &p["summary"];
    assert_eq!(
        (
            s["errors"].as_u64(),
            s["updates"].as_u64(),
            s["quarantines"].as_u64(),
            s["unchanged"].as_u64()
        ),
        (Some(0), Some(2), Some(1), Some(2)),
        "{p:#}"
    );
    let rows = p["rows"].as_array().unwrap();
    let numbers: Vec<&str> = rows.iter().map(|r| r["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["+442071235003", "+442071235004", "+442071235005"]);
    assert_eq!(
        rows[1]["changes"],
        json!([{"op": "update", "field": "tags", "old": ["Sales", "VIP"], "new": ["Sales"]}])
    );
    assert_eq!(rows[2]["changes"][0]["op"], "quarantine");

    let done = apply(&app, &owner, &p["id"]).await.expect(200);
    assert_eq!(done["status"], "applied");
    let three = app.get_number(&owner, "+442071235003").await;
    assert_eq!(
        three["description"],
        "=line three, now \"quoted\"\r\nover two lines"
    );
    assert_eq!(
        app.get_number(&owner, "+442071235004").await["tags"],
        json!(["Sales"])
    );
    assert_eq!(
        app.get_number(&owner, "+442071235005").await["status"],
        "quarantined"
    );
    assert_eq!(
        app.get_number(&owner, "+442071235001").await["version"],
        2,
        "untouched"
    );

    let shown = app
        .get(&format!("/api/v1/imports/{}", p["id"].as_str().unwrap()))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(
        (shown["status"].as_str(), shown["change_set_id"].as_str()),
        (Some("applied"), done["change_set_id"].as_str())
    );
    apply(&app, &owner, &p["id"])
        .await
        .expect_error(409, "plan_already_applied");
}

#[actix_web::test]
async fn a_file_with_one_bad_row_is_a_plan_with_errors_that_applies_nothing() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner).await;
    let csv = "number,description,location,status\n\
               +442071235003,fine,,\n\
               +442071235004,fine,Atlantis,\n\
               +442071235002,fine,,quarantined\n";
    let p = plan(&app, &owner, csv).await;
    let errors: Vec<(u64, String)> = p["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["errors"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [(3, "location".to_string()), (4, "status".to_string())],
        "{p:#}"
    );
    assert!(
        p["rows"][2]["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("number_reserved")
    );
    let details = apply(&app, &owner, &p["id"])
        .await
        .expect_error(409, "plan_has_errors");
    assert_eq!(details["errors"], 2);
    assert_eq!(
        app.get_number(&owner, "+442071235003").await["description"],
        "=line 3"
    );
}

#[actix_web::test]
async fn a_stale_plan_is_refused_naming_the_number_and_an_expired_plan_too() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner).await;
    let p = plan(
        &app,
        &owner,
        "number,description\n+442071235003,mine\n+442071235004,mine\n",
    )
    .await;
    app.patch(&format!("/api/v1/numbers/{}", enc("+442071235004")))
        .as_(&owner)
        .json(json!({"description": "theirs"}))
        .send()
        .await
        .expect(200);
    let details = apply(&app, &owner, &p["id"])
        .await
        .expect_error(409, "plan_stale");
    assert_eq!(details["numbers"], json!(["+442071235004"]));
    assert_eq!(
        app.get_number(&owner, "+442071235003").await["description"],
        "=line 3"
    );
    let shown = app
        .get(&format!("/api/v1/imports/{}", p["id"].as_str().unwrap()))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(shown["status"], "failed");

    let short = TestApp::with_config(api::ApiConfig {
        import_plan_ttl_seconds: 0,
        ..api::ApiConfig::default()
    })
    .await;
    let owner = short.user(Role::Owner).await;
    short
        .number(&owner, json!({"number": "+442071235009"}))
        .await;
    let p = plan(&short, &owner, "number,description\n+442071235009,late\n").await;
    apply(&short, &owner, &p["id"])
        .await
        .expect_error(409, "plan_expired");
    let shown = short
        .get(&format!("/api/v1/imports/{}", p["id"].as_str().unwrap()))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(shown["status"], "expired");
}

#[actix_web::test]
async fn reverting_an_import_restores_the_numbers_and_its_change_set_lists_the_records() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let (_, queue) = estate(&app, &owner).await;
    let before: Vec<Value> = futures_util::future::join_all(
        ["+442071235001", "+442071235003"].map(|n| app.get_number(&owner, n)),
    )
    .await;
    let csv = format!(
        "number,description,tags,location,status,assigned_to_kind,assigned_to\n\
         +442071235001,edited,,,available,,\n\
         +442071235003,edited,New,,assigned,service,{queue}\n\
         +442071235008,created,,London,,,\n"
    );
    let p = plan(&app, &owner, csv).await;
    assert_eq!(p["summary"]["errors"], 0, "{p:#}");
    let done = apply(&app, &owner, &p["id"]).await.expect(200);
    let cs = done["change_set_id"].as_str().unwrap();
    let listed = app
        .list_all(&owner, &format!("/api/v1/change-sets/{cs}"), 2)
        .await;
    let mut actions: Vec<&str> = listed
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "number.assign",
            "number.create",
            "number.unassign",
            "number.update",
            "number.update"
        ]
    );
    assert!(
        listed
            .iter()
            .all(|r| r["change_set_id"] == cs && r["source"] == "import")
    );

    let revert = app
        .post(&format!("/api/v1/change-sets/{cs}/revert"))
        .as_(&owner)
        .send()
        .await
        .expect(201);
    assert_eq!(
        (
            revert["kind"].as_str(),
            revert["source_change_set"].as_str()
        ),
        (Some("revert"), Some(cs))
    );
    assert_eq!(revert["summary"]["errors"], 0, "{revert:#}");
    let undone = apply(&app, &owner, &revert["id"]).await.expect(200);
    assert_ne!(undone["change_set_id"], cs);
    for b in &before {
        let now = app.get_number(&owner, b["number"].as_str().unwrap()).await;
        for field in ["status", "description", "tags", "location_id"] {
            assert_eq!(now[field], b[field], "{field} of {}", b["number"]);
        }
        assert_eq!(now["assignment"]["target"], b["assignment"]["target"]);
    }
    app.get(&format!("/api/v1/numbers/{}", enc("+442071235008")))
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
    app.get("/api/v1/change-sets/cs_unknown")
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn out_of_scope_rows_are_errors_and_plans_are_private_to_scoped_callers() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let (london, _) = estate(&app, &owner).await;
    let paris = app.location(&owner, "Paris", "FR").await;
    app.number(
        &owner,
        json!({"number": "+33142685300", "location_id": paris}),
    )
    .await;
    let scoped = app.scoped_user(Role::Admin, &[&paris], &[]).await;
    let p = plan(
        &app,
        &scoped,
        "number,description,location\n+33142685300,mine,Paris\n+442071235003,not mine,London\n+33142685301,moved,London\n",
    )
    .await;
    let lines: Vec<u64> = p["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["errors"].as_array().unwrap().is_empty())
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{p:#}");
    assert!(p["rows"][1]["errors"].as_array().unwrap().iter().any(|e| {
        // The site is outside the scope too: as unknown to the caller as the number.
        let r = e["reason"].as_str().unwrap();
        r.contains("outside your scope") || r.starts_with("no location")
    }));
    let _ = london;
    let owners = plan(&app, &owner, "number,description\n+442071235003,x\n").await;
    app.get(&format!(
        "/api/v1/imports/{}",
        owners["id"].as_str().unwrap()
    ))
    .as_(&scoped)
    .send()
    .await
    .expect_error(404, "not_found");
    apply(&app, &scoped, &owners["id"])
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn unreadable_files_are_plans_with_errors_and_bad_uploads_are_refused() {
    let app = TestApp::with_config(api::ApiConfig {
        import_max_bytes: 2048,
        ..api::ApiConfig::default()
    })
    .await;
    let owner = app.user(Role::Owner).await;
    for (body, says) in [
        (&b""[..], "empty"),
        (b"number;status\n+442071235001;available\n", "semicolons"),
        (b"+442071235001,available\n", "not a header"),
        (b"number,colour\n", "unknown column"),
        (b"numb\xE9r\n", "UTF-8"),
    ] {
        let p = plan(&app, &owner, body.to_vec()).await;
        let e = &p["errors"][0];
        assert_eq!(e["line"], 1, "{p:#}");
        assert!(e["reason"].as_str().unwrap().contains(says), "{p:#}");
        apply(&app, &owner, &p["id"])
            .await
            .expect_error(409, "plan_has_errors");
    }
    upload(&app, &owner, "x".repeat(4096))
        .await
        .expect_error(413, "payload_too_large");
    app.post("/api/v1/imports")
        .as_(&owner)
        .json(json!({"number": "+442071235001"}))
        .send()
        .await
        .expect_error(415, "unsupported_media_type");
}

#[actix_web::test]
async fn a_multipart_upload_and_paging_through_a_long_plan() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let mut csv = String::from("number,description\n");
    for i in 0..5 {
        csv.push_str(&format!("+44207123600{i},new {i}\n"));
    }
    let form = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"estate.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--XyZ--\r\n"
    );
    let p = app
        .post("/api/v1/imports")
        .as_(&owner)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .bytes(form)
        .send()
        .await
        .expect(201);
    assert_eq!(p["summary"]["creates"], 5, "{p:#}");
    let id = p["id"].as_str().unwrap();
    let mut lines = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/imports/{id}?limit=2&cursor={}", enc(c)),
            None => format!("/api/v1/imports/{id}?limit=2"),
        };
        let page = app.get(&url).as_(&owner).send().await.expect(200);
        lines.extend(
            page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["line"].as_u64().unwrap()),
        );
        assert_eq!(page["rows_truncated"], page["next_cursor"].is_string());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    apply(&app, &owner, &p["id"]).await.expect(200);
    assert_eq!(
        app.get_number(&owner, "+442071236004").await["description"],
        "new 4"
    );
}

#[actix_web::test]
async fn a_batch_create_is_one_change_set_that_can_be_reverted() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    app.post("/api/v1/numbers")
        .as_(&owner)
        .json(json!({"items": [{"number": "+442071237001"}, {"number": "+442071237002"}]}))
        .send()
        .await
        .expect(201);
    let records = app
        .get("/api/v1/audit?action=number.create")
        .as_(&owner)
        .send()
        .await
        .expect(200)["items"]
        .clone();
    let cs = records[0]["change_set_id"]
        .as_str()
        .expect("a change set")
        .to_string();
    assert_eq!(records[1]["change_set_id"], cs.as_str());
    let revert = app
        .post(&format!("/api/v1/change-sets/{cs}/revert"))
        .as_(&owner)
        .send()
        .await
        .expect(201);
    assert_eq!(revert["summary"]["deletes"], 2, "{revert:#}");
    apply(&app, &owner, &revert["id"]).await.expect(200);
    app.get(&format!("/api/v1/numbers/{}", enc("+442071237001")))
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
}

/// A client that lost an answer retries with the same `Idempotency-Key`: planning returns
/// the first plan, applying returns the first outcome (not `plan_already_applied`), and the
/// key used for another file is refused.
#[actix_web::test]
async fn idempotency_keys_make_plan_apply_and_revert_retries_safe() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner).await;
    let file = "number,description\n+442071235002,retried\n";
    let send = |key: &'static str, csv: &'static str| {
        app.post("/api/v1/imports")
            .as_(&owner)
            .header("content-type", "text/csv")
            .header("idempotency-key", key)
            .bytes(csv)
            .send()
    };
    let first = send("plan-1", file).await.expect(201);
    let again = send("plan-1", file).await;
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.expect(201)["id"], first["id"]);
    send("plan-1", "number,description\n+442071235002,other\n")
        .await
        .expect_error(409, "idempotency_key_reused");

    let path = format!("/api/v1/imports/{}/apply", first["id"].as_str().unwrap());
    let apply_once = || {
        app.post(&path)
            .as_(&owner)
            .header("idempotency-key", "apply-1")
            .send()
    };
    let done = apply_once().await.expect(200);
    let replay = apply_once().await;
    assert_eq!(
        replay.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replay.expect(200)["change_set_id"], done["change_set_id"]);
    apply(&app, &owner, &first["id"])
        .await
        .expect_error(409, "plan_already_applied");

    let cs = done["change_set_id"].as_str().unwrap();
    let revert = |key: &'static str| {
        app.post(&format!("/api/v1/change-sets/{cs}/revert"))
            .as_(&owner)
            .header("idempotency-key", key)
            .send()
    };
    let undo = revert("revert-1").await.expect(201);
    assert_eq!(revert("revert-1").await.expect(201)["id"], undo["id"]);
    assert_ne!(revert("revert-2").await.expect(201)["id"], undo["id"]);
}

#[actix_web::test]
async fn hostile_files_plan_into_a_bounded_number_of_errors_with_a_count_of_the_rest() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;

    // A header followed by 200,000 commas: one file error naming the column count.
    let mut csv = String::from("number");
    csv.push_str(&",".repeat(200_000));
    csv.push_str("\n+442071235001\n");
    let p = plan(&app, &owner, csv).await;
    let errors = p["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("200001 columns"),
        "{errors:?}"
    );
    assert_eq!(p["summary"]["errors"], 1);
    assert_eq!(p["summary"]["errors_not_shown"], 0);

    // One row with 100,000 extra cells: one error for the line.
    let mut csv = String::from("number,description\n+442071235001,x");
    csv.push_str(&",y".repeat(100_000));
    csv.push('\n');
    let p = plan(&app, &owner, csv).await;
    assert_eq!(p["summary"]["errors"], 1, "{:#}", p["summary"]);
    assert_eq!(p["rows"].as_array().unwrap().len(), 1);
    assert_eq!(p["rows"][0]["errors"].as_array().unwrap().len(), 1);
    // Under the line limit the extra cells are counted in that one error.
    let mut csv = String::from("number,description\n+442071235001,x");
    csv.push_str(&",y".repeat(1_000));
    csv.push('\n');
    let p = plan(&app, &owner, csv).await;
    let errors = p["rows"][0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["reason"].as_str().unwrap().contains("1000 cells"));

    // 5,000 bad lines: the first 1,000 errors are kept and shown, the rest counted.
    let csv = format!("number\n{}", "x\n".repeat(5_000));
    let p = plan(&app, &owner, csv).await;
    assert_eq!(p["summary"]["rows"], 5_000);
    assert_eq!(p["summary"]["errors"], 5_000);
    assert_eq!(p["summary"]["errors_not_shown"], 4_000);
    assert_eq!(p["rows"].as_array().unwrap().len(), 1_000);
    assert_eq!(
        p["rows_truncated"], false,
        "error rows past the cap are not stored"
    );
    assert_eq!(p["rows"][999]["line"], 1_001);
    apply(&app, &owner, &p["id"])
        .await
        .expect_error(409, "plan_has_errors");
}

#[actix_web::test]
async fn the_error_cap_is_a_setting_and_good_lines_past_it_are_still_planned() {
    let app = TestApp::with_config(api::ApiConfig {
        import_max_errors: 3,
        ..api::ApiConfig::default()
    })
    .await;
    let owner = app.user(Role::Owner).await;
    // A line with two errors, two bad lines, then a good one.
    let csv = "number,status,number_type\n\
               +442071235001,lost,pigeon\n\
               x,,\n\
               y,,\n\
               +442071235002,available,\n";
    let p = plan(&app, &owner, csv).await;
    assert_eq!(p["summary"]["errors"], 4, "{:#}", p["summary"]);
    assert_eq!(p["summary"]["errors_not_shown"], 1);
    assert_eq!(p["summary"]["creates"], 1);
    let lines: Vec<(i64, usize)> = p["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_i64().unwrap(),
                r["errors"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(lines, [(2, 2), (3, 1), (5, 0)], "{:#}", p["rows"]);
    // The same plan read again says the same.
    let again = app
        .get(&format!("/api/v1/imports/{}", p["id"].as_str().unwrap()))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(again["summary"], p["summary"]);
}
