//! Every URL of the API, wired in one place.
//!
//! Registration goes through `utoipa-actix-web`, so each route here is also in the OpenAPI
//! document. The RBAC test walks that document: a route added here without a row in the
//! test's expected-permissions table fails the test.

use serde_json::{Map, Value, json};
use utoipa::openapi::{
    OpenApi,
    security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::handlers::{
    admins, audit, auth, health, lifecycle, locations, numbers, ranges, stats, tokens,
};

/// Registers every route of the application.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(
            scope::scope("/api/v1")
                .service(auth::login)
                .service(auth::create_session)
                .service(auth::get_session)
                .service(auth::delete_session)
                .service(auth::get_me)
                .service(numbers::list_numbers)
                .service(numbers::create_numbers)
                .service(numbers::get_number)
                .service(numbers::update_number)
                .service(numbers::delete_number)
                .service(numbers::number_history)
                .service(ranges::list_ranges)
                .service(ranges::create_range)
                .service(ranges::get_range)
                .service(ranges::update_range)
                .service(ranges::delete_range)
                .service(locations::list_locations)
                .service(locations::create_location)
                .service(locations::get_location)
                .service(locations::update_location)
                .service(locations::delete_location)
                .service(stats::list_tags)
                .service(stats::get_stats)
                .service(admins::list_admins)
                .service(admins::create_admin)
                .service(admins::get_admin)
                .service(admins::update_admin)
                .service(admins::delete_admin)
                .service(tokens::list_api_tokens)
                .service(tokens::create_api_token)
                .service(tokens::revoke_api_token)
                // lifecycle: number actions, allocations, settings
                .service(lifecycle::assign_number)
                .service(lifecycle::unassign_number)
                .service(lifecycle::reserve_number)
                .service(lifecycle::quarantine_number)
                .service(lifecycle::release_number)
                .service(lifecycle::create_allocation)
                .service(lifecycle::get_settings)
                .service(lifecycle::update_settings)
                // services and directory
                .service(crate::handlers::services::list_services)
                .service(crate::handlers::services::create_service)
                .service(crate::handlers::services::get_service)
                .service(crate::handlers::services::update_service)
                .service(crate::handlers::services::delete_service)
                .service(crate::handlers::directory::list_users)
                .service(crate::handlers::directory::get_user)
                .service(crate::handlers::directory::list_groups)
                .service(crate::handlers::platforms::list_platforms)
                .service(crate::handlers::platforms::create_platform)
                .service(crate::handlers::platforms::get_platform)
                .service(crate::handlers::platforms::update_platform)
                .service(crate::handlers::platforms::delete_platform)
                .service(crate::handlers::platforms::sync_platform)
                .service(audit::list_audit)
                .service(audit::export_audit)
                .service(crate::handlers::export::export_numbers)
                .service(crate::handlers::imports::create_import)
                .service(crate::handlers::imports::get_import)
                .service(crate::handlers::imports::apply_import)
                .service(crate::handlers::imports::get_change_set)
                .service(crate::handlers::imports::revert_change_set)
                .service(crate::handlers::events::stream_events)
                // provisioning jobs and drift (the worker carries them out)
                .service(crate::handlers::provisioning::list_jobs)
                .service(crate::handlers::provisioning::get_job)
                .service(crate::handlers::provisioning::retry_job)
                .service(crate::handlers::provisioning::list_drift)
                .service(crate::handlers::provisioning::adopt_drift)
                .service(crate::handlers::provisioning::push_drift)
                // assignment rules (the worker applies them)
                .service(crate::handlers::rules::list_rules)
                .service(crate::handlers::rules::create_rule)
                .service(crate::handlers::rules::preview_draft)
                .service(crate::handlers::rules::evaluate_rules)
                .service(crate::handlers::rules::get_rule)
                .service(crate::handlers::rules::update_rule)
                .service(crate::handlers::rules::delete_rule)
                .service(crate::handlers::rules::preview_rule)
                .service(crate::handlers::rules::list_rule_runs)
                .service(crate::handlers::rules::get_rule_run),
        );
}

/// The security scheme name every protected operation refers to.
pub const BEARER: &str = "bearer";

/// The security scheme name of the web app's session cookie.
pub const COOKIE: &str = "cookie";

/// Operations only a session cookie authenticates (a bearer token does not).
const COOKIE_ONLY: &[&str] = &["get_session"];

