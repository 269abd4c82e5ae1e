//! The number inventory through the API: normalisation, paging, filters, If-Match.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, enc};

fn numbers_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|n| n["number"].as_str().expect("number").to_string())
        .collect()
}

#[actix_web::test]
async fn numbers_are_stored_in_canonical_e164_whatever_the_notation() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Admin).await;
    let created = app
        .number(&owner, json!({"number": "+44 20 7123 4567"}))
        .await;
    assert_eq!(created["number"], "+442071234567");
    assert_eq!(created["base"], "+442071234567");
    assert_eq!(created["extension"], Value::Null);
    assert_eq!(created["country"], "GB");
    assert_eq!(created["status"], "available");
    assert_eq!(created["version"], 1);
    for notation in [
        "442071234567",
        "'+442071234567",
        "+44 (0)20 7123 4567",
        "00442071234567",
    ] {
        let details = app
            .post("/api/v1/numbers")
            .as_(&owner)
            .json(json!({"number": notation}))
            .send()
            .await
            .expect_error(409, "number_exists");
        assert_eq!(details["numbers"], json!(["+442071234567"]), "{notation}");
        let got = app
            .get(&format!("/api/v1/numbers/{}", enc(notation)))
            .as_(&owner)
            .send()
            .await
            .expect(200);
        assert_eq!(got["number"], "+442071234567", "{notation}");
    }
    let ext = app
        .number(&owner, json!({"number": "+1 (425) 555-0100;ext=12"}))
        .await;
    assert_eq!(ext["number"], "+14255550100;ext=12");
    assert_eq!(ext["base"], "+14255550100");
    assert_eq!(ext["extension"], "12");
    assert_eq!(ext["country"], "US");
    // The base number is a distinct number and can be added beside its extension.
    let base = app.number(&owner, json!({"number": "+14255550100"})).await;
    assert_eq!(base["extension"], Value::Null);
    let us = app.list_all(&owner, "/api/v1/numbers?country=us", 10).await;
    assert_eq!(numbers_of(&us), ["+14255550100", "+14255550100;ext=12"]);
    let got = app
        .get(&format!("/api/v1/numbers/{}", enc("+14255550100;ext=12")))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(got["extension"], "12");
}

#[actix_web::test]
async fn a_number_round_trips_with_its_details_and_etag() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let loc = app.location(&admin, "HQ", "GB").await;
    let r = app
        .post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({
            "number": "+442071235000",
            "location_id": loc,
            "tags": [" Sales ", "VIP"],
            "description": "reception",
            "number_type": "direct_routing",
        }))
        .send()
        .await;
    let created = r.expect(201);
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(created["location_id"], loc.as_str());
    let mut tags: Vec<String> = created["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["Sales", "VIP"]);
    assert_eq!(created["description"], "reception");
    assert_eq!(created["number_type"], "direct_routing");
    assert_eq!(created["range_id"], Value::Null);
    let r = app
        .get(&format!("/api/v1/numbers/{}", enc("+442071235000")))
        .as_(&admin)
        .send()
        .await;
    let got = r.expect(200);
    assert_eq!(got, created);
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    // Clearing with null, leaving absent fields alone.
    let r = app
        .patch(&format!("/api/v1/numbers/{}", enc("+442071235000")))
        .as_(&admin)
        .json(json!({"location_id": null, "number_type": null}))
        .send()
        .await;
    let patched = r.expect(200);
    assert_eq!(patched["location_id"], Value::Null);
    assert_eq!(patched["number_type"], Value::Null);
    assert_eq!(patched["description"], "reception");
    assert_eq!(patched["tags"], created["tags"]);
    assert_eq!(patched["version"], 2);
    assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
}

