//! No import cell is silently ignored (SPEC §4): without a status column the assignment,
//! reservation and quarantine cells decide the status, and a cell that would not be
//! applied is a row error naming its column — never an `unchanged` row.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, User, enc};

async fn plan(app: &TestApp, by: &User, csv: String) -> Value {
    app.post("/api/v1/imports")
        .as_(by)
        .header("content-type", "text/csv")
        .bytes(csv.into_bytes())
        .send()
        .await
        .expect(201)
}

async fn act(app: &TestApp, by: &User, e164: &str, action: &str, body: Value) {
    app.post(&format!("/api/v1/numbers/{}/{action}", enc(e164)))
        .as_(by)
        .json(body)
        .send()
        .await
        .expect(200);
}

#[actix_web::test]
async fn assignment_columns_without_a_status_column_assign_the_number() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.service(&admin, "Paris reception").await;
    app.number(&admin, json!({"number": "+33142000040"})).await;
    let p = plan(
        &app,
        &admin,
        "number,assigned_to_kind,assigned_to\n+33142000040,service,Paris reception\n".into(),
    )
    .await;
    assert_eq!(p["summary"]["assigns"], 1, "{p:#}");
    assert_eq!(p["summary"]["unchanged"], 0, "{p:#}");
    assert_eq!(p["rows"][0]["changes"][0]["op"], "assign", "{p:#}");
    app.post(&format!(
        "/api/v1/imports/{}/apply",
        p["id"].as_str().unwrap()
    ))
    .as_(&admin)
    .send()
    .await
    .expect(200);
    let n = app.get_number(&admin, "+33142000040").await;
    assert_eq!(n["status"], "assigned");
    assert_eq!(n["assignment"]["target"]["name"], "Paris reception");
}

/// One number in each status; returns them with their statuses.
async fn estate(app: &TestApp, admin: &User) -> Vec<(&'static str, &'static str)> {
    let queue = app.service(admin, "Queue").await;
    let numbers = [
        ("+442071236001", "available"),
        ("+442071236002", "reserved"),
        ("+442071236003", "assigned"),
        ("+442071236004", "quarantined"),
    ];
    for (e164, _) in numbers {
        app.number(admin, json!({"number": e164, "description": "as it was"}))
            .await;
    }
    act(
        app,
        admin,
        numbers[1].0,
        "reserve",
        json!({"reason": "project"}),
    )
    .await;
    act(
        app,
        admin,
        numbers[2].0,
        "assign",
        json!({"target": {"kind": "service", "id": queue}}),
    )
    .await;
    act(
        app,
        admin,
        numbers[3].0,
        "quarantine",
        json!({"reason": "spam", "until": "2099-01-01T00:00:00Z"}),
    )
    .await;
    numbers.to_vec()
}

#[actix_web::test]
async fn every_cell_that_differs_from_the_number_is_a_change_or_an_error_naming_its_column() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let numbers = estate(&app, &admin).await;
    app.service(&admin, "Other queue").await;
    app.location(&admin, "Leeds", "GB").await;
    // (column, a value that differs from every number's current cell)
    let cells = [
        ("description", "edited"),
        ("tags", "New tag"),
        ("location", "Leeds"),
        ("number_type", "direct_routing"),
        ("assigned_to", "Other queue"),
        ("assigned_to_kind", "service"),
        ("reserved_reason", "a new reason"),
        ("reserved_for", "someone"),
        ("reserved_until", "2098-06-01T00:00:00Z"),
        ("quarantined_until", "2098-06-01T00:00:00Z"),
        ("platform", "no such platform"),
    ];
    for with_status in [false, true] {
        for (column, value) in cells {
            let mut csv = if with_status {
                format!("number,status,{column}\n")
            } else {
                format!("number,{column}\n")
            };
            for (e164, status) in &numbers {
                if with_status {
                    csv.push_str(&format!("{e164},{status},{value}\n"));
                } else {
                    csv.push_str(&format!("{e164},{value}\n"));
                }
            }
            let p = plan(&app, &admin, csv).await;
            let rows = p["rows"].as_array().unwrap();
            for (e164, status) in &numbers {
                let row = rows.iter().find(|r| r["number"] == *e164).unwrap_or_else(|| {
                    panic!("{column}={value} on the {status} {e164} (status column: {with_status}) planned as unchanged: {p:#}")
                });
                let changed = !row["changes"].as_array().unwrap().is_empty();
                // A reservation cell without a reason is answered on the reason's cell.
                let named = row["errors"].as_array().unwrap().iter().any(|e| {
                    e["column"] == column
                        || (column.starts_with("reserved_") && e["column"] == "reserved_reason")
                });
                assert!(
                    changed || named,
                    "{column}={value} on the {status} {e164}: neither a change nor an error naming the column: {row:#}"
                );
            }
        }
    }
}

#[actix_web::test]
async fn emptied_state_cells_without_a_status_column_undo_the_state() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    let numbers = estate(&app, &admin).await;
    let (reserved, assigned, quarantined) = (numbers[1].0, numbers[2].0, numbers[3].0);
    let p = plan(
        &app,
        &admin,
        format!(
            "number,assigned_to,reserved_reason,quarantined_until\n\
             {reserved},,,\n{assigned},,,\n{quarantined},,,\n"
        ),
    )
    .await;
    assert_eq!(p["summary"]["errors"], 0, "{p:#}");
    let op = |e164: &str| {
        p["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["number"] == e164)
            .map(|r| r["changes"][0]["op"].clone())
    };
    assert_eq!(op(reserved), Some(json!("release")), "{p:#}");
    assert_eq!(op(assigned), Some(json!("unassign")), "{p:#}");
    assert_eq!(op(quarantined), Some(json!("release")), "{p:#}");
    // A kind without an assignee would be dropped: an error naming it.
    let p = plan(
        &app,
        &admin,
        format!(
            "number,assigned_to_kind,assigned_to\n{},user,\n",
            numbers[0].0
        ),
    )
    .await;
    assert_eq!(
        p["rows"][0]["errors"][0]["column"], "assigned_to_kind",
        "{p:#}"
    );
}