/// Operations that log in: they can answer 401 and 429 though public.
const LOGINS: &[&str] = &["login", "create_session"];
/// Operations bounded in how many run at once: 429 `busy` beyond.
const BOUNDED: &[&str] = &["preview_rule", "preview_draft"];

/// Conventions applied to the whole document: the bearer and cookie schemes, security on every
/// operation that does not opt out, and the error envelope on every error status an
/// operation can answer with.
pub struct Conventions;

impl utoipa::Modify for Conventions {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT from POST /api/v1/auth/login, or an API token (tst_…)")
                    .build(),
            ),
        );
        components.add_security_scheme(
            COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The web app's session, set HttpOnly by POST /api/v1/auth/session. Requests it \
                 authenticates with POST, PUT, PATCH or DELETE must also send the header \
                 X-Telestate-CSRF with the session's csrf_token (403 csrf_failed otherwise).",
            ))),
        );
        if !components.schemas.contains_key("ErrorBody") {
            use utoipa::{PartialSchema, ToSchema};
            let mut schemas = Vec::new();
            api_types::ErrorBody::schemas(&mut schemas);
            components
                .schemas
                .insert("ErrorBody".into(), api_types::ErrorBody::schema());
            components.schemas.extend(schemas);
        }
        // The rest works on the JSON form: the per-operation and per-schema refinements
        // below read far better as JSON edits than as utoipa's builder types.
        let Ok(mut doc) = serde_json::to_value(&*api) else {
            return;
        };
        refine(&mut doc);
        if let Ok(refined) = serde_json::from_value(doc) {
            *api = refined;
            any_value_fields(api);
        }
    }
}

/// Operations that take more than the viewer role, though they only read: the rest of the
/// reads answer 404 (never 403) for what lies outside the caller's scope.
const PRIVILEGED_READS: &[&str] = &[
    "list_admins",
    "get_admin",
    "list_api_tokens",
    "get_import",
    // Drift spans the whole platform: a scoped reader is refused (403 out_of_scope).
    "list_drift",
];

/// Operations that look up an object a query parameter names: 404 when it is absent.
const FINDS_BY_QUERY: &[&str] = &["preview_draft"];

/// Writes that no state can refuse: they answer no 409.
const WRITES_WITHOUT_CONFLICT: &[&str] = &[
    "login",
    "create_session",
    "delete_session",
    "create_api_token",
    "revoke_api_token",
    "update_settings",
    // Previews change nothing (a draft's preview answers 409 for a taken name or
    // priority, as saving it would); a queued evaluation answers the run already queued.
    "preview_rule",
    "evaluate_rules",
];

/// Operations whose success answer carries the object's `ETag` (its version, for `If-Match`).
const SENDS_ETAG: &[&str] = &[
    "create_numbers",
    "get_number",
    "update_number",
    "create_location",
    "get_location",
    "update_location",
    "create_range",
    "get_range",
    "update_range",
    "create_service",
    "get_service",
    "update_service",
    "create_platform",
    "get_platform",
    "update_platform",
    "sync_platform",
    "create_rule",
    "get_rule",
    "update_rule",
];

/// Response schemas whose `Option` fields are left out when empty (`skip_serializing_if`),
/// so they stay optional; every other `Option` field of a response is always sent.
const OMITS_EMPTY_FIELDS: &[&str] = &["ImportChange", "StreamMark"];

/// `ImportChange` fields that carry any JSON value: a string, a list of tags or `{id, name}`.
const ANY_VALUE_FIELDS: [&str; 2] = ["old", "new"];

/// Types [`ANY_VALUE_FIELDS`] as any value (a schema without `type`).
fn any_value_fields(api: &mut OpenApi) {
    use utoipa::openapi::{
        RefOr,
        schema::{ObjectBuilder, Schema, SchemaType},
    };
    let Some(RefOr::T(Schema::Object(change))) = api
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ImportChange"))
    else {
        return;
    };
    for field in ANY_VALUE_FIELDS {
        let description = match change.properties.get(field) {
            Some(RefOr::T(Schema::Object(o))) => o.description.clone(),
            _ => None,
        };
        change.properties.insert(
            field.to_string(),
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(description)
                .into(),
        );
    }
}