#[actix_web::test]
async fn a_stale_if_match_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let op = app.user(Role::Admin).await;
    app.number(&op, json!({"number": "+442071235100", "description": "v1"}))
        .await;
    let path = format!("/api/v1/numbers/{}", enc("+442071235100"));
    let etag = app
        .get(&path)
        .as_(&op)
        .send()
        .await
        .header("etag")
        .expect("etag");
    assert_eq!(etag, "\"1\"");
    // Someone else changes it.
    app.patch(&path)
        .as_(&op)
        .json(json!({"description": "v2"}))
        .send()
        .await
        .expect(200);
    let details = app
        .patch(&path)
        .as_(&op)
        .header("if-match", &etag)
        .json(json!({"description": "lost update"}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    assert_eq!(details["current_version"], 2);
    app.delete(&path)
        .as_(&op)
        .header("if-match", &etag)
        .send()
        .await
        .expect_error(412, "precondition_failed");
    let r = app.get(&path).as_(&op).send().await;
    let now = r.expect(200);
    assert_eq!(now["description"], "v2");
    assert_eq!(now["version"], 2);
    let etag = r.header("etag").expect("etag");
    // The current ETag (also in its weak form) is accepted.
    let r = app
        .patch(&path)
        .as_(&op)
        .header("if-match", &format!("W/{etag}"))
        .json(json!({"description": "v3"}))
        .send()
        .await;
    assert_eq!(r.expect(200)["description"], "v3");
    assert_eq!(r.header("etag").as_deref(), Some("\"3\""));
    app.patch(&path)
        .as_(&op)
        .header("if-match", "yesterday")
        .json(json!({"description": "x"}))
        .send()
        .await
        .expect_invalid("invalid_field", "If-Match");
    app.delete(&path)
        .as_(&op)
        .header("if-match", "\"3\"")
        .send()
        .await
        .expect(204);
    app.get(&path)
        .as_(&op)
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn if_match_guards_locations_and_ranges_too() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let loc = app.location(&admin, "HQ", "GB").await;
    let lpath = format!("/api/v1/locations/{loc}");
    app.patch(&lpath)
        .as_(&admin)
        .header("if-match", "\"2\"")
        .json(json!({"city": "Leeds"}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    assert_eq!(
        app.get(&lpath).as_(&admin).send().await.expect(200)["city"],
        Value::Null
    );
    let r = app
        .patch(&lpath)
        .as_(&admin)
        .header("if-match", "\"1\"")
        .json(json!({"city": "Leeds"}))
        .send()
        .await;
    assert_eq!(r.expect(200)["city"], "Leeds");
    assert_eq!(r.header("etag").as_deref(), Some("\"2\""));

    let range = app
        .post("/api/v1/ranges")
        .as_(&admin)
        .json(json!({"start": "+442079465000", "end": "+442079465009"}))
        .send()
        .await
        .expect(201);
    let rpath = format!("/api/v1/ranges/{}", range["id"].as_str().unwrap());
    app.patch(&rpath)
        .as_(&admin)
        .header("if-match", "\"9\"")
        .json(json!({"name": "Stale"}))
        .send()
        .await
        .expect_error(412, "precondition_failed");
    assert_eq!(
        app.get(&rpath).as_(&admin).send().await.expect(200)["name"],
        Value::Null
    );
    let r = app
        .patch(&rpath)
        .as_(&admin)
        .header("if-match", "\"1\"")
        .json(json!({"name": "Fresh"}))
        .send()
        .await;
    assert_eq!(r.expect(200)["name"], "Fresh");
    assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
}

#[actix_web::test]
async fn paging_with_a_small_limit_visits_every_number_once_in_order() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    // Created out of order, so the order seen can only come from the server.
    let mut want: Vec<String> = (0..250)
        .map(|i| format!("+4420712{:02}{:03}", 60 + i % 5, i))
        .collect();
    let items: Vec<Value> = want.iter().rev().map(|n| json!({"number": n})).collect();
    let created = app
        .post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({"items": items}))
        .send()
        .await
        .expect(201);
    assert_eq!(created["items"].as_array().unwrap().len(), 250);
    want.sort();
    let mut pages = 0;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/numbers?limit=7&cursor={}", enc(c)),
            None => "/api/v1/numbers?limit=7".to_string(),
        };
        let page = app.get(&url).as_(&admin).send().await.expect(200);
        let items = page["items"].as_array().unwrap();
        pages += 1;
        assert!(items.len() <= 7);
        seen.extend(numbers_of(items));
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 7, "a short page before the end");
                cursor = Some(c.to_string());
            }
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    assert_eq!(pages, 250_usize.div_ceil(7));
    assert_eq!(seen, want);
    // The default page is 50.
    let page = app
        .get("/api/v1/numbers")
        .as_(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
    assert!(page["next_cursor"].is_string());
    let page = app
        .get("/api/v1/numbers?limit=1000")
        .as_(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 250);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn list_filters_combine() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let a = app.location(&admin, "A", "GB").await;
    let b = app.location(&admin, "B", "GB").await;
    let rows = [
        ("+442071236001", &a, json!(["sales", "vip"]), "front desk"),
        ("+442071236002", &a, json!(["Sales"]), ""),
        ("+442071236003", &b, json!(["sales", "vip"]), ""),
        ("+442071236004", &a, json!(["vip"]), "boardroom"),
        ("+442071236005", &b, json!([]), ""),
    ];
    for (n, loc, tags, d) in &rows {
        app.number(
            &admin,
            json!({"number": n, "location_id": loc, "tags": tags, "description": d}),
        )
        .await;
    }
    app.number(&admin, json!({"number": "+4930123456", "tags": ["sales"]}))
        .await;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "tag=sales".into(),
            vec![
                "+442071236001",
                "+442071236002",
                "+442071236003",
                "+4930123456",
            ],
        ),
        (
            "tag=SALES,vip".into(),
            vec!["+442071236001", "+442071236003"],
        ),
        (
            format!("tag=sales&location={a}"),
            vec!["+442071236001", "+442071236002"],
        ),
        (
            format!("tag=sales,vip&location={a}&status=available"),
            vec!["+442071236001"],
        ),
        (format!("tag=sales&location={a}&status=assigned"), vec![]),
        (
            format!("location={b}"),
            vec!["+442071236003", "+442071236005"],
        ),
        ("tag=nosuchtag".into(), vec![]),
        ("country=DE".into(), vec!["+4930123456"]),
        (
            "country=gb&tag=vip".into(),
            vec!["+442071236001", "+442071236003", "+442071236004"],
        ),
        ("q=6004".into(), vec!["+442071236004"]),
        ("q=%2B44%2020%207123%206001".into(), vec!["+442071236001"]),
        ("q=board".into(), vec!["+442071236004"]),
        ("q=DESK&tag=vip".into(), vec!["+442071236001"]),
    ];
    for (query, want) in cases {
        let got = app
            .list_all(&admin, &format!("/api/v1/numbers?{query}"), 2)
            .await;
        assert_eq!(numbers_of(&got), want, "?{query}");
    }
    app.get("/api/v1/numbers?status=lost")
        .as_(&admin)
        .send()
        .await
        .expect_invalid("invalid_query", "status");
    app.get("/api/v1/numbers?location=abc")
        .as_(&admin)
        .send()
        .await
        .expect_invalid("invalid_field", "location");
    // Searches that no index can serve, or that are not what they look like, are refused
    // rather than read the whole estate or match nothing in silence.
    let long = "a".repeat(201);
    for (query, field) in [
        ("q=12", "q"),
        ("q=%2B1%20(2)", "q"),
        ("q=a%20b%20c", "q"),
        (&format!("q={long}") as &str, "q"),
        ("country=GBR", "country"),
        ("country=4", "country"),
        (&format!("assigned_to={}", "x".repeat(321)), "assigned_to"),
    ] {
        app.get(&format!("/api/v1/numbers?{query}"))
            .as_(&admin)
            .send()
            .await
            .expect_invalid("invalid_query", field);
    }
}

