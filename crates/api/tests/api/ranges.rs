//! Ranges: created whole, refused when they meet other ranges or numbers, edited with their
//! numbers, deleted with their numbers.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, User, enc};

async fn range(app: &TestApp, by: &User, body: Value) -> Value {
    app.post("/api/v1/ranges")
        .as_(by)
        .json(body)
        .send()
        .await
        .expect(201)
}

#[actix_web::test]
async fn a_range_materialises_every_number_with_its_defaults() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let loc = app.location(&admin, "HQ", "GB").await;
    let r = range(
        &app,
        &admin,
        json!({
            "name": " London DDI ",
            "start": "+44 20 7946 0000",
            "end": "+442079460099",
            "location_id": loc,
            "tags": ["DDI"],
            "description": "block",
            "number_type": "operator_connect",
        }),
    )
    .await;
    assert_eq!(r["name"], "London DDI");
    assert_eq!(r["start"], "+442079460000");
    assert_eq!(r["end"], "+442079460099");
    assert_eq!(r["country"], "GB");
    assert_eq!(r["size"], 100);
    assert_eq!(
        r["utilisation"],
        json!({"available": 100, "reserved": 0, "assigned": 0, "quarantined": 0, "total": 100})
    );
    let id = r["id"].as_str().unwrap().to_string();
    let numbers = app
        .list_all(&admin, &format!("/api/v1/numbers?range={id}"), 1000)
        .await;
    assert_eq!(numbers.len(), 100);
    let want: Vec<String> = (0..100).map(|i| format!("+4420794600{i:02}")).collect();
    let got: Vec<&str> = numbers
        .iter()
        .map(|n| n["number"].as_str().unwrap())
        .collect();
    assert_eq!(got, want);
    for n in &numbers {
        assert_eq!(n["range_id"], id.as_str());
        assert_eq!(n["location_id"], loc.as_str());
        assert_eq!(n["tags"], json!(["DDI"]));
        assert_eq!(n["number_type"], "operator_connect");
        assert_eq!(n["status"], "available");
        assert_eq!(n["country"], "GB");
    }
    let got = app
        .get(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(got, r);
    let list = app.list_all(&admin, "/api/v1/ranges?tag=ddi", 10).await;
    assert_eq!(list, std::slice::from_ref(&r));
    let list = app.list_all(&admin, "/api/v1/ranges?q=london", 10).await;
    assert_eq!(list.len(), 1);
    let list = app.list_all(&admin, "/api/v1/ranges?country=FR", 10).await;
    assert!(list.is_empty());
}

#[actix_web::test]
async fn an_overlapping_range_is_refused_naming_the_other() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let first = range(
        &app,
        &admin,
        json!({"name": "First", "start": "+442079460100", "end": "+442079460199"}),
    )
    .await;
    let first_id = first["id"].as_str().unwrap();
    for (start, end) in [
        ("+442079460150", "+442079460250"),
        ("+442079460000", "+442079460100"),
        ("+442079460199", "+442079460199"),
        ("+442079460120", "+442079460130"),
        ("+442079460000", "+442079460999"),
    ] {
        let details = app
            .post("/api/v1/ranges")
            .as_(&admin)
            .json(json!({"start": start, "end": end}))
            .send()
            .await
            .expect_error(409, "range_overlap");
        assert_eq!(
            details["ranges"][0]["id"], first_id,
            "{start}-{end}: {details}"
        );
    }
    // Adjacent is fine.
    range(
        &app,
        &admin,
        json!({"start": "+442079460200", "end": "+442079460209"}),
    )
    .await;
    range(
        &app,
        &admin,
        json!({"start": "+442079460090", "end": "+442079460099"}),
    )
    .await;
    let all = app.list_all(&admin, "/api/v1/numbers", 1000).await;
    assert_eq!(all.len(), 120);
}

#[actix_web::test]
async fn a_range_over_existing_numbers_is_refused_and_creates_nothing() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.number(&admin, json!({"number": "+442079460305"})).await;
    let details = app
        .post("/api/v1/ranges")
        .as_(&admin)
        .json(json!({"start": "+442079460300", "end": "+442079460309"}))
        .send()
        .await
        .expect_error(409, "numbers_exist");
    assert_eq!(details["numbers"], json!(["+442079460305"]));
    assert!(app.list_all(&admin, "/api/v1/ranges", 10).await.is_empty());
    assert_eq!(app.list_all(&admin, "/api/v1/numbers", 100).await.len(), 1);
    // A number with an extension on a base inside the block counts too.
    app.number(&admin, json!({"number": "+442079460415;ext=7"}))
        .await;
    app.post("/api/v1/ranges")
        .as_(&admin)
        .json(json!({"start": "+442079460400", "end": "+442079460499"}))
        .send()
        .await
        .expect_error(409, "numbers_exist");
}

