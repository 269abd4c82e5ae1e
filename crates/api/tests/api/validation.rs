//! Bad input: every refusal is the one envelope, with the right status and a
//! `details.field` naming what to fix.

use domain::Role;
use serde_json::json;

use crate::common::{Resp, TestApp};

#[actix_web::test]
async fn a_bad_number_is_refused_naming_the_number_field() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    for bad in [
        "abc",
        "+1234",
        "+4420712345678901234",
        "",
        "+14255550100;ext=12a",
        "=1+1",
    ] {
        let r = app
            .post("/api/v1/numbers")
            .as_(&admin)
            .json(json!({"number": bad}))
            .send()
            .await;
        r.expect_invalid("invalid_number", "number");
    }
    // In the path it is the same refusal.
    app.get("/api/v1/numbers/abc")
        .as_(&admin)
        .send()
        .await
        .expect_invalid("invalid_number", "number");
    assert!(app.list_all(&admin, "/api/v1/numbers", 10).await.is_empty());
}

#[actix_web::test]
async fn a_bad_item_in_a_batch_is_named_by_its_index_and_nothing_is_created() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let cases = [
        (
            json!([{"number": "+442071230101"}, {"number": "abc"}]),
            "invalid_number",
            "items[1].number",
        ),
        (
            json!([{"number": "+442071230101"}, {"number": "+442071230102"}, {"number": "+442071230103", "number_type": "pigeon"}]),
            "invalid_field",
            "items[2].number_type",
        ),
        (
            json!([{"number": "+442071230101", "location_id": "nope"}]),
            "invalid_field",
            "items[0].location_id",
        ),
        (
            json!([{"number": "+442071230101", "description": "x".repeat(1001)}]),
            "invalid_field",
            "items[0].description",
        ),
    ];
    for (items, code, field) in cases {
        app.post("/api/v1/numbers")
            .as_(&admin)
            .json(json!({ "items": items }))
            .send()
            .await
            .expect_invalid(code, field);
    }
    assert!(app.list_all(&admin, "/api/v1/numbers", 10).await.is_empty());
}

#[actix_web::test]
async fn a_value_of_the_wrong_json_type_is_named_by_its_path() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let cases = [
        (
            "/api/v1/locations",
            json!({"name": 1, "country": "GB"}),
            "name",
        ),
        ("/api/v1/locations", json!({"country": "GB"}), "name"),
        (
            "/api/v1/ranges",
            json!({"start": "+442079460000", "end": ["x"]}),
            "end",
        ),
        (
            "/api/v1/ranges",
            json!({"start": "+442079460000", "end": "+442079460001", "tags": "a"}),
            "tags",
        ),
        (
            "/api/v1/admins",
            json!({"username": "x", "password": "password123", "role": "viewer", "scope": {"tags": [1]}}),
            "scope.tags[0]",
        ),
        ("/api/v1/numbers", json!({"number": 1}), "number"),
        (
            "/api/v1/numbers",
            json!({"number": "+442071230101", "tags": "sales"}),
            "tags",
        ),
        (
            "/api/v1/numbers",
            json!({"items": [{"number": "+442071230101"}, {"number": 5}]}),
            "items[1].number",
        ),
    ];
    let owner = app.user(Role::Owner).await;
    for (path, body, field) in cases {
        let who = if path.contains("admins") {
            &owner
        } else {
            &admin
        };
        app.post(path)
            .as_(who)
            .json(body.clone())
            .send()
            .await
            .expect_invalid("invalid_json", field);
    }
}