/// What an error status means, as each operation's response lists it.
fn error_description(status: &str) -> &'static str {
    match status {
        "400" => "Invalid input; `details.field` names the field",
        "401" => "Missing, invalid or expired credentials",
        "403" => {
            "The role or scope does not allow this, or a cookie-authenticated write lacks its X-Telestate-CSRF header (`csrf_failed`)"
        }
        "404" => "Not found, or outside the caller's scope",
        "409" => "Conflicts with the current state (`error.code` says how)",
        "412" => "If-Match is stale",
        "413" => "Body too large",
        "415" => "Unsupported Content-Type",
        "429" => {
            "Too many login attempts (`too_many_attempts`), or too many such requests at once (`busy`); see Retry-After"
        }
        "503" => "Database unavailable",
        _ => "Unexpected error",
    }
}

/// Refines the generated document so that generated clients (openapi-python-client,
/// openapi-typescript) use it as it is: per-operation errors, truthful schemas, bounds,
/// headers and media types the macros cannot express. Idempotent: it runs twice.
fn refine(doc: &mut Value) {
    doc["servers"] = json!([{ "url": "/", "description": "The server that serves this document" }]);
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("contact".into(), json!({ "name": "Telestate maintainers" }));
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                refine_operation(path, method, op);
            }
        }
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        refine_schemas(schemas);
    }
    require_always_sent(doc);
}

/// One operation: security, its real error statuses, parameter bounds, headers, bodies.
fn refine_operation(path: &str, method: &str, op: &mut Value) {
    let id = op["operationId"].as_str().unwrap_or_default().to_string();
    // `security(())` on a handler marks it public; everything else needs the bearer.
    // Public ones get `security: []` (none), which generators read as "no credentials";
    // `[{}]` (anonymous allowed) would make them demand a token client.
    let public = op["security"].as_array().is_some_and(|s| {
        s.is_empty() || s.iter().any(|r| r.as_object().is_some_and(Map::is_empty))
    });
    op["security"] = if public {
        json!([])
    } else if COOKIE_ONLY.contains(&id.as_str()) {
        json!([{ COOKIE: [] }])
    } else {
        json!([{ BEARER: [] }, { COOKIE: [] }])
    };
    let csv_export = path.ends_with(".csv");
    let mut params_in_path = false;
    let mut if_match = false;
    let mut idempotent = false;
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        // A streamed export sends every matching row: paging parameters do not apply.
        if csv_export {
            params.retain(|p| !matches!(p["name"].as_str(), Some("cursor" | "limit")));
        }
        for p in params.iter_mut() {
            match (p["in"].as_str(), p["name"].as_str()) {
                (Some("path"), _) => params_in_path = true,
                (Some("header"), Some("If-Match")) => if_match = true,
                (Some("header"), Some("Idempotency-Key")) => idempotent = true,
                (Some("query"), Some("limit")) => {
                    p["schema"]["minimum"] = json!(1);
                    p["schema"]["maximum"] = json!(1000);
                }
                _ => {}
            }
        }
        if params.is_empty() {
            op.as_object_mut().map(|o| o.remove("parameters"));
        }
    }
    if csv_export {
        // A file to save, not text to read: generators hand it over as bytes.
        op["responses"]["200"]["content"]["text/csv"]["schema"] =
            json!({ "type": "string", "format": "binary" });
    }
    let has_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
    let has_body = op.get("requestBody").is_some();
    if let Some(body) = op.get_mut("requestBody") {
        plain_optional_body(body);
    }
    if id == "create_import" {
        document_import_body(op);
    }
    if id == "stream_events" {
        document_stream(op);
    }
    if SENDS_ETAG.contains(&id.as_str()) {
        for status in ["200", "201", "202"] {
            if let Some(r) = op["responses"]
                .get_mut(status)
                .and_then(Value::as_object_mut)
            {
                r.entry("headers").or_insert_with(|| json!({}))["ETag"] = json!({
                    "description": "The object's version, to send back as If-Match",
                    "schema": { "type": "string" }
                });
            }
        }
    }
    let facts = Facts {
        id: &id,
        public,
        read: method == "get" || method == "head",
        has_params,
        has_body,
        params_in_path,
        if_match,
        idempotent,
    };
    set_error_responses(op, &error_statuses(&facts));
}

/// The import takes the file as the raw body or as a multipart form's `file` part; both
/// are documented, as files (bytes) rather than text.
fn document_import_body(op: &mut Value) {
    op["requestBody"]["content"]["multipart/form-data"] = json!({
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": { "type": "string", "format": "binary", "description": "The CSV file" }
            }
        }
    });
    // The raw body is a file, not text a client builds: generators then take bytes.
    op["requestBody"]["content"]["text/csv"]["schema"] =
        json!({ "type": "string", "format": "binary" });
    op["requestBody"]["description"] =
        json!("The CSV file as the body (`text/csv`), or a form whose `file` part holds it");
}