#[actix_web::test]
async fn a_batch_is_all_or_nothing() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.number(&admin, json!({"number": "+442071237002"})).await;
    let details = app
        .post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({"items": [
            {"number": "+442071237001"},
            {"number": "+442071237002"},
            {"number": "+442071237003"},
        ]}))
        .send()
        .await
        .expect_error(409, "number_exists");
    assert_eq!(details["numbers"], json!(["+442071237002"]));
    app.post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({"items": [
            {"number": "+442071237004"},
            {"number": "+44 20 7123 7004"},
        ]}))
        .send()
        .await
        .expect_field("items[1].number");
    let all = app.list_all(&admin, "/api/v1/numbers", 50).await;
    assert_eq!(numbers_of(&all), ["+442071237002"]);
}

#[actix_web::test]
async fn only_an_admin_deletes_and_only_an_existing_number() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.number(&admin, json!({"number": "+442071238001"})).await;
    let path = format!("/api/v1/numbers/{}", enc("+442071238001"));
    app.delete(&path).as_(&admin).send().await.expect(204);
    app.delete(&path)
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    app.patch(&path)
        .as_(&admin)
        .json(json!({"description": "x"}))
        .send()
        .await
        .expect_error(404, "not_found");
    // A deleted number can be added again, and its history survives for unscoped readers.
    app.number(&admin, json!({"number": "+442071238001"})).await;
    let h = app
        .get(&format!("{path}/history"))
        .as_(&admin)
        .send()
        .await
        .expect(200);
    let actions: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["number.create", "number.delete", "number.create"]);
}