#[actix_web::test]
async fn an_unknown_field_is_refused_by_name() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.post("/api/v1/locations")
        .as_(&admin)
        .json(json!({"name": "HQ", "country": "GB", "colour": "red"}))
        .send()
        .await
        .expect_invalid("invalid_json", "colour");
    let loc = app.location(&admin, "HQ", "GB").await;
    app.patch(&format!("/api/v1/locations/{loc}"))
        .as_(&admin)
        .json(json!({"nmae": "typo"}))
        .send()
        .await
        .expect_invalid("invalid_json", "nmae");
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_refused() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let r = app
        .post("/api/v1/locations")
        .as_(&admin)
        .payload("{\"name\": \"HQ\", \"country\": \"GB\"}")
        .send()
        .await;
    r.expect_error(415, "unsupported_media_type");
    let r = app
        .post("/api/v1/locations")
        .as_(&admin)
        .header("content-type", "text/plain")
        .payload("{\"name\": \"HQ\", \"country\": \"GB\"}")
        .send()
        .await;
    r.expect_error(415, "unsupported_media_type");
    let r = app
        .post("/api/v1/locations")
        .as_(&admin)
        .header("content-type", "application/json")
        .payload("{\"name\": \"HQ\",")
        .send()
        .await;
    r.expect_error(400, "invalid_json");
    // With a charset it is still JSON.
    app.post("/api/v1/locations")
        .as_(&admin)
        .header("content-type", "application/json; charset=utf-8")
        .payload("{\"name\": \"HQ\", \"country\": \"GB\"}")
        .send()
        .await
        .expect(201);
}

#[actix_web::test]
async fn an_unknown_route_is_a_404_envelope() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    for path in [
        "/api/v1/nothing",
        "/api/v2/numbers",
        // (A path outside the API is the web app's: see webapp.rs.)
        "/api/v1/numbers/+442071230101/nothing",
    ] {
        app.get(path)
            .as_(&admin)
            .send()
            .await
            .expect_error(404, "not_found");
        app.get(path).send().await.expect_error(404, "not_found");
    }
    let r = app
        .req(actix_web::http::Method::PUT, "/api/v1/numbers")
        .as_(&admin)
        .json(json!({}))
        .send()
        .await;
    assert!(matches!(r.status.as_u16(), 404 | 405), "{}", r.text());
    crate::common::assert_envelope("PUT /api/v1/numbers", &r.json());
}

#[actix_web::test]
async fn a_limit_outside_one_to_a_thousand_is_refused() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    for path in [
        "/api/v1/numbers",
        "/api/v1/ranges",
        "/api/v1/locations",
        "/api/v1/audit",
    ] {
        for limit in ["0", "1001", "-1"] {
            app.get(&format!("{path}?limit={limit}"))
                .as_(&viewer)
                .send()
                .await
                .expect_invalid("invalid_limit", "limit");
        }
        app.get(&format!("{path}?limit=1000"))
            .as_(&viewer)
            .send()
            .await
            .expect(200);
        app.get(&format!("{path}?limit=1"))
            .as_(&viewer)
            .send()
            .await
            .expect(200);
    }
}

#[actix_web::test]
async fn a_limit_that_is_not_a_number_is_refused_naming_limit() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    app.get("/api/v1/numbers?limit=ten")
        .as_(&viewer)
        .send()
        .await
        .expect_invalid("invalid_query", "limit");
}

#[actix_web::test]
async fn stats_days_outside_one_to_366_is_refused_naming_days() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    for days in ["0", "-1", "367", "99999999999999999999", "ninety", ""] {
        let r = app
            .get(&format!("/api/v1/stats?days={days}"))
            .as_(&viewer)
            .send()
            .await;
        r.expect_invalid("invalid_query", "days");
        let message = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.starts_with("days: "), "{days}: {message}");
    }
    // Authentication still answers first.
    app.get("/api/v1/stats?days=0")
        .send()
        .await
        .expect_error(401, "unauthenticated");
}

