//! The contract: the generated OpenAPI document is the checked-in one, and it documents
//! security and errors the same way on every operation.

use serde_json::Value;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");

/// Operations that need no credentials.
const PUBLIC: &[&str] = &[
    "healthz",
    "readyz",
    "metrics",
    "login",
    "create_session",
    "delete_session",
];
/// Operations only the session cookie authenticates.
const COOKIE_ONLY: &[&str] = &["get_session"];

fn spec() -> Value {
    serde_json::to_value(api::openapi()).expect("serialise the spec")
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&method.as_str())
            {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn the_generated_spec_is_the_checked_in_openapi_json() {
    let generated =
        serde_json::to_string_pretty(&api::openapi()).expect("serialise the spec") + "\n";
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_else(|e| {
        panic!("cannot read {CHECKED_IN} ({e}); generate it with `just openapi` (or `cargo run -p telestate -- openapi > openapi/openapi.json`)")
    });
    if generated != checked_in {
        let line = generated
            .lines()
            .zip(checked_in.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| generated.lines().count().min(checked_in.lines().count()) + 1);
        panic!(
            "openapi/openapi.json is stale (first difference at line {line}); regenerate it with `just openapi` \
             (or `cargo run -p telestate -- openapi > openapi/openapi.json`) and commit it"
        );
    }
}

#[test]
fn the_spec_is_openapi_3_1_with_a_bearer_scheme() {
    let s = spec();
    assert!(
        s["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
        "{}",
        s["openapi"]
    );
    let scheme = &s["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    let cookie = &s["components"]["securitySchemes"]["cookie"];
    assert_eq!(cookie["type"], "apiKey", "{cookie}");
    assert_eq!(cookie["in"], "cookie", "{cookie}");
    assert_eq!(cookie["name"], "telestate_session", "{cookie}");
    assert!(s["info"]["title"].is_string());
    assert!(s["info"]["version"].is_string());
    let body = &s["components"]["schemas"]["ErrorBody"];
    assert!(body.is_object(), "no ErrorBody schema");
}

#[test]
fn protected_operations_require_the_bearer_and_document_401_and_writes_403() {
    let s = spec();
    let mut problems = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for (method, path, op) in operations(&s) {
        let what = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        if id.is_empty() || !ids.insert(id.clone()) {
            problems.push(format!("{what}: missing or duplicate operationId {id:?}"));
        }
        let public = PUBLIC.contains(&id.as_str());
        let security = op["security"].as_array().cloned().unwrap_or_default();
        let takes_bearer = security.iter().any(|r| r.get("bearer").is_some());
        let takes_cookie = security.iter().any(|r| r.get("cookie").is_some());
        let needs_bearer = takes_bearer || takes_cookie;
        // `security: []` (no credentials) or an empty requirement (anonymous allowed).
        let allows_anonymous = op["security"].as_array().is_some_and(|s| s.is_empty())
            || security
                .iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
        if public {
            if needs_bearer || !allows_anonymous {
                problems.push(format!("{what}: public, but its security is {security:?}"));
            }
        } else {
            if !needs_bearer || allows_anonymous {
                problems.push(format!(
                    "{what}: protected, but its security is {security:?}"
                ));
            }
            // The web app reaches every protected operation through its cookie.
            let cookie_only = COOKIE_ONLY.contains(&id.as_str());
            if !takes_cookie || takes_bearer == cookie_only {
                problems.push(format!(
                    "{what}: should take the bearer{} and the cookie, takes {security:?}",
                    if cookie_only { " not" } else { "" }
                ));
            }
            // Reads a viewer may make answer 404 outside the scope, never 403.
            let codes: &[&str] = if method == "GET" {
                &["401"]
            } else {
                &["401", "403"]
            };
            for code in codes {
                if op["responses"].get(*code).is_none() {
                    problems.push(format!("{what}: no {code} response"));
                }
            }
        }
        if op["tags"].as_array().is_none_or(|t| t.is_empty()) {
            problems.push(format!("{what}: no tag"));
        }
        if op["summary"].as_str().is_none_or(str::is_empty)
            && op["description"].as_str().is_none_or(str::is_empty)
        {
            problems.push(format!("{what}: undocumented"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_error_response_is_the_error_envelope() {
    let s = spec();
    let mut problems = Vec::new();
    let mut seen = 0;
    for (method, path, op) in operations(&s) {
        for (code, resp) in op["responses"].as_object().expect("responses") {
            if !(code.starts_with('4') || code.starts_with('5')) {
                continue;
            }
            seen += 1;
            let schema = &resp["content"]["application/json"]["schema"];
            if schema["$ref"] != "#/components/schemas/ErrorBody" {
                problems.push(format!("{method} {path} {code}: schema is {schema}"));
            }
        }
        if op["responses"]
            .as_object()
            .is_some_and(|r| !r.keys().any(|k| k.starts_with('2')))
        {
            problems.push(format!("{method} {path}: no success response"));
        }
    }
    assert!(seen > 0);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_documented_error_code_is_snake_case_and_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for (code, status, what) in api_types::ERROR_CODES {
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code}"
        );
        assert!((400..600).contains(status), "{code}: {status}");
        assert!(!what.is_empty(), "{code}");
        assert!(seen.insert(*code), "{code} listed twice");
    }
}

#[test]
fn each_operation_documents_the_errors_it_can_answer_and_no_others() {
    let s = spec();
    let mut problems = Vec::new();
    for (method, path, op) in operations(&s) {
        let what = format!("{method} {path}");
        let has = |code: &str| op["responses"].get(code).is_some();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let header = |name: &str| {
            params
                .iter()
                .any(|p| p["in"] == "header" && p["name"] == name)
        };
        if has("412") != header("If-Match") {
            problems.push(format!("{what}: 412 documented iff If-Match is taken"));
        }
        if method == "GET" && has("409") {
            problems.push(format!("{what}: a read documents 409"));
        }
        let body = op.get("requestBody").is_some();
        if has("413") != body || has("415") != body {
            problems.push(format!("{what}: 413/415 documented iff a body is taken"));
        }
        // The preview's `?rule_id=` names an object as well (a filter like `entity_id`
        // does not: nothing matching is an empty page).
        let in_path = params
            .iter()
            .any(|p| p["in"] == "path" || (p["in"] == "query" && p["name"] == "rule_id"));
        if has("404") != in_path {
            problems.push(format!(
                "{what}: 404 documented iff the path or an id parameter names an object"
            ));
        }
        for p in params.iter().filter(|p| p["name"] == "limit") {
            if p["schema"]["minimum"] != 1 || p["schema"]["maximum"] != 1000 {
                problems.push(format!("{what}: limit without bounds 1..=1000"));
            }
        }
        if path.ends_with(".csv")
            && params
                .iter()
                .any(|p| p["name"] == "cursor" || p["name"] == "limit")
        {
            problems.push(format!("{what}: a streamed export declares paging"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn release_and_unassign_take_an_optional_plain_body() {
    let s = spec();
    for action in ["release", "unassign"] {
        let body =
            &s["paths"][format!("/api/v1/numbers/{{number}}/{action}")]["post"]["requestBody"];
        assert_eq!(body["required"], false, "{action}: {body}");
        let schema = &body["content"]["application/json"]["schema"];
        assert!(
            schema["$ref"].is_string() && schema.get("oneOf").is_none(),
            "{action}: {schema}"
        );
    }
}

#[test]
fn always_sent_nullable_fields_are_required_and_free_form_objects_are_typed() {
    let s = spec();
    let schemas = &s["components"]["schemas"];
    let required = |schema: &str, field: &str| {
        schemas[schema]["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|f| f == field))
    };
    for (schema, field) in [
        ("Number", "assignment"),
        ("NumberList", "next_cursor"),
        ("AuditRecord", "before"),
        ("ImportPlan", "next_cursor"),
    ] {
        assert!(required(schema, field), "{schema}.{field} is always sent");
    }
    // Left out when empty (skip_serializing_if), so optional.
    assert!(!required("ImportChange", "target") && !required("StreamMark", "reason"));
    let details = &schemas["ErrorDetail"]["properties"]["details"];
    assert_eq!(details["additionalProperties"], true, "{details}");
    assert!(details["properties"]["field"].is_object(), "{details}");
    assert_eq!(
        schemas["AuditRecord"]["properties"]["after"]["additionalProperties"],
        true
    );
    let codes = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode lists the codes");
    assert_eq!(codes.len(), api_types::ERROR_CODES.len());
    assert_eq!(
        schemas["ErrorDetail"]["properties"]["code"]["type"],
        "string"
    );
    let import = &s["paths"]["/api/v1/imports"]["post"]["requestBody"]["content"];
    assert!(import.get("text/csv").is_some() && import.get("multipart/form-data").is_some());
}

#[actix_web::test]
async fn the_spec_answers_head_like_get() {
    let app = crate::common::TestApp::new().await;
    let get = app.get("/api/v1/openapi.json").send().await;
    let head = app
        .req(actix_web::http::Method::HEAD, "/api/v1/openapi.json")
        .send()
        .await;
    assert_eq!(get.status.as_u16(), 200);
    assert_eq!(head.status.as_u16(), 200);
    assert_eq!(head.header("content-type"), get.header("content-type"));
}
