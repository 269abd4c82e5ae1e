//! Assignment rules through the API: CRUD with `If-Match`, validation that names the
//! field, scope, and previews that change nothing. (The runs themselves are the
//! worker's: crates/worker/tests/worker/rules.rs.)

use domain::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, User};

/// The seed example: members of the Sales group get the first number tagged Sales.
fn sales_rule(priority: i64) -> Value {
    json!({
        "name": "Sales joiners",
        "priority": priority,
        "enabled": true,
        "condition": {"all": [{"attribute": "group", "op": "equals", "value": "Sales"}]},
        "action": {"pool": {"tags": ["Sales"]}, "assignment_category": "primary"},
        "leaver_policy": "unassign"
    })
}

/// A directory with a Sales group of `members` users (ids `u0`…), and `numbers` numbers
/// tagged Sales from +442070000100.
async fn estate(app: &TestApp, owner: &User, members: usize, numbers: usize) {
    let permit = store::testing::owner();
    app.tdb
        .db
        .write(|c| {
            store::directory::upsert_group(
                c,
                &permit,
                store::directory::GroupInput {
                    id: "g-sales".into(),
                    display_name: "Sales".into(),
                    ..Default::default()
                },
            )?;
            let mut ids = Vec::new();
            for i in 0..members {
                store::directory::upsert_user(
                    c,
                    &permit,
                    store::directory::DirectoryUserInput {
                        id: format!("u{i}"),
                        upn: format!("user{i}@contoso.example"),
                        display_name: format!("User {i}"),
                        account_enabled: true,
                        ..Default::default()
                    },
                )?;
                ids.push(format!("u{i}"));
            }
            store::directory::set_group_members(c, &permit, "g-sales", &ids)?;
            Ok(())
        })
        .unwrap();
    for i in 0..numbers {
        app.number(
            owner,
            json!({"number": format!("+4420700001{i:02}"), "tags": ["Sales"]}),
        )
        .await;
    }
}