#[actix_web::test]
async fn stats_give_the_daily_series_over_the_days_asked_for() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.number(&admin, json!({"number": "+442071239001"})).await;
    let queue = app.service(&admin, "Reception").await;
    app.post(&format!(
        "/api/v1/numbers/{}/assign",
        crate::common::enc("+442071239001")
    ))
    .as_(&admin)
    .json(json!({"target": {"kind": "service", "id": queue}}))
    .send()
    .await
    .expect(200);
    for (query, days) in [
        ("", 30),
        ("?days=90", 90),
        ("?days=1", 1),
        ("?days=366", 366),
    ] {
        let stats = app
            .get(&format!("/api/v1/stats{query}"))
            .as_(&admin)
            .send()
            .await
            .expect(200);
        let daily = stats["daily"].as_array().unwrap();
        assert_eq!(daily.len(), days, "{query}");
        assert_eq!(daily.last().unwrap()["assignments"], 1, "{query}: today's");
        assert_eq!(
            daily
                .iter()
                .map(|d| d["assignments"].as_i64().unwrap())
                .sum::<i64>(),
            1
        );
        // The rate keeps its 30 days whatever the series.
        assert_eq!(stats["assignments_last_30_days"], 1, "{query}");
    }
}

#[actix_web::test]
async fn an_unknown_query_parameter_is_refused_by_name() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    app.get("/api/v1/numbers?stauts=available")
        .as_(&viewer)
        .send()
        .await
        .expect_invalid("invalid_query", "stauts");
}

#[actix_web::test]
async fn a_cursor_the_server_did_not_issue_is_refused() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    for path in [
        "/api/v1/numbers",
        "/api/v1/ranges",
        "/api/v1/locations",
        "/api/v1/audit",
        "/api/v1/admins",
        "/api/v1/api-tokens",
    ] {
        app.get(&format!("{path}?cursor=%21%21%21"))
            .as_(&owner)
            .send()
            .await
            .expect_invalid("invalid_cursor", "cursor");
    }
    // Decodable but not an id, for the lists keyed by id.
    app.get("/api/v1/ranges?cursor=bm90LWFuLWlk")
        .as_(&owner)
        .send()
        .await
        .expect_invalid("invalid_cursor", "cursor");
}

#[actix_web::test]
async fn a_401_says_how_to_authenticate() {
    let app = TestApp::new().await;
    for path in ["/api/v1/numbers", "/api/v1/me", "/api/v1/admins"] {
        let r = app.get(path).send().await;
        r.expect_error(401, "unauthenticated");
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Bearer"),
            "{path}"
        );
        assert!(r.header("x-request-id").is_some());
    }
    let r = app.login("nobody", "password123").await;
    r.expect_error(401, "invalid_credentials");
    assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
}

#[actix_web::test]
async fn invalid_tags_and_descriptions_are_named() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let cases = [
        (json!({"number": "+442071230101", "tags": [""]}), "tags"),
        (
            json!({"number": "+442071230101", "tags": ["x".repeat(65)]}),
            "tags",
        ),
        (
            json!({"number": "+442071230101", "description": "x".repeat(1001)}),
            "description",
        ),
        (
            json!({"number": "+442071230101", "number_type": "sip"}),
            "number_type",
        ),
        (
            json!({"number": "+442071230101", "location_id": "0"}),
            "location_id",
        ),
        (
            json!({"number": "+442071230101", "platform_id": "x"}),
            "platform_id",
        ),
    ];
    for (body, field) in cases {
        app.post("/api/v1/numbers")
            .as_(&admin)
            .json(body)
            .send()
            .await
            .expect_invalid("invalid_field", field);
    }
    // Exactly at the limits is fine.
    app.number(
        &admin,
        json!({"number": "+442071230101", "tags": ["x".repeat(64)], "description": "y".repeat(1000)}),
    )
    .await;
}

/// A response whose error code must be one `api_types::ERROR_CODES` documents, with its status.
fn documented(r: &Resp, problems: &mut Vec<String>) {
    let body = r.json();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_string();
    match api_types::ERROR_CODES.iter().find(|(c, _, _)| *c == code) {
        None => problems.push(format!(
            "{}: code {code} ({}) is not in api_types::ERROR_CODES",
            r.what, r.status
        )),
        Some((_, status, _)) if *status != r.status.as_u16() => problems.push(format!(
            "{}: code {code} answered with {} but ERROR_CODES says {status}",
            r.what, r.status
        )),
        Some(_) => {}
    }
}

