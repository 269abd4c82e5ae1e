//! CSV exports: `GET /api/v1/export/numbers.csv` and `GET /api/v1/audit` as `text/csv`.

use std::{future::poll_fn, pin::Pin, sync::Arc};

use actix_web::{body::MessageBody, test, web, web::Bytes};
use domain::{Role, csv_row};
use serde_json::json;

use crate::common::{TestApp, User, enc};

const HEADER: &str = "number,status,country,location,range,tags,description,platform,number_type,\
    assigned_to_kind,assigned_to,reserved_reason,reserved_for,reserved_until,quarantined_until\n";

/// Parses a CSV body into records (header included).
fn records(body: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| {
            r.expect("well-formed CSV")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn numbers_of(body: &[u8]) -> Vec<String> {
    records(body)
        .into_iter()
        .skip(1)
        .map(|r| r[0].clone())
        .collect()
}

async fn export(app: &TestApp, by: &User, query: &str) -> Vec<u8> {
    let r = app
        .get(&format!("/api/v1/export/numbers.csv{query}"))
        .as_(by)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}: {}", r.what, r.text());
    r.body.to_vec()
}

/// The response body chunk by chunk, as the server hands it to the connection.
async fn chunks(app: &TestApp, by: &User, path: &str, accept: &str) -> (String, Vec<Bytes>) {
    // A second app over the same database: the common caller reads bodies whole.
    let state = web::Data::new(
        api::AppState::new(app.tdb.db.clone(), api::ApiConfig::default()).expect("state"),
    );
    let svc = test::init_service(api::app(state, Arc::new(api::openapi()))).await;
    let req = test::TestRequest::get()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {}", by.token)))
        .insert_header(("accept", accept))
        .to_request();
    let res = test::call_service(&svc, req).await;
    assert_eq!(res.status(), 200, "GET {path}");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut body = res.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await {
        let Ok(chunk) = chunk else {
            panic!("GET {path}: the stream failed mid-way")
        };
        out.push(chunk);
    }
    (content_type, out)
}

#[actix_web::test]
async fn the_export_streams_the_header_at_once_then_page_after_page() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.post("/api/v1/ranges")
        .as_(&admin)
        .json(json!({"start": "+442079460000", "end": "+442079472000"}))
        .send()
        .await
        .expect(201);
    let (content_type, parts) = chunks(&app, &admin, "/api/v1/export/numbers.csv", "*/*").await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert_eq!(
        parts[0],
        HEADER.as_bytes(),
        "the first chunk is the header row alone"
    );
    let page = store::export::PAGE_ROWS as usize;
    let rows: Vec<usize> = parts[1..]
        .iter()
        .map(|c| c.iter().filter(|b| **b == b'\n').count())
        .collect();
    assert_eq!(rows, [page, page, 12_001 - 2 * page], "one chunk per page");
    let body: Vec<u8> = parts.concat();
    let numbers = numbers_of(&body);
    assert_eq!(numbers.len(), 12_001);
    assert_eq!(numbers[0], "+442079460000");
    assert_eq!(numbers[12_000], "+442079472000");
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "ordered by number");

    let whole = app
        .get("/api/v1/export/numbers.csv?status=available")
        .as_(&admin)
        .send()
        .await;
    assert_eq!(
        whole.header("content-disposition").as_deref(),
        Some("attachment; filename=\"numbers.csv\"")
    );
    assert_eq!(whole.body, body, "the streamed and the whole body agree");
}

