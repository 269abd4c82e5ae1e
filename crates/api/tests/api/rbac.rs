//! Who may call what: every operation of the OpenAPI document against a table of the least
//! role it needs, and scope (locations, tags) on reads, writes and lists.

use std::collections::BTreeSet;

use domain::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, User, enc};

/// The least caller a route admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Min {
    Public,
    Viewer,
    Operator,
    Admin,
    Owner,
}
use Min::*;

/// Every operation of the API and the least role it needs. A route in the spec without a
/// row here, or a row without a route, fails `every_route_answers_each_role_as_the_table_says`.
const EXPECTED: &[(&str, &str, Min)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Public),
    ("POST", "/api/v1/auth/login", Public),
    // The web app's cookie session: logging in and out are open; reading it takes the
    // cookie (COOKIE_ONLY: the walk sends each caller's token as the cookie).
    ("POST", "/api/v1/auth/session", Public),
    ("GET", "/api/v1/auth/session", Viewer),
    ("DELETE", "/api/v1/auth/session", Public),
    ("GET", "/api/v1/me", Viewer),
    ("GET", "/api/v1/numbers", Viewer),
    ("POST", "/api/v1/numbers", Admin),
    ("GET", "/api/v1/numbers/{number}", Viewer),
    ("PATCH", "/api/v1/numbers/{number}", Operator),
    ("DELETE", "/api/v1/numbers/{number}", Admin),
    ("GET", "/api/v1/numbers/{number}/history", Viewer),
    ("GET", "/api/v1/ranges", Viewer),
    ("POST", "/api/v1/ranges", Admin),
    ("GET", "/api/v1/ranges/{id}", Viewer),
    ("PATCH", "/api/v1/ranges/{id}", Admin),
    ("DELETE", "/api/v1/ranges/{id}", Admin),
    ("GET", "/api/v1/locations", Viewer),
    ("POST", "/api/v1/locations", Admin),
    ("GET", "/api/v1/locations/{id}", Viewer),
    ("PATCH", "/api/v1/locations/{id}", Admin),
    ("DELETE", "/api/v1/locations/{id}", Admin),
    ("GET", "/api/v1/tags", Viewer),
    ("GET", "/api/v1/stats", Viewer),
    ("GET", "/api/v1/audit", Viewer),
    ("POST", "/api/v1/imports", Admin),
    ("GET", "/api/v1/imports/{id}", Admin),
    ("POST", "/api/v1/imports/{id}/apply", Admin),
    ("GET", "/api/v1/change-sets/{id}", Viewer),
    ("POST", "/api/v1/change-sets/{id}/revert", Admin),
    ("GET", "/api/v1/export/numbers.csv", Viewer),
    ("GET", "/api/v1/export/audit.csv", Viewer),
    ("GET", "/api/v1/admins", Owner),
    ("POST", "/api/v1/admins", Owner),
    ("GET", "/api/v1/admins/{id}", Owner),
    ("PATCH", "/api/v1/admins/{id}", Owner),
    ("DELETE", "/api/v1/admins/{id}", Owner),
    ("GET", "/api/v1/api-tokens", Owner),
    ("POST", "/api/v1/api-tokens", Owner),
    ("DELETE", "/api/v1/api-tokens/{id}", Owner),
    ("GET", "/api/v1/services", Viewer),
    ("POST", "/api/v1/services", Admin),
    ("GET", "/api/v1/services/{id}", Viewer),
    ("PATCH", "/api/v1/services/{id}", Admin),
    ("DELETE", "/api/v1/services/{id}", Admin),
    ("GET", "/api/v1/users", Viewer),
    ("GET", "/api/v1/users/{id}", Viewer),
    ("GET", "/api/v1/groups", Viewer),
    // Issue 11: platforms. Writes need an unscoped admin; secrets need the owner
    // (platforms.rs tests those refusals).
    ("GET", "/api/v1/platforms", Viewer),
    ("POST", "/api/v1/platforms", Admin),
    ("GET", "/api/v1/platforms/{id}", Viewer),
    ("PATCH", "/api/v1/platforms/{id}", Admin),
    ("DELETE", "/api/v1/platforms/{id}", Admin),
    ("POST", "/api/v1/platforms/{id}/sync", Admin),
    // Provisioning jobs: a job's number decides who sees it; retrying is an operator's.
    ("GET", "/api/v1/provisioning/jobs", Viewer),
    ("GET", "/api/v1/provisioning/jobs/{id}", Viewer),
    ("POST", "/api/v1/provisioning/jobs/{id}/retry", Operator),
    // Drift spans the whole platform: unscoped grants only; settling it is an admin's.
    ("GET", "/api/v1/platforms/{id}/drift", Viewer),
    ("POST", "/api/v1/platforms/{id}/drift/adopt", Admin),
    ("POST", "/api/v1/platforms/{id}/drift/push", Admin),
    ("POST", "/api/v1/numbers/{number}/assign", Operator),
    ("POST", "/api/v1/numbers/{number}/unassign", Operator),
    ("POST", "/api/v1/numbers/{number}/reserve", Operator),
    ("POST", "/api/v1/numbers/{number}/quarantine", Operator),
    ("POST", "/api/v1/numbers/{number}/release", Operator),
    ("POST", "/api/v1/allocations", Operator),
    ("GET", "/api/v1/settings", Viewer),
    ("GET", "/api/v1/events", Viewer),
    // Issue 3: settings belong to admins and owners; scoped grants are refused (403 out_of_scope).
    ("PATCH", "/api/v1/settings", Admin),
    // Issue 12: rules are an admin's (within scope); reading them and their runs, anyone's.
    ("GET", "/api/v1/rules", Viewer),
    ("POST", "/api/v1/rules", Admin),
    ("GET", "/api/v1/rules/{id}", Viewer),
    ("PATCH", "/api/v1/rules/{id}", Admin),
    ("DELETE", "/api/v1/rules/{id}", Admin),
    ("POST", "/api/v1/rules/{id}/preview", Admin),
    ("POST", "/api/v1/rules/preview", Admin),
    ("POST", "/api/v1/rules/evaluate", Admin),
    ("GET", "/api/v1/rules/{id}/runs", Viewer),
    ("GET", "/api/v1/rule-runs/{id}", Viewer),
];