#[actix_web::test]
async fn every_error_code_the_api_answers_with_is_documented() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let loc = app.location(&owner, "HQ", "GB").await;
    app.number(&owner, json!({"number": "+442071230201"})).await;
    let mut problems = Vec::new();
    let calls = [
        app.post("/api/v1/locations").as_(&owner).json(json!({"name": "X", "country": "XX"})).send().await,
        app.post("/api/v1/locations").as_(&owner).json(json!({"name": " ", "country": "GB"})).send().await,
        app.post("/api/v1/locations").as_(&owner).json(json!({"name": "Y", "country": "GB", "city": "c".repeat(1001)})).send().await,
        app.post("/api/v1/admins").as_(&owner).json(json!({"username": "weak", "password": "short", "role": "viewer"})).send().await,
        app.post("/api/v1/admins").as_(&owner).json(json!({"username": " ", "password": "password123", "role": "viewer"})).send().await,
        app.post("/api/v1/admins").as_(&owner).json(json!({"username": "o", "password": "password123", "role": "owner", "scope": {"locations": [loc]}})).send().await,
        app.post("/api/v1/admins").as_(&owner).json(json!({"username": "s", "password": "password123", "role": "admin", "scope": {"locations": ["999"]}})).send().await,
        app.post("/api/v1/admins").as_(&owner).json(json!({"username": "t", "password": "password123", "role": "admin", "scope": {"tags": [""]}})).send().await,
        app.post("/api/v1/api-tokens").as_(&owner).json(json!({"name": "old", "role": "viewer", "expires_at": "2000-01-01T00:00:00Z"})).send().await,
        app.post("/api/v1/api-tokens").as_(&owner).json(json!({"name": " ", "role": "viewer"})).send().await,
        app.post("/api/v1/numbers").as_(&owner).json(json!({"number": "+442071230202", "location_id": "999"})).send().await,
        app.post("/api/v1/numbers").as_(&owner).json(json!({"number": "+442071230202", "platform_id": "999"})).send().await,
        app.post("/api/v1/numbers").as_(&owner).json(json!({"items": [{"number": "+442071230203"}, {"number": "+442071230203"}]})).send().await,
        app.post("/api/v1/numbers").as_(&owner).json(json!({"number": "+442071230201"})).send().await,
        app.get("/api/v1/numbers?limit=0").as_(&owner).send().await,
        app.get("/api/v1/numbers?cursor=%21").as_(&owner).send().await,
        app.get("/api/v1/numbers?status=x").as_(&owner).send().await,
        app.get("/api/v1/nothing").as_(&owner).send().await,
    ];
    for r in &calls {
        assert!(
            r.status.is_client_error(),
            "{}: {} {}",
            r.what,
            r.status,
            r.text()
        );
        crate::common::assert_envelope(&r.what, &r.json());
        documented(r, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[actix_web::test]
async fn a_batch_over_ten_thousand_numbers_is_refused_naming_items() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let items: Vec<serde_json::Value> = (0..10_001)
        .map(|i| json!({"number": format!("+4420713{i:05}")}))
        .collect();
    app.post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({ "items": items }))
        .send()
        .await
        .expect_invalid("invalid_field", "items");
    assert!(app.list_all(&admin, "/api/v1/numbers", 10).await.is_empty());
}

#[actix_web::test]
async fn a_body_over_the_size_limit_is_refused() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let big = format!(
        "{{\"name\": \"{}\", \"country\": \"GB\"}}",
        "x".repeat(api::json::MAX_BODY_BYTES)
    );
    let r = app
        .post("/api/v1/locations")
        .as_(&admin)
        .header("content-type", "application/json")
        .payload(Box::leak(big.into_boxed_str()))
        .send()
        .await;
    r.expect_error(413, "payload_too_large");
}