#[actix_web::test]
async fn a_range_must_be_one_country_one_length_and_not_too_large() {
    let app = TestApp::with_config(api::ApiConfig {
        max_range_size: 100,
        ..api::ApiConfig::default()
    })
    .await;
    let admin = app.user(Role::Admin).await;
    let (appr, adminr) = (&app, &admin);
    let bad = move |start: &'static str, end: &'static str| async move {
        appr.post("/api/v1/ranges")
            .as_(adminr)
            .json(json!({"start": start, "end": end}))
            .send()
            .await
    };
    bad("+442079460000", "+442079460100")
        .await
        .expect_invalid("invalid_field", "end");
    bad("+442079460000", "+33142685300")
        .await
        .expect_invalid("invalid_field", "end");
    bad("+442079460000", "+4420794600")
        .await
        .expect_field("end");
    bad("+442079460099", "+442079460000")
        .await
        .expect_invalid("invalid_field", "end");
    bad("nonsense", "+442079460000")
        .await
        .expect_invalid("invalid_number", "start");
    bad("+442079460000", "nonsense")
        .await
        .expect_invalid("invalid_number", "end");
    bad("+442079460000;ext=1", "+442079460009;ext=1")
        .await
        .expect_field("start");
    app.post("/api/v1/ranges")
        .as_(&admin)
        .json(json!({"start": "+442079460000", "end": "+442079460099", "name": "x".repeat(201)}))
        .send()
        .await
        .expect_invalid("invalid_field", "name");
    // Exactly the maximum is allowed.
    let r = range(
        &app,
        &admin,
        json!({"start": "+442079460000", "end": "+442079460099"}),
    )
    .await;
    assert_eq!(r["size"], 100);
    assert_eq!(app.list_all(&admin, "/api/v1/ranges", 10).await.len(), 1);
}