/// Routes only a session cookie authenticates: callers present their token as the cookie.
const COOKIE_ONLY: &[(&str, &str)] = &[("GET", "/api/v1/auth/session")];

/// Every `(METHOD, path)` of the generated OpenAPI document.
pub fn spec_operations() -> BTreeSet<(String, String)> {
    let spec = serde_json::to_value(api::openapi()).expect("serialise the spec");
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn the_permission_table_lists_exactly_the_routes_of_the_spec() {
    let spec = spec_operations();
    let table: BTreeSet<(String, String)> = EXPECTED
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(table.len(), EXPECTED.len(), "the table lists a route twice");
    let missing: Vec<_> = spec.difference(&table).collect();
    let stale: Vec<_> = table.difference(&spec).collect();
    assert!(
        missing.is_empty(),
        "routes in the spec without a row in rbac::EXPECTED (add one with the least role): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows in rbac::EXPECTED for routes that no longer exist (remove them): {stale:?}"
    );
}

/// Objects the requests refer to; each destructive route gets its own victim.
struct Fixtures {
    number: String,
    number_victim: String,
    range: String,
    range_victim: String,
    location: String,
    location_victim: String,
    admin_patched: String,
    admin_victim: String,
    token_victim: String,
    service: String,
    service_victim: String,
    directory_user: String,
    /// A Teams platform (edited, synced) and a `none` one to delete.
    platform: String,
    platform_victim: String,
    /// A provisioning job that failed for good (so a retry succeeds once).
    provisioning_job: String,
    /// An import plan (its apply changes a number no other route touches).
    import_plan: String,
    /// A change set (a batch create).
    change_set: String,
    /// Numbers in the state each status action starts from, by the action's path suffix.
    lifecycle: Vec<(&'static str, String)>,
    /// A rule (read, edited, previewed), one to delete, and a run.
    rule: String,
    rule_victim: String,
    rule_run: String,
}

fn fill(method: &str, template: &str, fx: &Fixtures) -> String {
    let delete = method == "DELETE";
    let (param, value) = if template.contains("{number}") {
        let action = fx
            .lifecycle
            .iter()
            .find(|(suffix, _)| template.ends_with(suffix));
        let n = match action {
            Some((_, n)) => n,
            None if delete => &fx.number_victim,
            None => &fx.number,
        };
        ("{number}", enc(n))
    } else if template.starts_with("/api/v1/ranges/") {
        (
            "{id}",
            if delete {
                fx.range_victim.clone()
            } else {
                fx.range.clone()
            },
        )
    } else if template.starts_with("/api/v1/locations/") {
        let l = if delete {
            &fx.location_victim
        } else {
            &fx.location
        };
        ("{id}", l.clone())
    } else if template.starts_with("/api/v1/admins/") {
        let a = if delete {
            &fx.admin_victim
        } else {
            &fx.admin_patched
        };
        ("{id}", a.clone())
    } else if template.starts_with("/api/v1/api-tokens/") {
        ("{id}", fx.token_victim.clone())
    } else if template.starts_with("/api/v1/services/") {
        let v = if delete {
            &fx.service_victim
        } else {
            &fx.service
        };
        ("{id}", v.clone())
    } else if template.starts_with("/api/v1/provisioning/jobs/") {
        ("{id}", fx.provisioning_job.clone())
    } else if template.starts_with("/api/v1/platforms/") {
        let v = if delete {
            &fx.platform_victim
        } else {
            &fx.platform
        };
        ("{id}", v.clone())
    } else if template.starts_with("/api/v1/users/") {
        ("{id}", fx.directory_user.clone())
    } else if template.starts_with("/api/v1/imports/") {
        ("{id}", fx.import_plan.clone())
    } else if template.starts_with("/api/v1/change-sets/") {
        ("{id}", fx.change_set.clone())
    } else if template.starts_with("/api/v1/rules/{id}") {
        let v = if delete { &fx.rule_victim } else { &fx.rule };
        ("{id}", v.clone())
    } else if template.starts_with("/api/v1/rule-runs/") {
        ("{id}", fx.rule_run.clone())
    } else {
        return template.to_string();
    };
    let path = template.replace(param, &value);
    assert!(
        !path.contains('{'),
        "no fixture for a parameter of {template}"
    );
    path
}

/// The body of `POST /api/v1/imports` (text/csv).
const IMPORT_CSV: &str = "number,description\n+442071230900,planned by rbac\n";

/// A valid body for each route that takes one.
fn body(method: &str, template: &str) -> Option<Value> {
    let b = match (method, template) {
        ("POST", "/api/v1/auth/login") | ("POST", "/api/v1/auth/session") => {
            json!({"username": "rbac-login", "password": crate::common::PASSWORD})
        }
        ("POST", "/api/v1/numbers") => json!({"number": "+442071230999"}),
        ("PATCH", "/api/v1/numbers/{number}") => json!({"description": "checked"}),
        ("POST", "/api/v1/ranges") => {
            json!({"start": "+442079461000", "end": "+442079461009"})
        }
        ("PATCH", "/api/v1/ranges/{id}") => json!({"description": "checked"}),
        ("POST", "/api/v1/locations") => json!({"name": "RBAC site", "country": "GB"}),
        ("PATCH", "/api/v1/locations/{id}") => json!({"city": "London"}),
        ("POST", "/api/v1/admins") => {
            json!({"username": "rbac-new", "password": "password123", "role": "viewer"})
        }
        ("PATCH", "/api/v1/admins/{id}") => json!({}),
        ("POST", "/api/v1/api-tokens") => json!({"name": "rbac", "role": "viewer"}),
        ("POST", "/api/v1/services") => json!({"name": "RBAC queue", "kind": "call_queue"}),
        ("PATCH", "/api/v1/services/{id}") => json!({"description": "checked"}),
        ("POST", "/api/v1/platforms") => json!({"name": "RBAC paper", "kind": "none"}),
        ("PATCH", "/api/v1/platforms/{id}") => json!({"sync_interval_seconds": 600}),
        ("POST", "/api/v1/platforms/{id}/drift/adopt")
        | ("POST", "/api/v1/platforms/{id}/drift/push") => json!({}),
        ("POST", "/api/v1/numbers/{number}/assign") => {
            json!({"target": {"kind": "service", "id": "1"}})
        }
        ("POST", "/api/v1/numbers/{number}/unassign") => json!({}),
        ("POST", "/api/v1/numbers/{number}/reserve") => json!({"reason": "rbac"}),
        ("POST", "/api/v1/numbers/{number}/quarantine") => json!({"reason": "rbac"}),
        ("POST", "/api/v1/numbers/{number}/release") => json!({}),
        ("POST", "/api/v1/allocations") => {
            json!({"pool": {"tags": ["pool"]}, "target": {"kind": "service", "id": "1"}})
        }
        ("PATCH", "/api/v1/settings") => json!({"default_quarantine_days": 30}),
        ("POST", "/api/v1/rules") => rule_body("RBAC rule", 500),
        ("POST", "/api/v1/rules/preview") => rule_body("RBAC draft", 501),
        ("PATCH", "/api/v1/rules/{id}") => json!({"enabled": false}),
        // The import takes a CSV body (see IMPORT_CSV); apply and revert take none.
        ("POST", "/api/v1/imports")
        | ("POST", "/api/v1/imports/{id}/apply")
        | ("POST", "/api/v1/change-sets/{id}/revert")
        | ("POST", "/api/v1/platforms/{id}/sync")
        | ("POST", "/api/v1/provisioning/jobs/{id}/retry")
        | ("POST", "/api/v1/rules/{id}/preview")
        | ("POST", "/api/v1/rules/evaluate") => return None,
        (m, _) if m == "POST" || m == "PATCH" || m == "PUT" => {
            panic!("rbac::body has no body for {method} {template}: add one")
        }
        _ => return None,
    };
    Some(b)
}

/// A rule drawing from the numbers tagged `pool` (which the fixtures create).
fn rule_body(name: &str, priority: i64) -> Value {
    json!({"name": name, "priority": priority, "enabled": false,
        "condition": {"all": [{"attribute": "department", "op": "equals", "value": "Sales"}]},
        "action": {"pool": {"tags": ["pool"]}},
        "leaver_policy": "keep"})
}

/// A number on `platform` assigned to `service`, whose provisioning job then failed for
/// good (as a worker records it); the job's id.
pub(crate) async fn failed_job(
    app: &TestApp,
    owner: &User,
    platform: &str,
    service: &str,
) -> String {
    let e164 = format!("+4420712309{:02}", rand_suffix());
    app.post("/api/v1/numbers")
        .as_(owner)
        .json(json!({"number": e164, "platform_id": platform, "number_type": "direct_routing"}))
        .send()
        .await
        .expect(201);
    app.post(&format!("/api/v1/numbers/{}/assign", enc(&e164)))
        .as_(owner)
        .json(json!({"target": {"kind": "service", "id": service}}))
        .send()
        .await
        .expect(200);
    let claimed = app
        .tdb
        .db
        .write(|c| store::jobs::claim(c, "test-worker", std::time::Duration::from_secs(60), 10))
        .unwrap();
    let id = claimed
        .iter()
        .find(|j| j.job.number == e164)
        .expect("the assign wrote a job")
        .job
        .id;
    app.tdb
        .db
        .write(|c| store::jobs::fail(c, id, "test-worker", "refused by the test", false))
        .unwrap();
    id.to_string()
}

fn rand_suffix() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(50);
    NEXT.fetch_add(1, Ordering::Relaxed) % 100
}

async fn create_service(app: &TestApp, by: &User, name: &str) -> String {
    app.post("/api/v1/services")
        .as_(by)
        .json(json!({"name": name, "kind": "auto_attendant"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .expect("service id")
        .to_string()
}

#[actix_web::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let admin = app.user(Role::Admin).await;
    let operator = app.user(Role::Operator).await;
    let viewer = app.user(Role::Viewer).await;
    app.create_account("rbac-login", Role::Viewer, &[], &[]);
    let admin_patched = app.create_account("rbac-patched", Role::Viewer, &[], &[]);
    let admin_victim = app.create_account("rbac-victim", Role::Viewer, &[], &[]);

    let location = app.location(&owner, "Site", "GB").await;
    let location_victim = app.location(&owner, "Victim site", "GB").await;
    let number = app
        .number(
            &owner,
            json!({"number": "+442071230001", "location_id": location}),
        )
        .await["number"]
        .as_str()
        .unwrap()
        .to_string();
    let number_victim = app.number(&owner, json!({"number": "+442071230002"})).await["number"]
        .as_str()
        .unwrap()
        .to_string();
    let range = app
        .post("/api/v1/ranges")
        .as_(&owner)
        .json(json!({"start": "+442079460000", "end": "+442079460009"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let range_victim = app
        .post("/api/v1/ranges")
        .as_(&owner)
        .json(json!({"start": "+442079460100", "end": "+442079460109"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token_victim = app
        .post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "victim", "role": "viewer"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let service = create_service(&app, &owner, "Reception").await;
    assert_eq!(service, "1", "rbac::body targets service 1");
    let mut lifecycle = Vec::new();
    for (i, suffix) in [
        "/assign",
        "/unassign",
        "/reserve",
        "/quarantine",
        "/release",
    ]
    .into_iter()
    .enumerate()
    {
        let n = format!("+44207123080{i}");
        app.number(&owner, json!({"number": n})).await;
        let path = format!("/api/v1/numbers/{}", enc(&n));
        let setup = match suffix {
            "/unassign" => Some((
                "assign",
                json!({"target": {"kind": "service", "id": service}}),
            )),
            "/release" => Some(("reserve", json!({"reason": "held for rbac"}))),
            _ => None,
        };
        if let Some((verb, b)) = setup {
            app.post(&format!("{path}/{verb}"))
                .as_(&owner)
                .json(b)
                .send()
                .await
                .expect(200);
        }
        lifecycle.push((suffix, n));
    }
    for i in 0..3 {
        app.number(
            &owner,
            json!({"number": format!("+44207123081{i}"), "tags": ["pool"]}),
        )
        .await;
    }
    let service_victim = create_service(&app, &owner, "Victim queue").await;
    let directory_user = "6f0d8a52-0000-4000-8000-000000000001".to_string();
    let input = store::directory::DirectoryUserInput {
        id: directory_user.clone(),
        upn: "jo@example.com".into(),
        display_name: "Jo".into(),
        account_enabled: true,
        ..Default::default()
    };
    app.tdb
        .db
        .write(|c| store::directory::upsert_user(c, &store::testing::owner(), input))
        .expect("store a directory user");
    app.number(&owner, json!({"number": "+442071230900"})).await;
    let import_plan = app
        .post("/api/v1/imports")
        .as_(&owner)
        .header("content-type", "text/csv")
        .payload("number,description\n+442071230900,imported\n")
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/api/v1/numbers")
        .as_(&owner)
        .json(json!({"items": [{"number": "+442071230901"}, {"number": "+442071230902"}]}))
        .send()
        .await
        .expect(201);
    let change_set = app
        .get("/api/v1/audit?limit=1")
        .as_(&owner)
        .send()
        .await
        .expect(200)["items"][0]["change_set_id"]
        .as_str()
        .expect("a batch create has a change set")
        .to_string();
    let platform = app
        .post("/api/v1/platforms")
        .as_(&owner)
        .json(json!({
            "name": "RBAC Teams",
            "kind": "teams",
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "7a8b9c0d-1e2f-4a3b-9c5d-6e7f8a9b0c1d",
            "client_secret_env": "RBAC_TEAMS_SECRET"
        }))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let provisioning_job = failed_job(&app, &owner, &platform, &service).await;
    let platform_victim = app
        .post("/api/v1/platforms")
        .as_(&owner)
        .json(json!({"name": "RBAC victim", "kind": "none"}))
        .send()
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut rules = Vec::new();
    for (name, priority) in [("RBAC fixture", 1), ("RBAC victim rule", 2)] {
        rules.push(
            app.post("/api/v1/rules")
                .as_(&owner)
                .json(rule_body(name, priority))
                .send()
                .await
                .expect(201)["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let rule_run = app
        .post("/api/v1/rules/evaluate")
        .as_(&owner)
        .send()
        .await
        .expect(202)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let fx = Fixtures {
        rule: rules[0].clone(),
        rule_victim: rules[1].clone(),
        rule_run,
        number,
        number_victim,
        range,
        range_victim,
        location,
        location_victim,
        admin_patched,
        admin_victim,
        token_victim,
        service,
        service_victim,
        directory_user,
        platform,
        platform_victim,
        provisioning_job,
        import_plan,
        change_set,
        lifecycle,
    };

    let callers: [(Min, Option<&User>); 5] = [
        (Public, None),
        (Viewer, Some(&viewer)),
        (Operator, Some(&operator)),
        (Admin, Some(&admin)),
        (Owner, Some(&owner)),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, template) in spec_operations() {
        let Some(&(_, _, min)) = EXPECTED
            .iter()
            .find(|(m, p, _)| *m == method && *p == template)
        else {
            failures.push(format!("{method} {template}: no row in rbac::EXPECTED"));
            continue;
        };
        let path = fill(&method, &template, &fx);
        let mut first_allowed = true;
        for (level, caller) in callers {
            let mut req = app.req(method.parse().unwrap(), &path);
            let cookie_only = COOKIE_ONLY.contains(&(method.as_str(), template.as_str()));
            match caller {
                Some(u) if cookie_only => {
                    req = req.header("cookie", &format!("telestate_session={}", u.token));
                }
                Some(u) => req = req.as_(u),
                None => {}
            }
            if (method.as_str(), template.as_str()) == ("POST", "/api/v1/imports") {
                req = req.header("content-type", "text/csv").payload(IMPORT_CSV);
            } else if let Some(b) = body(&method, &template) {
                req = req.json(b);
            }
            let r = req.send().await;
            checked += 1;
            let status = r.status.as_u16();
            let who = format!("{level:?}");
            if level >= min {
                if status == 401 || status == 403 {
                    failures.push(format!(
                        "{method} {path} as {who}: allowed by the table, got {status} {}",
                        r.text()
                    ));
                } else if first_allowed && !r.status.is_success() {
                    failures.push(format!(
                        "{method} {path} as {who} (least role allowed): expected success, got {status} {}",
                        r.text()
                    ));
                }
                first_allowed = false;
            } else {
                let (want_status, want_code) = if caller.is_none() {
                    (401, "unauthenticated")
                } else {
                    (403, "forbidden")
                };
                let code = serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|b| b["error"]["code"].as_str().map(str::to_string));
                if status != want_status || code.as_deref() != Some(want_code) {
                    failures.push(format!(
                        "{method} {path} as {who}: expected {want_status} {want_code}, got {status} {}",
                        r.text()
                    ));
                }
                if status == 401 && r.header("www-authenticate").as_deref() != Some("Bearer") {
                    failures.push(format!(
                        "{method} {path} as {who}: 401 without WWW-Authenticate: Bearer"
                    ));
                }
            }
        }
    }
    assert!(checked >= EXPECTED.len() * 5);
    assert!(
        failures.is_empty(),
        "{} of {checked} calls answered against the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[actix_web::test]
async fn the_spec_and_the_docs_page_are_public() {
    let app = TestApp::new().await;
    let spec = app.get("/api/v1/openapi.json").send().await.expect(200);
    assert_eq!(spec, serde_json::to_value(api::openapi()).unwrap());
    let docs = app.get("/api/docs/").send().await;
    assert_eq!(docs.status.as_u16(), 200, "{}", docs.text());
    assert!(
        docs.text().to_lowercase().contains("<html"),
        "{}",
        docs.text()
    );
    let health = app.get("/healthz").send().await.expect(200);
    assert_eq!(health["status"], "ok");
    let ready = app.get("/readyz").send().await.expect(200);
    let backend = match app.tdb.db.backend() {
        store::Backend::Sqlite => "sqlite",
        store::Backend::Postgres => "postgres",
    };
    assert_eq!(ready["database"], backend);
    let metrics = app.get("/metrics").send().await;
    assert_eq!(metrics.status.as_u16(), 200);
    assert!(
        metrics.text().contains("telestate_http_requests"),
        "{}",
        metrics.text()
    );
}

#[actix_web::test]
async fn a_bad_or_foreign_bearer_token_is_unauthenticated() {
    let app = TestApp::new().await;
    for token in [
        "not-a-jwt",
        "tst_notarealtoken",
        // A well-formed JWT signed with another key.
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwiaWF0IjoxLCJleHAiOjk5OTk5OTk5OTksImlzcyI6InRlbGVzdGF0ZSJ9.c2lnbmF0dXJl",
    ] {
        let r = app.get("/api/v1/me").bearer(token).send().await;
        r.expect_error(401, "unauthenticated");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    let r = app
        .get("/api/v1/me")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await;
    r.expect_error(401, "unauthenticated");
}

/// Two sites with a number each, and an admin limited to the first.
struct ScopedEstate {
    app: TestApp,
    owner: User,
    scoped: User,
    here: String,
    there: String,
    mine: String,
    theirs: String,
}

async fn scoped_estate() -> ScopedEstate {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    let mine = app
        .number(
            &owner,
            json!({"number": "+442071231001", "location_id": here}),
        )
        .await["number"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = app
        .number(
            &owner,
            json!({"number": "+442071231002", "location_id": there}),
        )
        .await["number"]
        .as_str()
        .unwrap()
        .to_string();
    app.number(&owner, json!({"number": "+442071231003"})).await;
    let scoped = app.scoped_user(Role::Admin, &[&here], &[]).await;
    ScopedEstate {
        app,
        owner,
        scoped,
        here,
        there,
        mine,
        theirs,
    }
}

#[actix_web::test]
async fn a_number_outside_a_scoped_admins_locations_does_not_exist_for_it() {
    let e = scoped_estate().await;
    let (app, admin) = (&e.app, &e.scoped);
    let theirs = format!("/api/v1/numbers/{}", enc(&e.theirs));
    app.get(&theirs)
        .as_(admin)
        .send()
        .await
        .expect_error(404, "not_found");
    app.patch(&theirs)
        .as_(admin)
        .json(json!({"description": "mine now"}))
        .send()
        .await
        .expect_error(404, "not_found");
    app.delete(&theirs)
        .as_(admin)
        .send()
        .await
        .expect_error(404, "not_found");
    app.get(&format!("{theirs}/history"))
        .as_(admin)
        .send()
        .await
        .expect_error(404, "not_found");
    // Nothing changed, as the owner sees it.
    let n = app.get(&theirs).as_(&e.owner).send().await.expect(200);
    assert_eq!(n["description"], "");
    assert_eq!(n["version"], 1);
    // Its own number answers.
    let mine = format!("/api/v1/numbers/{}", enc(&e.mine));
    app.get(&mine).as_(admin).send().await.expect(200);
    app.patch(&mine)
        .as_(admin)
        .json(json!({"description": "ok"}))
        .send()
        .await
        .expect(200);
}

#[actix_web::test]
async fn a_scoped_admin_cannot_create_or_move_a_number_out_of_its_scope() {
    let e = scoped_estate().await;
    let (app, admin) = (&e.app, &e.scoped);
    app.post("/api/v1/numbers")
        .as_(admin)
        .json(json!({"number": "+442071231010", "location_id": e.there}))
        .send()
        .await
        .expect_error(400, "unknown_location");
    // Without a location the number would be outside a location-limited scope too.
    app.post("/api/v1/numbers")
        .as_(admin)
        .json(json!({"number": "+442071231011"}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    app.post("/api/v1/numbers")
        .as_(admin)
        .json(json!({"items": [
            {"number": "+442071231012", "location_id": e.here},
            {"number": "+442071231013", "location_id": e.there},
        ]}))
        .send()
        .await
        .expect_error(400, "unknown_location");
    app.post("/api/v1/ranges")
        .as_(admin)
        .json(json!({"start": "+442079462000", "end": "+442079462009", "location_id": e.there}))
        .send()
        .await
        .expect_error(400, "unknown_location");
    let mine = format!("/api/v1/numbers/{}", enc(&e.mine));
    app.patch(&mine)
        .as_(admin)
        .json(json!({"location_id": e.there}))
        .send()
        .await
        .expect_error(400, "unknown_location");
    // None of it happened.
    for n in [
        "+442071231010",
        "+442071231011",
        "+442071231012",
        "+442071231013",
    ] {
        app.get(&format!("/api/v1/numbers/{}", enc(n)))
            .as_(&e.owner)
            .send()
            .await
            .expect_error(404, "not_found");
    }
    let n = app.get(&mine).as_(&e.owner).send().await.expect(200);
    assert_eq!(n["location_id"], e.here.as_str());
    // Inside the scope it works.
    let created = app
        .number(
            admin,
            json!({"number": "+442071231014", "location_id": e.here}),
        )
        .await;
    assert_eq!(created["location_id"], e.here.as_str());
}

#[actix_web::test]
async fn a_scoped_admin_lists_and_counts_only_what_is_in_scope() {
    let e = scoped_estate().await;
    let (app, admin) = (&e.app, &e.scoped);
    let numbers: Vec<Value> = app.list_all(admin, "/api/v1/numbers", 50).await;
    let got: Vec<&str> = numbers
        .iter()
        .map(|n| n["number"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![e.mine.as_str()]);
    let all = app.list_all(&e.owner, "/api/v1/numbers", 50).await;
    assert_eq!(all.len(), 3);
    let stats = app.get("/api/v1/stats").as_(admin).send().await.expect(200);
    assert_eq!(stats["totals"]["total"], 1, "{stats}");
    let locations = app.list_all(admin, "/api/v1/locations", 50).await;
    let ids: Vec<&str> = locations
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![e.here.as_str()]);
    app.get(&format!("/api/v1/locations/{}", e.there))
        .as_(admin)
        .send()
        .await
        .expect_error(404, "not_found");
    // The audit trail shows it records about its own numbers only.
    let audit = app.list_all(admin, "/api/v1/audit", 100).await;
    assert!(!audit.is_empty());
    for r in &audit {
        assert_eq!(r["entity"], "number", "{r}");
        assert_eq!(r["entity_id"], e.mine.as_str(), "{r}");
    }
}

#[actix_web::test]
async fn a_grant_limited_to_locations_cannot_create_sites() {
    let e = scoped_estate().await;
    e.app
        .post("/api/v1/locations")
        .as_(&e.scoped)
        .json(json!({"name": "Elsewhere", "country": "GB"}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    e.app
        .delete(&format!("/api/v1/locations/{}", e.here))
        .as_(&e.scoped)
        .send()
        .await
        .expect_error(403, "out_of_scope");
    // Nor may a grant limited by tags: sites belong to unscoped grants.
    let tagged = e.app.scoped_user(Role::Admin, &[], &["sales"]).await;
    e.app
        .post("/api/v1/locations")
        .as_(&tagged)
        .json(json!({"name": "Elsewhere", "country": "GB"}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
}

#[actix_web::test]
async fn a_tag_scope_admits_numbers_carrying_one_of_its_tags() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    for (n, loc, tags) in [
        ("+442071232001", &here, json!(["Sales"])),
        ("+442071232002", &here, json!(["support"])),
        ("+442071232003", &there, json!(["sales", "vip"])),
        ("+442071232004", &here, json!([])),
    ] {
        app.number(
            &owner,
            json!({"number": n, "location_id": loc, "tags": tags}),
        )
        .await;
    }
    let by_tag = app.scoped_user(Role::Operator, &[], &["SALES"]).await;
    let seen: Vec<String> = app
        .list_all(&by_tag, "/api/v1/numbers", 10)
        .await
        .iter()
        .map(|n| n["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ["+442071232001", "+442071232003"]);
    // Both dimensions set: both must hold.
    let both = app.scoped_user(Role::Operator, &[&here], &["sales"]).await;
    let seen: Vec<String> = app
        .list_all(&both, "/api/v1/numbers", 10)
        .await
        .iter()
        .map(|n| n["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, ["+442071232001"]);
    app.get(&format!("/api/v1/numbers/{}", enc("+442071232003")))
        .as_(&both)
        .send()
        .await
        .expect_error(404, "not_found");
    // Dropping the last tag in scope would move the number out of it.
    app.patch(&format!("/api/v1/numbers/{}", enc("+442071232001")))
        .as_(&by_tag)
        .json(json!({"tags": ["support"]}))
        .send()
        .await
        .expect_error(403, "out_of_scope");
    let tags = app
        .get("/api/v1/tags")
        .as_(&by_tag)
        .send()
        .await
        .expect(200);
    let sales = tags["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"].as_str().unwrap().eq_ignore_ascii_case("sales"))
        .cloned()
        .unwrap_or_else(|| panic!("no sales tag in {tags}"));
    assert_eq!(sales["numbers"], 2, "{tags}");
}

#[actix_web::test]
async fn owners_are_never_scoped() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    app.post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "boss", "password": "password123", "role": "owner", "scope": {"locations": [here]}}))
        .send()
        .await
        .expect_field("scope");
    app.post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "boss", "role": "owner", "scope": {"tags": ["sales"]}}))
        .send()
        .await
        .expect_field("scope");
    let me = app.get("/api/v1/me").as_(&owner).send().await.expect(200);
    assert_eq!(me["scope"], json!({"locations": [], "tags": []}));
}

#[actix_web::test]
async fn a_caller_without_the_role_is_forbidden_before_its_body_is_looked_at() {
    // Authorization comes first: a viewer learns nothing about what a valid body would be.
    let app = TestApp::new().await;
    let viewer = app.user(Role::Viewer).await;
    let r = app
        .post("/api/v1/numbers")
        .as_(&viewer)
        .json(json!({"number": 5}))
        .send()
        .await;
    r.expect_error(403, "forbidden");
    let r = app
        .post("/api/v1/locations")
        .as_(&viewer)
        .payload("{\"name\": \"x\"")
        .header("content-type", "application/json")
        .send()
        .await;
    r.expect_error(403, "forbidden");
    let r = app
        .post("/api/v1/locations")
        .as_(&viewer)
        .payload("name=x")
        .send()
        .await;
    r.expect_error(403, "forbidden");
}

#[actix_web::test]
async fn a_scoped_callers_tag_counts_leave_out_ranges_outside_its_scope() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let here = app.location(&owner, "Here", "GB").await;
    let there = app.location(&owner, "There", "GB").await;
    app.number(
        &owner,
        json!({"number": "+442071233501", "location_id": here, "tags": ["vip"]}),
    )
    .await;
    app.post("/api/v1/ranges")
        .as_(&owner)
        .json(json!({"start": "+442079468000", "end": "+442079468009", "location_id": there, "tags": ["vip"]}))
        .send()
        .await
        .expect(201);
    let scoped = app.scoped_user(Role::Viewer, &[&here], &[]).await;
    assert!(app.list_all(&scoped, "/api/v1/ranges", 10).await.is_empty());
    let tags = app
        .get("/api/v1/tags")
        .as_(&scoped)
        .send()
        .await
        .expect(200);
    assert_eq!(
        tags["items"],
        json!([{"name": "vip", "numbers": 1, "ranges": 0}]),
        "a range the caller cannot see is counted"
    );
}

#[actix_web::test]
async fn a_scoped_admin_cannot_change_settings_for_the_whole_estate_or_other_sites() {
    let e = scoped_estate().await;
    let (app, admin) = (&e.app, &e.scoped);
    let before = app
        .get("/api/v1/settings")
        .as_(&e.owner)
        .send()
        .await
        .expect(200);
    for body in [
        json!({"default_quarantine_days": 0}),
        json!({"location_quarantine_days": [{"location_id": e.there, "days": 0}]}),
    ] {
        let r = app
            .patch("/api/v1/settings")
            .as_(admin)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(
            r.status.as_u16(),
            403,
            "a location-scoped admin changed settings beyond its scope with {body}: {}",
            r.text()
        );
    }
    let after = app
        .get("/api/v1/settings")
        .as_(&e.owner)
        .send()
        .await
        .expect(200);
    assert_eq!(before, after);
}