#[actix_web::test]
async fn every_column_is_exported_by_name_and_formulas_are_neutralised() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let loc = app.location(&admin, "London HQ", "GB").await;
    app.post("/api/v1/ranges")
        .as_(&admin)
        .json(
            json!({"name": "DDI", "start": "+442079460000", "end": "+442079460003",
                     "location_id": loc, "tags": ["Sales", "DDI"]}),
        )
        .send()
        .await
        .expect(201);
    let nasty = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+cmd|' /C calc'!A0",
        "-1",
        "@SUM(1)",
        "\tindented",
        "'=already quoted",
        "''=1",
        "plain, with a comma and a \"quote\"",
        "a=b",
        "two\nlines",
    ];
    for (i, description) in nasty.iter().enumerate() {
        app.number(
            &admin,
            json!({"number": format!("+1425555{:04}", 100 + i), "description": description}),
        )
        .await;
    }
    app.post("/api/v1/services")
        .as_(&admin)
        .json(json!({"name": "Main IVR", "kind": "auto_attendant"}))
        .send()
        .await
        .expect(201);
    let n = enc("+442079460001");
    app.post(&format!("/api/v1/numbers/{n}/assign"))
        .as_(&admin)
        .json(json!({"target": {"kind": "service", "id": "Main IVR"}}))
        .send()
        .await
        .expect(200);
    let n = enc("+442079460002");
    app.post(&format!("/api/v1/numbers/{n}/reserve"))
        .as_(&admin)
        .json(json!({"reason": "-new starter", "reserved_for": "Jo", "expires_at": "2031-05-06T07:08:09Z"}))
        .send()
        .await
        .expect(200);

    let body = export(&app, &admin, "").await;
    assert!(
        body.starts_with(HEADER.as_bytes()),
        "no BOM, the exact header"
    );
    let rows = records(&body);
    assert_eq!(rows.len(), 1 + 4 + nasty.len());
    for (i, description) in nasty.iter().enumerate() {
        let number = format!("+1425555{:04}", 100 + i);
        let row = rows.iter().find(|r| r[0] == number).expect("exported");
        let cell = &row[6];
        let first = cell.chars().next();
        assert!(
            !matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r')),
            "{description:?} was exported as {cell:?}, which a spreadsheet would run"
        );
        assert_eq!(csv_row::unneutralise(cell), *description, "round trip");
    }
    let assigned = rows.iter().find(|r| r[0] == "+442079460001").unwrap();
    assert_eq!(
        assigned[1..12],
        [
            "assigned",
            "GB",
            "London HQ",
            "DDI",
            "DDI;Sales",
            "",
            "",
            "",
            "service",
            "Main IVR",
            ""
        ]
    );
    let reserved = rows.iter().find(|r| r[0] == "+442079460002").unwrap();
    assert_eq!(reserved[1], "reserved");
    assert_eq!(
        reserved[11..15],
        ["'-new starter", "Jo", "2031-05-06T07:08:09Z", ""]
    );
}

#[actix_web::test]
async fn the_export_takes_the_list_filters_and_the_callers_scope() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let mine = app.location(&admin, "Mine", "GB").await;
    let theirs = app.location(&admin, "Theirs", "GB").await;
    for (loc, start, end, tag) in [
        (&mine, "+442079460000", "+442079460004", "Sales"),
        (&theirs, "+442079460100", "+442079460104", "Support"),
    ] {
        app.post("/api/v1/ranges")
            .as_(&admin)
            .json(json!({"start": start, "end": end, "location_id": loc, "tags": [tag]}))
            .send()
            .await
            .expect(201);
    }
    let n = enc("+442079460101");
    app.post(&format!("/api/v1/numbers/{n}/reserve"))
        .as_(&admin)
        .json(json!({"reason": "held"}))
        .send()
        .await
        .expect(200);

    assert_eq!(numbers_of(&export(&app, &admin, "").await).len(), 10);
    assert_eq!(
        numbers_of(&export(&app, &admin, "?status=reserved").await),
        ["+442079460101"]
    );
    assert_eq!(
        numbers_of(&export(&app, &admin, "?tag=sales&q=460003").await),
        ["+442079460003"]
    );
    assert_eq!(
        numbers_of(&export(&app, &admin, &format!("?location={theirs}&country=gb")).await).len(),
        5
    );
    assert!(numbers_of(&export(&app, &admin, "?tag=nobody").await).is_empty());
    // cursor and limit belong to the JSON list; the file holds everything.
    assert_eq!(
        numbers_of(&export(&app, &admin, "?limit=1").await).len(),
        10
    );

    let viewer = app.scoped_user(Role::Viewer, &[&mine], &[]).await;
    let seen = numbers_of(&export(&app, &viewer, "").await);
    assert_eq!(
        seen,
        [
            "+442079460000",
            "+442079460001",
            "+442079460002",
            "+442079460003",
            "+442079460004"
        ]
    );
    assert!(numbers_of(&export(&app, &viewer, &format!("?location={theirs}")).await).is_empty());

    app.get("/api/v1/export/numbers.csv?status=lost")
        .as_(&admin)
        .send()
        .await
        .expect_invalid("invalid_query", "status");
    app.get("/api/v1/export/numbers.csv?colour=red")
        .as_(&admin)
        .send()
        .await
        .expect_invalid("invalid_query", "colour");
    app.get("/api/v1/export/numbers.csv")
        .send()
        .await
        .expect_error(401, "unauthenticated");
}