#[actix_web::test]
async fn bad_audit_filters_are_named() {
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    app.get("/api/v1/audit?number=abc")
        .as_(&viewer)
        .send()
        .await
        .expect_invalid("invalid_number", "number");
    let r = app
        .get("/api/v1/audit?since=yesterday")
        .as_(&viewer)
        .send()
        .await;
    r.expect_error(400, "invalid_query");
}

#[actix_web::test]
async fn a_nul_character_in_a_text_parameter_is_refused_not_a_server_error() {
    // Found by schemathesis on PostgreSQL, which refuses NUL inside text.
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    app.get("/api/v1/ranges?country=G%00B")
        .as_(&viewer)
        .send()
        .await
        .expect_invalid("invalid_query", "country");
    app.get("/api/v1/users/ab%00cd")
        .as_(&viewer)
        .send()
        .await
        .expect_invalid("invalid_path", "path");
}

#[actix_web::test]
async fn long_tag_lists_are_refused_naming_the_field_wherever_tags_are_taken() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let many = |n: usize| (0..n).map(|i| format!("tag {i}")).collect::<Vec<_>>();
    let n = "+442071230301";
    app.number(&owner, json!({"number": n, "tags": ["Keep"]}))
        .await;
    let path = format!("/api/v1/numbers/{}", crate::common::enc(n));
    // The two requests of the report: each was a stalled worker and a 500.
    let details = app
        .post("/api/v1/allocations")
        .as_(&owner)
        .json(json!({"pool": {"tags": many(40_000)}, "target": {"kind": "service", "id": "1"}}))
        .send()
        .await
        .expect_error(400, "invalid_field");
    assert_eq!(details["field"], "pool.tags");
    let r = app
        .patch(&path)
        .as_(&owner)
        .json(json!({"tags": many(17_001)}))
        .send()
        .await;
    r.expect_invalid("invalid_field", "tags");
    assert!(r.text().contains("at most 50"), "{}", r.text());
    // Every other list of tags, one over the limit.
    let over = many(51);
    let bodies = [
        (
            "/api/v1/numbers",
            json!({"number": "+442071230302", "tags": over}),
            "tags",
        ),
        (
            "/api/v1/numbers",
            json!({"items": [{"number": "+442071230303"}, {"number": "+442071230304", "tags": over}]}),
            "items[1].tags",
        ),
        (
            "/api/v1/ranges",
            json!({"start": "+442071230400", "end": "+442071230409", "tags": over}),
            "tags",
        ),
    ];
    for (url, body, field) in bodies {
        app.post(url)
            .as_(&owner)
            .json(body)
            .send()
            .await
            .expect_invalid("invalid_field", field);
    }
    app.patch("/api/v1/ranges/1")
        .as_(&owner)
        .json(json!({"tags": over}))
        .send()
        .await
        .expect_invalid("invalid_field", "tags");
    app.post("/api/v1/admins")
        .as_(&owner)
        .json(
            json!({"username": "scoped", "password": "password123", "role": "admin",
                     "scope": {"tags": over}}),
        )
        .send()
        .await
        .expect_field("scope.tags");
    let filter = over.join(",");
    for url in ["/api/v1/numbers", "/api/v1/export/numbers.csv"] {
        app.get(&format!("{url}?tag={}", crate::common::enc(&filter)))
            .as_(&owner)
            .send()
            .await
            .expect_invalid("invalid_query", "tag");
    }
    // The limit itself is fine, and a tag repeated in any case counts once.
    let mut fifty = many(50);
    fifty.extend(many(50).iter().map(|t| t.to_uppercase()));
    let patched = app
        .patch(&path)
        .as_(&owner)
        .json(json!({"tags": fifty}))
        .send()
        .await
        .expect(200);
    assert_eq!(patched["tags"].as_array().unwrap().len(), 50);
    let filter = fifty.join(",");
    let found = app
        .get(&format!(
            "/api/v1/numbers?tag={}",
            crate::common::enc(&filter)
        ))
        .as_(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(found["items"][0]["number"], n, "{found}");
}