/// The event stream's answer: `text/event-stream`, with the JSON each event carries.
fn document_stream(op: &mut Value) {
    op["responses"]["200"]["content"] = json!({
        "text/event-stream": {
            "schema": {
                "type": "string",
                "description": "Server-sent events. Each change is an event whose `id` is the audit record's id, \
                    whose `event` is its action (`number.assign`, `range.create`, …) and whose `data` is a \
                    ChangeEvent as JSON; `ready` (replay done, live events follow) and `reset` (the requested \
                    id is outside the replay window: reload) carry a StreamMark."
            },
            "x-event-types": {
                "<entity.verb>": { "$ref": "#/components/schemas/ChangeEvent" },
                "ready": { "$ref": "#/components/schemas/StreamMark" },
                "reset": { "$ref": "#/components/schemas/StreamMark" }
            }
        }
    });
}

/// What decides the error statuses an operation can answer.
struct Facts<'a> {
    id: &'a str,
    public: bool,
    read: bool,
    has_params: bool,
    has_body: bool,
    params_in_path: bool,
    if_match: bool,
    idempotent: bool,
}

/// The error statuses an operation can really answer (not a blanket set: a generated
/// client then only has to handle what can happen).
fn error_statuses(f: &Facts<'_>) -> Vec<&'static str> {
    let mut statuses = vec!["500", "503"];
    if f.has_params || f.has_body {
        statuses.push("400");
    }
    if !f.public || LOGINS.contains(&f.id) {
        statuses.push("401");
    }
    if !f.public && (!f.read || PRIVILEGED_READS.contains(&f.id)) {
        statuses.push("403");
    }
    if f.params_in_path || FINDS_BY_QUERY.contains(&f.id) {
        statuses.push("404");
    }
    if (!f.public && !f.read && !WRITES_WITHOUT_CONFLICT.contains(&f.id)) || f.idempotent {
        statuses.push("409");
    }
    if f.if_match {
        statuses.push("412");
    }
    if f.has_body {
        statuses.extend(["413", "415"]);
    }
    if LOGINS.contains(&f.id) || BOUNDED.contains(&f.id) {
        statuses.push("429");
    }
    statuses
}

/// Replaces the error responses the macros wrote with `statuses`, each the error envelope,
/// all responses in numeric order.
fn set_error_responses(op: &mut Value, statuses: &[&str]) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    responses.retain(|status, _| !status.starts_with('4') && !status.starts_with('5'));
    for status in statuses {
        responses.insert(
            status.to_string(),
            json!({
                "description": error_description(status),
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
            }),
        );
    }
    // Numeric order reads best and keeps the file's diffs small.
    let mut sorted: Vec<(String, Value)> = std::mem::take(responses).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    responses.extend(sorted);
}

/// A body the macros wrote as `oneOf: [$ref, null]` (an `Option<T>` body) becomes a plain
/// `$ref` that is not required: clients then omit it instead of sending `null`.
fn plain_optional_body(body: &mut Value) {
    let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    let mut optional = false;
    for media in content.values_mut() {
        let Some(one_of) = media["schema"]["oneOf"].as_array() else {
            continue;
        };
        let refs: Vec<&Value> = one_of.iter().filter(|s| s.get("$ref").is_some()).collect();
        let nulls = one_of.iter().filter(|s| s["type"] == "null").count();
        if refs.len() == 1 && nulls + 1 == one_of.len() {
            media["schema"] = json!({ "$ref": refs[0]["$ref"] });
            optional = true;
        }
    }
    if optional {
        body["required"] = json!(false);
    }
}