#[actix_web::test]
async fn a_rule_is_created_read_listed_edited_under_if_match_and_deleted() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.user(Role::Admin).await;
    estate(&app, &owner, 1, 1).await;
    let created = app
        .post("/api/v1/rules")
        .as_(&admin)
        .json(sales_rule(10))
        .send()
        .await;
    assert_eq!(created.header("etag").as_deref(), Some("\"1\""));
    let rule = created.expect(201);
    let id = rule["id"].as_str().unwrap().to_string();
    assert_eq!(rule["leaver_policy"], "unassign");
    assert_eq!(rule["condition"]["all"][0]["value"], "Sales");
    assert_eq!(rule["action"]["assignment_category"], "primary");

    let list = app
        .get("/api/v1/rules")
        .as_(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    app.get(&format!("/api/v1/rules/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect(200);

    // A stale If-Match is refused and changes nothing; the current one goes through.
    app.patch(&format!("/api/v1/rules/{id}"))
        .as_(&admin)
        .header("if-match", "\"7\"")
        .json(json!({"enabled": false}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    let patched = app
        .patch(&format!("/api/v1/rules/{id}"))
        .as_(&admin)
        .header("if-match", "\"1\"")
        .json(json!({"enabled": false, "priority": 5}))
        .send()
        .await
        .expect(200);
    assert_eq!(
        (patched["enabled"].clone(), patched["version"].clone()),
        (json!(false), json!(2))
    );

    // Another rule may not take priority 5, nor the name.
    let mut same_priority = sales_rule(5);
    same_priority["name"] = json!("Another");
    app.post("/api/v1/rules")
        .as_(&admin)
        .json(same_priority)
        .send()
        .await
        .expect_error(409, "priority_taken");
    app.post("/api/v1/rules")
        .as_(&admin)
        .json(sales_rule(6))
        .send()
        .await
        .expect_error(409, "rule_exists");

    app.delete(&format!("/api/v1/rules/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/rules/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn a_bad_rule_is_a_400_naming_the_field_and_changes_nothing() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner, 1, 1).await;
    let webhook = app
        .post("/api/v1/platforms")
        .as_(&owner)
        .json(
            json!({"name": "hook", "kind": "webhook", "url": "https://pbx.example.com/x",
            "signing_secret": "at-least-16-characters"}),
        )
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mark = app.audit_mark(&owner).await;
    let with = |pointer: &str, value: Value| {
        let mut body = sales_rule(10);
        *body.pointer_mut(pointer).expect("a field of the rule") = value;
        body
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with("/condition/all/0/value", json!("Salez")),
            "unknown_group",
            "condition.all[0].value",
        ),
        (
            with("/condition/all/0/op", json!("like")),
            "invalid_field",
            "condition.all[0].op",
        ),
        (
            with("/condition/all/0/attribute", json!("shoe_size")),
            "invalid_field",
            "condition.all[0].attribute",
        ),
        (
            with("/action/pool", json!({})),
            "invalid_field",
            "action.pool",
        ),
        (
            with("/action/pool", json!({"location_id": "999"})),
            "unknown_location",
            "action.pool.location_id",
        ),
        (
            with("/action/pool", json!({"tags": ["Nobody"]})),
            "unknown_tag",
            "action.pool.tags[0]",
        ),
        (
            with("/action/pool", json!({"platform_id": webhook})),
            "platform_not_teams",
            "action.pool.platform_id",
        ),
        (
            with("/action/pool", json!({"range_id": "42"})),
            "unknown_range",
            "action.pool.range_id",
        ),
        (
            with("/leaver_policy", json!("shred")),
            "invalid_field",
            "leaver_policy",
        ),
        (with("/priority", json!(-1)), "invalid_field", "priority"),
        (with("/name", json!("  ")), "invalid_field", "name"),
    ];
    for (body, code, field) in cases {
        let r = app
            .post("/api/v1/rules")
            .as_(&owner)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 400, "{body}: {}", r.text());
        r.expect_invalid(code, field);
        // The same checks hold for an unsaved rule's preview.
        app.post("/api/v1/rules/preview")
            .as_(&owner)
            .json(body)
            .send()
            .await
            .expect_invalid(code, field);
    }
    // An unknown field is refused, not ignored.
    let mut extra = sales_rule(10);
    extra["action"]["pool"]["colour"] = json!("red");
    let r = app
        .post("/api/v1/rules")
        .as_(&owner)
        .json(extra)
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text());
    assert!(r.text().contains("colour"), "{}", r.text());
    assert!(app.audit_since(&owner, mark).await.is_empty());
    let list = app
        .get("/api/v1/rules")
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[actix_web::test]
async fn a_scoped_admin_sees_and_writes_only_rules_whose_pool_lies_in_its_scope() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner, 1, 1).await;
    app.number(
        &owner,
        json!({"number": "+442070000300", "tags": ["Support"]}),
    )
    .await;
    let scoped = app.scoped_user(Role::Admin, &[], &["sales"]).await;
    let mut support = sales_rule(20);
    support["name"] = json!("Support");
    support["action"]["pool"]["tags"] = json!(["Support"]);
    app.post("/api/v1/rules")
        .as_(&scoped)
        .json(support.clone())
        .send()
        .await
        .expect_error(403, "out_of_scope");
    let theirs = app
        .post("/api/v1/rules")
        .as_(&scoped)
        .json(sales_rule(10))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app
        .post("/api/v1/rules")
        .as_(&owner)
        .json(support)
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = app
        .get("/api/v1/rules")
        .as_(&scoped)
        .send()
        .await
        .expect(200);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![theirs.as_str()]);
    for (method, path) in [
        ("GET", format!("/api/v1/rules/{other}")),
        ("PATCH", format!("/api/v1/rules/{other}")),
        ("DELETE", format!("/api/v1/rules/{other}")),
        ("POST", format!("/api/v1/rules/{other}/preview")),
        ("GET", format!("/api/v1/rules/{other}/runs")),
    ] {
        let mut req = app.req(method.parse().unwrap(), &path).as_(&scoped);
        if method == "PATCH" {
            req = req.json(json!({"enabled": false}));
        }
        req.send().await.expect_error(404, "not_found");
    }
    // Moving its own rule's pool out of scope is refused too; a full run is the owner's.
    app.patch(&format!("/api/v1/rules/{theirs}"))
        .as_(&scoped)
        .json(json!({"action": {"pool": {"tags": ["Support"]}}}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    app.post("/api/v1/rules/evaluate")
        .as_(&scoped)
        .send()
        .await
        .expect_error(403, "out_of_scope");
}

#[actix_web::test]
async fn a_preview_lists_who_would_get_which_number_and_who_is_short_and_changes_nothing() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner, 3, 2).await;
    let mark = app.audit_mark(&owner).await;
    let preview = app
        .post("/api/v1/rules/preview")
        .as_(&owner)
        .json(sales_rule(10))
        .send()
        .await
        .expect(200);
    assert_eq!(preview["rule_id"], Value::Null);
    assert_eq!(preview["users_evaluated"], 3);
    assert_eq!(preview["matched"], 3);
    assert_eq!(
        preview["assign"]["items"],
        json!([
            {"user_id": "u0", "upn": "user0@contoso.example", "number": "+442070000100"},
            {"user_id": "u1", "upn": "user1@contoso.example", "number": "+442070000101"}
        ])
    );
    assert_eq!(preview["assign"]["more"], 0);
    assert_eq!(
        preview["skipped"]["items"],
        json!([{"user_id": "u2", "upn": "user2@contoso.example", "reason": "pool_exhausted"}])
    );
    assert_eq!(preview["short"], 1);
    assert!(app.audit_since(&owner, mark).await.is_empty());

    // Saved but paused, it is previewed as if enabled; its run history starts empty.
    let mut paused = sales_rule(10);
    paused["enabled"] = json!(false);
    let id = app
        .post("/api/v1/rules")
        .as_(&owner)
        .json(paused)
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let saved = app
        .post(&format!("/api/v1/rules/{id}/preview"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(saved["assign"], preview["assign"]);
    assert_eq!(saved["rule_id"], json!(id));
    let runs = app
        .get(&format!("/api/v1/rules/{id}/runs"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(runs["items"], json!([]));
    // A queued evaluation is visible as a run, and asking again answers the same one.
    let run = app
        .post("/api/v1/rules/evaluate")
        .as_(&owner)
        .send()
        .await
        .expect(202);
    assert_eq!(
        (run["trigger"].clone(), run["status"].clone()),
        (json!("manual"), json!("queued"))
    );
    let again = app
        .post("/api/v1/rules/evaluate")
        .as_(&owner)
        .send()
        .await
        .expect(202);
    assert_eq!(run["id"], again["id"]);
    let detail = app
        .get(&format!(
            "/api/v1/rule-runs/{}",
            run["id"].as_str().unwrap()
        ))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(detail["run"]["id"], run["id"]);
    assert_eq!(detail["items_not_shown"], 0);
}

/// The editor's live preview of a saved rule: with `rule_id` the draft stands in the
/// stored rule's place (checked as the edit would be), so it is not outranked by its
/// own stored self; an absent or out-of-scope rule is a 404.
#[actix_web::test]
async fn a_preview_of_an_edit_takes_the_stored_rules_place() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner, 3, 2).await;
    let id = app
        .post("/api/v1/rules")
        .as_(&owner)
        .json(sales_rule(10))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The edit renamed; previewed as a new rule, its priority is the stored rule's own,
    // which saving it as a new rule would refuse.
    let mut edit = sales_rule(10);
    edit["name"] = json!("Sales joiners (renamed)");
    app.post("/api/v1/rules/preview")
        .as_(&owner)
        .json(edit.clone())
        .send()
        .await
        .expect_error(409, "priority_taken");
    let as_edit = app
        .post(&format!("/api/v1/rules/preview?rule_id={id}"))
        .as_(&owner)
        .json(edit.clone())
        .send()
        .await
        .expect(200);
    assert_eq!(as_edit["rule_id"], json!(id));
    assert_eq!(as_edit["matched"], 3);
    let saved = app
        .post(&format!("/api/v1/rules/{id}/preview"))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(as_edit["assign"], saved["assign"]);
    // An edit is checked as saving it would be.
    let mut bad = edit.clone();
    bad["leaver_policy"] = json!("sometimes");
    app.post(&format!("/api/v1/rules/preview?rule_id={id}"))
        .as_(&owner)
        .json(bad)
        .send()
        .await
        .expect_field("leaver_policy");
    app.post("/api/v1/rules/preview?rule_id=999999")
        .as_(&owner)
        .json(edit.clone())
        .send()
        .await
        .expect_error(404, "not_found");
    for bad in ["x", "0", "-1", ""] {
        app.post(&format!("/api/v1/rules/preview?rule_id={bad}"))
            .as_(&owner)
            .json(edit.clone())
            .send()
            .await
            .expect_field("rule_id");
    }
    // Another rule's name or priority: 409 naming the field, as the save would answer.
    let mut other = sales_rule(20);
    other["name"] = json!("Other");
    app.post("/api/v1/rules")
        .as_(&owner)
        .json(other)
        .send()
        .await
        .expect(201);
    let mut taken = edit.clone();
    taken["priority"] = json!(20);
    let r = app
        .post(&format!("/api/v1/rules/preview?rule_id={id}"))
        .as_(&owner)
        .json(taken)
        .send()
        .await;
    assert_eq!(r.expect_error(409, "priority_taken")["field"], "priority");
    let mut taken = sales_rule(30);
    taken["name"] = json!("other");
    app.post("/api/v1/rules/preview")
        .as_(&owner)
        .json(taken)
        .send()
        .await
        .expect_error(409, "rule_exists");
    // A scoped admin's edit of a rule outside its scope: the rule looks absent.
    let scoped = app.scoped_user(Role::Admin, &[], &["support"]).await;
    let mut theirs = sales_rule(11);
    theirs["action"]["pool"]["tags"] = json!(["Support"]);
    app.post(&format!("/api/v1/rules/preview?rule_id={id}"))
        .as_(&scoped)
        .json(theirs)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn a_null_in_a_rule_patch_is_a_400_naming_the_field_and_changes_nothing() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.user(Role::Admin).await;
    estate(&app, &owner, 1, 1).await;
    let rule = app
        .post("/api/v1/rules")
        .as_(&admin)
        .json(sales_rule(10))
        .send()
        .await
        .expect(201);
    let path = format!("/api/v1/rules/{}", rule["id"].as_str().unwrap());
    // None of these can be cleared: a null must not be read silently as "keep".
    for field in [
        "name",
        "priority",
        "enabled",
        "condition",
        "action",
        "leaver_policy",
    ] {
        let r = app
            .patch(&path)
            .as_(&admin)
            .json(json!({ field: null }))
            .send()
            .await;
        let details = r.expect_error(400, "invalid_json");
        assert_eq!(details["field"], field, "{}", r.text());
        assert!(r.text().contains("null"), "{}", r.text());
    }
    let now = app.get(&path).as_(&admin).send().await.expect(200);
    assert_eq!(
        (now["version"].clone(), now["enabled"].clone()),
        (json!(1), json!(true))
    );
}

#[actix_web::test]
async fn a_priority_taken_by_an_out_of_scope_rule_is_refused_without_naming_it() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner, 1, 1).await;
    app.number(
        &owner,
        json!({"number": "+442070000300", "tags": ["Support"]}),
    )
    .await;
    let mut support = sales_rule(20);
    support["name"] = json!("Hidden support rule");
    support["action"]["pool"]["tags"] = json!(["Support"]);
    let hidden = app
        .post("/api/v1/rules")
        .as_(&owner)
        .json(support)
        .send()
        .await
        .expect(201);
    let hidden_id = hidden["id"].as_str().unwrap().to_string();
    let scoped = app.scoped_user(Role::Admin, &[], &["sales"]).await;

    // Creating at the hidden rule's priority: refused, but neither its name nor its id
    // leaks; the field to change is still named.
    let r = app
        .post("/api/v1/rules")
        .as_(&scoped)
        .json(sales_rule(20))
        .send()
        .await;
    let details = r.expect_error(409, "priority_taken");
    assert_eq!(details["field"], "priority");
    assert!(details.get("rule_id").is_none(), "{}", r.text());
    assert!(!r.text().contains("Hidden support rule"), "{}", r.text());
    assert!(!r.text().contains(&hidden_id), "{}", r.text());

    // The same through an edit of its own rule.
    let own = app
        .post("/api/v1/rules")
        .as_(&scoped)
        .json(sales_rule(10))
        .send()
        .await
        .expect(201);
    let r = app
        .patch(&format!("/api/v1/rules/{}", own["id"].as_str().unwrap()))
        .as_(&scoped)
        .json(json!({"priority": 20}))
        .send()
        .await;
    let details = r.expect_error(409, "priority_taken");
    assert!(details.get("rule_id").is_none(), "{}", r.text());
    assert!(!r.text().contains("Hidden support rule"), "{}", r.text());

    // A holder the caller can see is still named, so it knows which one to move.
    let mut second = sales_rule(10);
    second["name"] = json!("Second sales rule");
    let r = app
        .post("/api/v1/rules")
        .as_(&scoped)
        .json(second)
        .send()
        .await;
    let details = r.expect_error(409, "priority_taken");
    assert_eq!(details["rule_id"], own["id"]);
}

#[actix_web::test]
async fn a_scoped_admin_cannot_probe_for_sites_outside_its_scope_through_a_rule() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner, 1, 1).await;
    let mine = app.location(&owner, "London", "GB").await;
    let theirs = app.location(&owner, "Paris", "FR").await;
    let scoped = app.scoped_user(Role::Admin, &[&mine], &[]).await;
    // An existing site outside the scope and one that does not exist get the same answer.
    for location in [theirs.as_str(), "987654"] {
        let mut rule = sales_rule(10);
        rule["action"]["pool"] = json!({"location_id": location});
        for path in ["/api/v1/rules", "/api/v1/rules/preview"] {
            app.post(path)
                .as_(&scoped)
                .json(rule.clone())
                .send()
                .await
                .expect_error(403, "out_of_scope");
        }
    }
    let list = app
        .get("/api/v1/rules")
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(list["items"], json!([]));
}

#[actix_web::test]
async fn previews_beyond_the_servers_bound_are_a_429_busy_and_other_requests_go_on() {
    // No preview slot at all, and no waiting: every preview finds the bound reached.
    let app = TestApp::with_config(api::ApiConfig {
        previews: api::throttle::PreviewLimits {
            concurrency: 0,
            wait: std::time::Duration::ZERO,
        },
        ..api::ApiConfig::default()
    })
    .await;
    let owner = app.user(Role::Owner).await;
    estate(&app, &owner, 2, 2).await;
    let rule = app
        .post("/api/v1/rules")
        .as_(&owner)
        .json(sales_rule(10))
        .send()
        .await
        .expect(201);
    for path in [
        format!("/api/v1/rules/{}/preview", rule["id"].as_str().unwrap()),
        "/api/v1/rules/preview".to_string(),
    ] {
        let mut draft = sales_rule(11);
        draft["name"] = json!("Draft");
        let r = app.post(&path).as_(&owner).json(draft).send().await;
        let details = r.expect_error(429, "busy");
        assert_eq!(details["retry_after_seconds"], 5);
        assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    }
    // Everything else is unaffected.
    app.get("/api/v1/rules")
        .as_(&owner)
        .send()
        .await
        .expect(200);
}