#[actix_web::test]
async fn patching_a_range_with_apply_to_numbers_moves_its_numbers() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let old = app.location(&admin, "Old", "GB").await;
    let new = app.location(&admin, "New", "GB").await;
    let r = range(
        &app,
        &admin,
        json!({"start": "+442079460500", "end": "+442079460509", "location_id": old, "tags": ["keep", "drop"]}),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/ranges/{id}");
    let sample = format!("/api/v1/numbers/{}", enc("+442079460503"));
    // A number's own extra tag is not the range's to remove.
    app.patch(&sample)
        .as_(&admin)
        .json(json!({"tags": ["keep", "drop", "own"]}))
        .send()
        .await
        .expect(200);

    // Without apply_to_numbers only the range changes.
    let p = app
        .patch(&path)
        .as_(&admin)
        .json(json!({"location_id": new}))
        .send()
        .await
        .expect(200);
    assert_eq!(p["location_id"], new.as_str());
    let n = app.get(&sample).as_(&admin).send().await.expect(200);
    assert_eq!(n["location_id"], old.as_str());

    let p = app
        .patch(&path)
        .as_(&admin)
        .json(json!({"location_id": new, "tags": ["keep", "added"], "number_type": "calling_plan", "apply_to_numbers": true}))
        .send()
        .await
        .expect(200);
    let mut range_tags: Vec<&str> = p["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    range_tags.sort();
    assert_eq!(range_tags, ["added", "keep"]);
    let numbers = app
        .list_all(&admin, &format!("/api/v1/numbers?range={id}"), 100)
        .await;
    assert_eq!(numbers.len(), 10);
    for n in &numbers {
        assert_eq!(n["location_id"], new.as_str(), "{n}");
        assert_eq!(n["number_type"], "calling_plan", "{n}");
        let mut tags: Vec<&str> = n["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        tags.sort();
        let want: &[&str] = if n["number"] == "+442079460503" {
            &["added", "keep", "own"]
        } else {
            &["added", "keep"]
        };
        assert_eq!(tags, want, "{n}");
    }
    let at_old = app
        .list_all(&admin, &format!("/api/v1/numbers?location={old}"), 100)
        .await;
    assert!(at_old.is_empty());
    assert!(
        app.list_all(&admin, "/api/v1/numbers?tag=drop", 100)
            .await
            .is_empty()
    );
    // Their versions moved on, so an ETag read before is stale now.
    let n = app.get(&sample).as_(&admin).send().await.expect(200);
    assert!(n["version"].as_i64().unwrap() >= 3, "{n}");
}

#[actix_web::test]
async fn deleting_a_range_removes_its_numbers() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let r = range(
        &app,
        &admin,
        json!({"start": "+442079460600", "end": "+442079460619"}),
    )
    .await;
    app.number(&admin, json!({"number": "+442079460620"})).await;
    let id = r["id"].as_str().unwrap().to_string();
    app.delete(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    app.get(&format!("/api/v1/numbers/{}", enc("+442079460605")))
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    let left = app.list_all(&admin, "/api/v1/numbers", 100).await;
    let got: Vec<&str> = left.iter().map(|n| n["number"].as_str().unwrap()).collect();
    assert_eq!(got, ["+442079460620"]);
    // The block is free again.
    range(
        &app,
        &admin,
        json!({"start": "+442079460600", "end": "+442079460619"}),
    )
    .await;
    app.delete(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn a_scoped_admin_sees_only_ranges_at_its_sites() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    let mine = range(
        &app,
        &owner,
        json!({"start": "+442079460700", "end": "+442079460709", "location_id": here}),
    )
    .await;
    let theirs = range(
        &app,
        &owner,
        json!({"start": "+442079460800", "end": "+442079460809", "location_id": there}),
    )
    .await;
    let admin = app.scoped_user(Role::Admin, &[&here], &[]).await;
    let listed = app.list_all(&admin, "/api/v1/ranges", 10).await;
    assert_eq!(listed, std::slice::from_ref(&mine));
    let theirs_path = format!("/api/v1/ranges/{}", theirs["id"].as_str().unwrap());
    app.get(&theirs_path)
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    app.patch(&theirs_path)
        .as_(&admin)
        .json(json!({"name": "mine"}))
        .send()
        .await
        .expect_error(404, "not_found");
    app.delete(&theirs_path)
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    // Moving its own range to a site outside the scope is refused: that site is as
    // absent to the admin as one that does not exist.
    app.patch(&format!("/api/v1/ranges/{}", mine["id"].as_str().unwrap()))
        .as_(&admin)
        .json(json!({"location_id": there, "apply_to_numbers": true}))
        .send()
        .await
        .expect_error(400, "unknown_location");
    let still = app
        .list_all(&owner, &format!("/api/v1/numbers?location={here}"), 100)
        .await;
    assert_eq!(still.len(), 10);
}

/// A range at the scoped admin's site with one number the owner moved to another site.
async fn range_with_a_number_moved_away() -> (TestApp, User, User, String, String, String) {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    let r = range(
        &app,
        &owner,
        json!({"start": "+442079460900", "end": "+442079460909", "location_id": here}),
    )
    .await;
    app.patch(&format!("/api/v1/numbers/{}", enc("+442079460905")))
        .as_(&owner)
        .json(json!({"location_id": there}))
        .send()
        .await
        .expect(200);
    let admin = app.scoped_user(Role::Admin, &[&here], &[]).await;
    app.get(&format!("/api/v1/numbers/{}", enc("+442079460905")))
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    let id = r["id"].as_str().unwrap().to_string();
    (app, owner, admin, id, here, there)
}

#[actix_web::test]
async fn applying_a_range_to_its_numbers_leaves_numbers_outside_the_callers_scope_alone() {
    let (app, owner, admin, id, _here, there) = range_with_a_number_moved_away().await;
    let r = app
        .patch(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .json(json!({"description": "relabelled", "tags": ["mine"], "apply_to_numbers": true}))
        .send()
        .await;
    assert!(
        r.status.is_success() || r.status.as_u16() == 403,
        "{} {}",
        r.status,
        r.text()
    );
    let moved = app
        .get(&format!("/api/v1/numbers/{}", enc("+442079460905")))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(
        moved["location_id"],
        there.as_str(),
        "a scoped admin moved a number it cannot see: {moved}"
    );
    assert_eq!(
        moved["tags"],
        json!([]),
        "a scoped admin retagged a number it cannot see: {moved}"
    );
    assert_eq!(
        moved["version"], 2,
        "a scoped admin changed a number it cannot see: {moved}"
    );
}

#[actix_web::test]
async fn deleting_a_range_cannot_remove_numbers_outside_the_callers_scope() {
    let (app, owner, admin, id, _here, _there) = range_with_a_number_moved_away().await;
    let r = app
        .delete(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .send()
        .await;
    assert!(
        matches!(r.status.as_u16(), 403 | 409),
        "a scoped admin deleted a range holding a number outside its scope: {} {}",
        r.status,
        r.text()
    );
    app.get(&format!("/api/v1/numbers/{}", enc("+442079460905")))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    // The owner, who sees every number, may.
    app.delete(&format!("/api/v1/ranges/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(204);
}

#[actix_web::test]
async fn a_stale_if_match_on_deleting_a_range_or_location_is_refused() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let r = range(
        &app,
        &admin,
        json!({"start": "+442079467000", "end": "+442079467009"}),
    )
    .await;
    let rpath = format!("/api/v1/ranges/{}", r["id"].as_str().unwrap());
    app.patch(&rpath)
        .as_(&admin)
        .json(json!({"name": "v2"}))
        .send()
        .await
        .expect(200);
    app.delete(&rpath)
        .as_(&admin)
        .header("if-match", "\"1\"")
        .send()
        .await
        .expect_error(412, "precondition_failed");
    app.get(&rpath).as_(&admin).send().await.expect(200);
    app.delete(&rpath)
        .as_(&admin)
        .header("if-match", "\"2\"")
        .send()
        .await
        .expect(204);

    let loc = app.location(&admin, "HQ", "GB").await;
    let lpath = format!("/api/v1/locations/{loc}");
    app.patch(&lpath)
        .as_(&admin)
        .json(json!({"city": "Leeds"}))
        .send()
        .await
        .expect(200);
    app.delete(&lpath)
        .as_(&admin)
        .header("if-match", "\"1\"")
        .send()
        .await
        .expect_error(412, "precondition_failed");
    app.get(&lpath).as_(&admin).send().await.expect(200);
    app.delete(&lpath)
        .as_(&admin)
        .header("if-match", "\"2\"")
        .send()
        .await
        .expect(204);
}

#[actix_web::test]
async fn a_range_with_a_number_in_use_cannot_be_deleted() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let r = range(
        &app,
        &admin,
        json!({"start": "+442079469000", "end": "+442079469009"}),
    )
    .await;
    let service = app
        .post("/api/v1/services")
        .as_(&admin)
        .json(json!({"name": "Queue", "kind": "call_queue"}))
        .send()
        .await
        .expect(201);
    let n = format!("/api/v1/numbers/{}", enc("+442079469004"));
    app.post(&format!("{n}/assign"))
        .as_(&admin)
        .json(json!({"target": {"kind": "service", "id": service["id"]}}))
        .send()
        .await
        .expect(200);
    let id = r["id"].as_str().unwrap();
    let got = app
        .get(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(got["utilisation"]["assigned"], 1);
    assert_eq!(got["utilisation"]["available"], 9);
    let details = app
        .delete(&format!("/api/v1/ranges/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect_error(409, "range_in_use");
    assert_eq!(details["utilisation"]["assigned"], 1, "{details}");
    assert_eq!(
        app.list_all(&admin, &format!("/api/v1/numbers?range={id}"), 100)
            .await
            .len(),
        10
    );
    // A number in use cannot be deleted on its own either.
    app.delete(&n)
        .as_(&admin)
        .send()
        .await
        .expect_error(409, "number_not_available");
    app.get(&n).as_(&admin).send().await.expect(200);
}

/// Creating, editing (with its numbers) and deleting a range each touch many numbers: each
/// is a change set of its own, listed by `GET /change-sets/{id}`.
#[actix_web::test]
async fn range_writes_are_change_sets() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let mark = app.audit_mark(&owner).await;
    let r = range(
        &app,
        &owner,
        json!({"start": "+442079460000", "end": "+442079460009"}),
    )
    .await;
    let id = r["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/ranges/{id}"))
        .as_(&owner)
        .json(json!({"description": "edited", "apply_to_numbers": true, "tags": ["Moved"]}))
        .send()
        .await
        .expect(200);
    app.delete(&format!("/api/v1/ranges/{id}"))
        .as_(&owner)
        .send()
        .await
        .expect(204);
    let records = app.audit_since(&owner, mark).await;
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["range.create", "range.update", "range.delete"]);
    let mut sets: Vec<&str> = records
        .iter()
        .map(|r| r["change_set_id"].as_str().expect("a change set id"))
        .collect();
    for cs in &sets {
        let listed = app
            .get(&format!("/api/v1/change-sets/{cs}"))
            .as_(&owner)
            .send()
            .await
            .expect(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    }
    sets.dedup();
    assert_eq!(sets.len(), 3, "one change set per action");
}