#[actix_web::test]
async fn tags_and_stats_count_the_estate() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let loc = app.location(&admin, "HQ", "GB").await;
    app.number(
        &admin,
        json!({"number": "+442071239001", "tags": ["Sales"], "location_id": loc}),
    )
    .await;
    app.number(
        &admin,
        json!({"number": "+442071239002", "tags": ["sales", "vip"]}),
    )
    .await;
    app.post("/api/v1/ranges")
        .as_(&admin)
        .json(json!({"start": "+442079466000", "end": "+442079466004", "tags": ["vip"], "location_id": loc}))
        .send()
        .await
        .expect(201);
    let tags = app.get("/api/v1/tags").as_(&admin).send().await.expect(200);
    let counts: Vec<(String, i64, i64)> = tags["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_lowercase(),
                t["numbers"].as_i64().unwrap(),
                t["ranges"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [("sales".into(), 2, 0), ("vip".into(), 6, 1)]);
    let stats = app
        .get("/api/v1/stats")
        .as_(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(
        stats["totals"],
        json!({"available": 7, "reserved": 0, "assigned": 0, "quarantined": 0, "total": 7})
    );
    let at_hq = stats["by_location"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == loc.as_str())
        .unwrap_or_else(|| panic!("no HQ group in {stats}"));
    assert_eq!(at_hq["name"], "HQ");
    assert_eq!(at_hq["counts"]["total"], 6);
    let ranges = stats["by_range"].as_array().unwrap();
    let in_ranges: Vec<i64> = ranges
        .iter()
        .filter(|g| g["id"] != "")
        .map(|g| g["counts"]["total"].as_i64().unwrap())
        .collect();
    assert_eq!(in_ranges, [5], "{stats}");
    let outside = ranges
        .iter()
        .find(|g| g["id"] == "")
        .unwrap_or_else(|| panic!("no group for numbers outside ranges in {stats}"));
    assert_eq!(outside["counts"]["total"], 2, "{stats}");
    let tags: Vec<(String, i64)> = stats["by_tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap().to_lowercase(),
                g["counts"]["total"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tags, [("sales".into(), 2), ("vip".into(), 6)]);
}

#[actix_web::test]
async fn locations_are_unique_by_name_and_cannot_go_while_used() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let r = app
        .post("/api/v1/locations")
        .as_(&admin)
        .json(json!({"name": " London HQ ", "country": "gb", "city": "London"}))
        .send()
        .await;
    let loc = r.expect(201);
    assert_eq!(loc["name"], "London HQ");
    assert_eq!(loc["country"], "GB");
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    let id = loc["id"].as_str().unwrap().to_string();
    app.post("/api/v1/locations")
        .as_(&admin)
        .json(json!({"name": "london hq", "country": "GB"}))
        .send()
        .await
        .expect_error(409, "location_exists");
    let other = app.location(&admin, "Leeds", "GB").await;
    app.patch(&format!("/api/v1/locations/{other}"))
        .as_(&admin)
        .json(json!({"name": "LONDON HQ"}))
        .send()
        .await
        .expect_error(409, "location_exists");
    let r = app
        .post("/api/v1/locations")
        .as_(&admin)
        .json(json!({"name": "Nowhere", "country": "XX"}))
        .send()
        .await;
    r.expect_field("country");
    let listed = app.list_all(&admin, "/api/v1/locations?q=london", 10).await;
    assert_eq!(listed.len(), 1);
    app.number(
        &admin,
        json!({"number": "+442071239101", "location_id": id}),
    )
    .await;
    let details = app
        .delete(&format!("/api/v1/locations/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect_error(409, "location_in_use");
    assert_eq!(details["numbers"], 1);
    app.delete(&format!("/api/v1/numbers/{}", enc("+442071239101")))
        .as_(&admin)
        .send()
        .await
        .expect(204);
    app.delete(&format!("/api/v1/locations/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect(204);
    app.get(&format!("/api/v1/locations/{id}"))
        .as_(&admin)
        .send()
        .await
        .expect_error(404, "not_found");
    // A number cannot point at a site that does not exist.
    let r = app
        .post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({"number": "+442071239102", "location_id": id}))
        .send()
        .await;
    r.expect_field("location_id");
}
