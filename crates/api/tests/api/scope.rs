//! Scope holds in refusals too: out-of-scope objects look absent in conflicts and plans,
//! a grant limited to tags reaches no site beyond its numbers', and a tag-scoped delete
//! is refused for what it is.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{Resp, TestApp, User, enc};

/// Asserts the generic conflict: 409 `conflict`, no details, and a message that names
/// none of `hidden`.
#[track_caller]
fn assert_names_nothing(r: &Resp, hidden: &[&str]) {
    let details = r.expect_error(409, "conflict");
    assert_eq!(details, json!({}), "{}", r.text());
    for h in hidden {
        assert!(!r.text().contains(h), "{h} in {}", r.text());
    }
}

async fn range(app: &TestApp, by: &User, body: Value) -> Resp {
    app.post("/api/v1/ranges").as_(by).json(body).send().await
}

#[actix_web::test]
async fn a_tag_scoped_admin_deleting_a_number_in_use_is_told_it_is_not_available() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.scoped_user(Role::Admin, &[], &["sales"]).await;
    let n = "+442071236001";
    let path = format!("/api/v1/numbers/{}", enc(n));
    app.number(&owner, json!({"number": n, "tags": ["Sales"]}))
        .await;
    let service = app
        .post("/api/v1/services")
        .as_(&owner)
        .json(json!({"name": "Reception", "kind": "call_queue"}))
        .send()
        .await
        .expect(201);
    app.post(&format!("{path}/assign"))
        .as_(&owner)
        .json(json!({"target": {"kind": "service", "id": service["id"]}}))
        .send()
        .await
        .expect(200);
    app.delete(&path)
        .as_(&admin)
        .send()
        .await
        .expect_error(409, "number_not_available");
    let kept = app.get(&path).as_(&admin).send().await.expect(200);
    assert_eq!(kept["tags"], json!(["Sales"]));
    assert_eq!(kept["status"], "assigned");
    // Once available, the same admin deletes it, tags and all.
    let freed = app
        .post(&format!("{path}/unassign"))
        .as_(&owner)
        .json(json!({"quarantine_days": 0}))
        .send()
        .await
        .expect(200);
    assert_eq!(freed["status"], "available");
    app.delete(&path).as_(&admin).send().await.expect(204);
    app.get(&path)
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn a_grant_limited_to_tags_reads_only_the_sites_of_its_numbers_and_changes_none() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let ranged = app.location(&owner, "Ranged", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    app.number(
        &owner,
        json!({"number": "+442071236101", "location_id": here, "tags": ["sales"]}),
    )
    .await;
    app.number(
        &owner,
        json!({"number": "+442071236102", "location_id": there, "tags": ["support"]}),
    )
    .await;
    range(
        &app,
        &owner,
        json!({"start": "+442079461000", "end": "+442079461009", "location_id": ranged, "tags": ["sales"]}),
    )
    .await
    .expect(201);
    let tagged = app.scoped_user(Role::Admin, &[], &["sales"]).await;

    let seen: Vec<Value> = app.list_all(&tagged, "/api/v1/locations", 1).await;
    let ids: Vec<&str> = seen.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [here.as_str(), ranged.as_str()]);
    let at = |id: &str| format!("/api/v1/locations/{id}");
    app.get(&at(&here)).as_(&tagged).send().await.expect(200);
    app.get(&at(&there))
        .as_(&tagged)
        .send()
        .await
        .expect_error(404, "not_found");
    // It changes none: the ones it sees are refused, the others are not found.
    app.patch(&at(&here))
        .as_(&tagged)
        .json(json!({"name": "Renamed"}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    app.delete(&at(&here))
        .as_(&tagged)
        .send()
        .await
        .expect_error(403, "out_of_scope");
    app.patch(&at(&there))
        .as_(&tagged)
        .json(json!({"name": "Renamed"}))
        .send()
        .await
        .expect_error(404, "not_found");
    app.delete(&at(&there))
        .as_(&tagged)
        .send()
        .await
        .expect_error(404, "not_found");
    app.post("/api/v1/locations")
        .as_(&tagged)
        .json(json!({"name": "Elsewhere", "country": "GB"}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    let names: Vec<String> = app
        .list_all(&owner, "/api/v1/locations", 10)
        .await
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Here", "Ranged", "There"]);
    // A grant that lists a site still edits it, but hears nothing of the sites it does
    // not list, not even when it picks one's name.
    let listed = app.scoped_user(Role::Admin, &[&here, &ranged], &[]).await;
    app.patch(&at(&here))
        .as_(&listed)
        .json(json!({"city": "London"}))
        .send()
        .await
        .expect(200);
    let r = app
        .patch(&at(&here))
        .as_(&listed)
        .json(json!({"name": "THERE"}))
        .send()
        .await;
    assert_names_nothing(&r, &["There", "THERE"]);
    app.patch(&at(&here))
        .as_(&listed)
        .json(json!({"name": "ranged"}))
        .send()
        .await
        .expect_error(409, "location_exists");
}

#[actix_web::test]
async fn a_range_overlapping_one_outside_the_scope_is_a_conflict_that_names_nothing() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    range(
        &app,
        &owner,
        json!({"name": "Secret", "start": "+442079460100", "end": "+442079460199", "location_id": there}),
    )
    .await
    .expect(201);
    range(
        &app,
        &owner,
        json!({"name": "Mine", "start": "+442079460300", "end": "+442079460399", "location_id": here}),
    )
    .await
    .expect(201);
    app.number(
        &owner,
        json!({"number": "+442079460505", "location_id": there}),
    )
    .await;
    app.number(
        &owner,
        json!({"number": "+442079460605", "location_id": here}),
    )
    .await;
    for (admin, tags) in [
        (app.scoped_user(Role::Admin, &[&here], &[]).await, json!([])),
        (
            app.scoped_user(Role::Admin, &[&here], &["sales"]).await,
            json!(["sales"]),
        ),
    ] {
        let at_here = |start: &str, end: &str| json!({"start": start, "end": end, "location_id": here, "tags": tags});
        // Overlapping the out-of-scope range, and both ranges at once.
        for (start, end) in [
            ("+442079460150", "+442079460250"),
            ("+442079460150", "+442079460350"),
        ] {
            let r = range(&app, &admin, at_here(start, end)).await;
            assert_names_nothing(&r, &["Secret", "+442079460100", "+442079460199"]);
        }
        // Over a number outside the scope.
        let r = range(&app, &admin, at_here("+442079460500", "+442079460509")).await;
        assert_names_nothing(&r, &["+442079460505"]);
    }
    // What is in scope is still named.
    let admin = app.scoped_user(Role::Admin, &[&here], &[]).await;
    let details = range(
        &app,
        &admin,
        json!({"start": "+442079460350", "end": "+442079460450", "location_id": here}),
    )
    .await
    .expect_error(409, "range_overlap");
    assert_eq!(details["ranges"][0]["name"], "Mine");
    let details = range(
        &app,
        &admin,
        json!({"start": "+442079460600", "end": "+442079460609", "location_id": here}),
    )
    .await
    .expect_error(409, "numbers_exist");
    assert_eq!(details["numbers"], json!(["+442079460605"]));
    // Nothing was created.
    assert_eq!(app.list_all(&owner, "/api/v1/ranges", 10).await.len(), 2);
}

#[actix_web::test]
async fn creating_a_number_that_exists_outside_the_scope_is_a_conflict_that_names_nothing() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    app.number(
        &owner,
        json!({"number": "+442071236201", "location_id": there}),
    )
    .await;
    app.number(
        &owner,
        json!({"number": "+442071236202", "location_id": here, "tags": ["sales"]}),
    )
    .await;
    app.number(&owner, json!({"number": "+442071236203"})).await;
    let by_site = app.scoped_user(Role::Admin, &[&here], &[]).await;
    let by_tag = app.scoped_user(Role::Admin, &[], &["sales"]).await;
    for (who, body) in [
        (
            &by_site,
            json!({"number": "+442071236201", "location_id": here}),
        ),
        (
            &by_site,
            json!({"number": "+442071236203", "location_id": here}),
        ),
        (
            &by_tag,
            json!({"number": "+442071236201", "tags": ["sales"]}),
        ),
        (
            &by_site,
            json!({"items": [
                {"number": "+442071236204", "location_id": here},
                {"number": "+442071236201", "location_id": here},
            ]}),
        ),
    ] {
        let r = app.post("/api/v1/numbers").as_(who).json(body).send().await;
        assert_names_nothing(&r, &["+442071236201", "+442071236203"]);
    }
    // A number in scope is named.
    let details = app
        .post("/api/v1/numbers")
        .as_(&by_tag)
        .json(json!({"number": "+442071236202", "tags": ["sales"]}))
        .send()
        .await
        .expect_error(409, "number_exists");
    assert_eq!(details["numbers"], json!(["+442071236202"]));
    app.get(&format!("/api/v1/numbers/{}", enc("+442071236204")))
        .as_(&owner)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn an_import_line_does_not_tell_an_existing_number_outside_the_scope_from_one_it_cannot_create()
 {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    app.number(
        &owner,
        json!({"number": "+442071236301", "location_id": there}),
    )
    .await;
    let admin = app.scoped_user(Role::Admin, &[&here], &[]).await;
    let plan = app
        .post("/api/v1/imports")
        .as_(&admin)
        .header("content-type", "text/csv")
        .bytes(
            "number,description,location\n\
             +442071236301,exists elsewhere,Here\n\
             +442071236302,new nowhere,\n\
             +442071236303,new here,Here\n",
        )
        .send()
        .await
        .expect(201);
    let rows = plan["rows"].as_array().unwrap();
    let errors: Vec<(u64, Value)> = rows
        .iter()
        .filter(|r| !r["errors"].as_array().unwrap().is_empty())
        .map(|r| (r["line"].as_u64().unwrap(), r["errors"].clone()))
        .collect();
    assert_eq!(errors.len(), 2, "{plan:#}");
    assert_eq!((errors[0].0, errors[1].0), (2, 3));
    let reason = |e: &Value| e[0]["reason"].as_str().unwrap().to_string();
    assert_eq!(
        reason(&errors[0].1),
        reason(&errors[1].1),
        "the two refusals read the same"
    );
    assert_eq!(errors[0].1[0]["column"], errors[1].1[0]["column"]);
    assert!(!reason(&errors[0].1).contains("+442071236301"));
}

#[actix_web::test]
async fn a_scoped_revert_plan_shows_only_the_numbers_in_scope() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let london = app.location(&owner, "London", "GB").await;
    let leeds = app.location(&owner, "Leeds", "GB").await;
    for (n, at) in [("+442071237001", &london), ("+441132400001", &leeds)] {
        app.number(&owner, json!({"number": n, "location_id": at}))
            .await;
    }
    let plan = app
        .post("/api/v1/imports")
        .as_(&owner)
        .header("content-type", "text/csv")
        .bytes("number,description\n+442071237001,edited\n+441132400001,edited\n")
        .send()
        .await
        .expect(201);
    let done = app
        .post(&format!(
            "/api/v1/imports/{}/apply",
            plan["id"].as_str().unwrap()
        ))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    let cs = done["change_set_id"].as_str().unwrap();
    let admin = app.scoped_user(Role::Admin, &[&leeds], &[]).await;
    let revert = app
        .post(&format!("/api/v1/change-sets/{cs}/revert"))
        .as_(&admin)
        .json(json!({}))
        .send()
        .await
        .expect(201);
    let rows = revert["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{revert:#}");
    assert_eq!(rows[0]["number"], "+441132400001");
    assert!(
        !revert.to_string().contains("+442071237001"),
        "the out-of-scope number is not named: {revert:#}"
    );
}

#[actix_web::test]
async fn a_site_outside_the_grant_answers_like_a_site_that_does_not_exist() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let london = app.location(&owner, "London HQ", "GB").await;
    let leeds = app.location(&owner, "Leeds", "GB").await;
    app.number(
        &owner,
        json!({"number": "+441132400002", "location_id": leeds, "tags": ["North"]}),
    )
    .await;
    let by_site = app.scoped_user(Role::Admin, &[&leeds], &[]).await;
    let path = format!("/api/v1/numbers/{}", enc("+441132400002"));
    for missing in [london.as_str(), "999999"] {
        let r = app
            .patch(&path)
            .as_(&by_site)
            .json(json!({"location_id": missing}))
            .send()
            .await;
        r.expect_error(400, "unknown_location");
    }
    // Plans neither resolve nor tell apart sites the caller cannot see.
    let by_tag = app.scoped_user(Role::Admin, &[], &["north"]).await;
    for (who, cell) in [(&by_site, "London HQ"), (&by_tag, london.as_str())] {
        let p = app
            .post("/api/v1/imports")
            .as_(who)
            .header("content-type", "text/csv")
            .bytes(format!("number,location\n+441132400002,{cell}\n"))
            .send()
            .await
            .expect(201);
        let text = p.to_string();
        assert!(!text.contains("London HQ\""), "{p:#}");
        assert_eq!(p["rows"][0]["errors"][0]["column"], "location", "{p:#}");
        assert!(
            p["rows"][0]["errors"][0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("no location"),
            "{p:#}"
        );
    }
}