/// Schemas the derive cannot type truthfully: free-form objects, any-value fields, and the
/// published list of error codes.
fn refine_schemas(schemas: &mut Map<String, Value>) {
    let free_object = |description: &Value, nullable: bool| {
        json!({
            "type": if nullable { json!(["object", "null"]) } else { json!("object") },
            "additionalProperties": true,
            "description": description,
        })
    };
    if let Some(details) = schemas
        .get_mut("ErrorDetail")
        .map(|s| &mut s["properties"]["details"])
    {
        let mut d = free_object(&details["description"], false);
        d["properties"] = json!({
            "field": { "type": "string", "description": "The offending field, for invalid input" }
        });
        *details = d;
    }
    if let Some(code) = schemas
        .get_mut("ErrorDetail")
        .map(|s| &mut s["properties"]["code"])
    {
        // An open string, so a client built today survives codes added later; ErrorCode
        // lists the codes known now.
        code["description"] = json!(
            "Stable snake_case code, e.g. `number_not_available`; the known codes are the ErrorCode schema, and new ones may appear."
        );
    }
    for (schema, field) in [
        ("AuditRecord", "before"),
        ("AuditRecord", "after"),
        ("ChangeEvent", "data"),
    ] {
        if let Some(p) = schemas.get_mut(schema).map(|s| &mut s["properties"][field]) {
            *p = free_object(&p["description"], true);
        }
    }
    for field in ANY_VALUE_FIELDS {
        if let Some(p) = schemas
            .get_mut("ImportChange")
            .map(|s| &mut s["properties"][field])
        {
            // utoipa cannot read a schema without `type` back: [`any_value_fields`]
            // writes the real one (any JSON value) after the round trip.
            *p = json!({ "type": "null", "description": p["description"] });
        }
    }
    let codes: Vec<&str> = api_types::ERROR_CODES.iter().map(|(c, _, _)| *c).collect();
    let meanings: Vec<String> = api_types::ERROR_CODES
        .iter()
        .map(|(c, status, what)| format!("- `{c}` ({status}): {what}"))
        .collect();
    schemas.insert(
        "ErrorCode".into(),
        json!({
            "type": "string",
            "enum": codes,
            "description": format!(
                "The error codes the API answers with today, as `error.code` carries them. `code` itself is an open string: new codes may be added.\n\n{}",
                meanings.join("\n")
            ),
        }),
    );
}

/// Every schema a `$ref` inside `value` names, transitively.
fn referenced(
    value: &Value,
    schemas: &Map<String, Value>,
    seen: &mut std::collections::BTreeSet<String>,
) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                if let (true, Some(r)) = (k == "$ref", v.as_str()) {
                    let name = r.rsplit('/').next().unwrap_or_default().to_string();
                    if seen.insert(name.clone())
                        && let Some(s) = schemas.get(&name)
                    {
                        referenced(s, schemas, seen);
                    }
                } else {
                    referenced(v, schemas, seen);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| referenced(v, schemas, seen)),
        _ => {}
    }
}

/// Marks the nullable properties of response schemas required: serde sends an `Option`
/// field as `null` unless it says `skip_serializing_if`, so clients may rely on the key.
/// Schemas that requests use too are left alone (a request may omit the key).
fn require_always_sent(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let (mut in_responses, mut in_requests) = Default::default();
    if let Some(paths) = doc["paths"].as_object() {
        for op in paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|i| i.values())
        {
            referenced(&op["responses"], schemas, &mut in_responses);
            referenced(&op["requestBody"], schemas, &mut in_requests);
        }
    }
    let names: Vec<String> = in_responses
        .difference(&in_requests)
        .filter(|n| !OMITS_EMPTY_FIELDS.contains(&n.as_str()))
        .cloned()
        .collect();
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for name in names {
        let Some(schema) = schemas.get_mut(&name) else {
            continue;
        };
        let nullable: Vec<String> = schema["properties"]
            .as_object()
            .map(|props| {
                props
                    .iter()
                    .filter(|(_, p)| is_nullable(p))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        if nullable.is_empty() {
            continue;
        }
        let required = schema
            .as_object_mut()
            .map(|o| o.entry("required").or_insert_with(|| json!([])));
        if let Some(Value::Array(required)) = required {
            for field in nullable {
                if !required.iter().any(|r| r == &Value::String(field.clone())) {
                    required.push(Value::String(field));
                }
            }
        }
    }
}

/// True when a property schema admits `null`.
fn is_nullable(p: &Value) -> bool {
    match &p["type"] {
        Value::Array(t) => t.iter().any(|t| t == "null"),
        Value::String(t) => t == "null",
        _ => p["oneOf"]
            .as_array()
            .is_some_and(|o| o.iter().any(|s| s["type"] == "null")),
    }
}
#[cfg(test)]
mod tests {
    #[test]
    fn the_refined_document_reads_back_as_an_openapi_document() {
        let mut doc = serde_json::to_value(crate::openapi()).expect("serialises");
        super::refine(&mut doc);
        let back: Result<utoipa::openapi::OpenApi, _> = serde_json::from_value(doc);
        assert!(back.is_ok(), "{:?}", back.err());
    }
}