#[actix_web::test]
async fn the_audit_trail_streams_as_csv_when_the_caller_accepts_it() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let mine = app.location(&admin, "Mine", "GB").await;
    // More records than one page of the trail (1,000).
    let items: Vec<_> = (0..1100)
        .map(|i| json!({"number": format!("+44207946{i:04}"), "location_id": mine}))
        .collect();
    app.post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({"items": items}))
        .send()
        .await
        .expect(201);
    app.number(
        &admin,
        json!({"number": "+442079469999", "description": "=1+1"}),
    )
    .await;

    let (content_type, parts) = chunks(&app, &admin, "/api/v1/audit", "text/csv").await;
    assert_eq!(content_type, "text/csv; charset=utf-8");
    assert!(
        parts.len() >= 3,
        "the header, then one chunk per page of records"
    );
    let rows = records(&parts.concat());
    assert_eq!(
        rows[0],
        [
            "id",
            "at",
            "actor_kind",
            "actor_id",
            "actor_name",
            "action",
            "entity",
            "entity_id",
            "source",
            "request_id",
            "change_set_id",
            "before",
            "after"
        ]
    );
    let json_list = app.list_all(&admin, "/api/v1/audit", 1000).await;
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    let json_ids: Vec<&str> = json_list
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, json_ids, "the same records, newest first");
    let newest = &rows[1];
    assert_eq!(newest[5], "number.create");
    assert_eq!(newest[6], "number");
    assert_eq!(
        newest[7], "'+442079469999",
        "entity ids are neutralised like any text"
    );
    assert!(newest[1].ends_with('Z'));
    let after: serde_json::Value = serde_json::from_str(&newest[12]).expect("after is JSON");
    assert_eq!(after["description"], "=1+1");

    let csv = app
        .get("/api/v1/audit?action=location.create")
        .as_(&admin)
        .header("accept", "application/json;q=0.5, text/csv")
        .send()
        .await;
    assert_eq!(
        csv.header("content-disposition").as_deref(),
        Some("attachment; filename=\"audit.csv\"")
    );
    let rows = records(&csv.body);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][7], mine);

    // JSON stays the default, and wins when preferred.
    for accept in [
        None,
        Some("application/json"),
        Some("text/csv;q=0.2, application/json"),
        Some("*/*"),
    ] {
        let mut req = app.get("/api/v1/audit?limit=1").as_(&admin);
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let body = req.send().await.expect(200);
        assert_eq!(
            body["items"].as_array().map(Vec::len),
            Some(1),
            "{accept:?}"
        );
    }

    // A scoped viewer's CSV holds only records about its numbers.
    let viewer = app.scoped_user(Role::Viewer, &[&mine], &[]).await;
    let r = app
        .get("/api/v1/audit")
        .as_(&viewer)
        .header("accept", "text/csv")
        .send()
        .await;
    let rows = records(&r.body);
    assert_eq!(rows.len(), 1 + 1100);
    assert!(
        rows[1..]
            .iter()
            .all(|r| r[6] == "number" && r[7] != "'+442079469999")
    );

    // Its own operation answers the same file without any Accept.
    let own = app
        .get("/api/v1/export/audit.csv")
        .as_(&viewer)
        .send()
        .await;
    assert_eq!(own.status.as_u16(), 200);
    assert_eq!(records(&own.body), rows);
}
