//! The test and demo admin API under `/_sim/` (no bearer, no faults, no latency): the same
//! operations as [`Tenant`], as JSON over HTTP, for callers in another process.
//!
//! JSON is camelCase; durations are whole milliseconds.
//!
//! | Route | Body | Answer |
//! |---|---|---|
//! | `POST /_sim/users` | a `SimUser` (`userPrincipalName`, `displayName`, `department`, …) | 201 `{"id"}` |
//! | `GET /_sim/users/{id}` | | 200 the `SimUser` |
//! | `PATCH /_sim/users/{id}` | the fields to change; `null` clears | 204 |
//! | `POST /_sim/users/{id}/disable` | | 204 |
//! | `DELETE /_sim/users/{id}[?permanent=true]` | | 204 (soft delete unless permanent) |
//! | `POST /_sim/resource-accounts` | `{"displayName","userPrincipalName"}` | 201 `{"id"}` |
//! | `POST /_sim/groups` | `{"displayName","description"?}` | 201 `{"id"}` |
//! | `DELETE /_sim/groups/{id}[?permanent=true]` | | 204 |
//! | `POST`/`DELETE /_sim/groups/{id}/members/{userId}` | | 204 |
//! | `POST /_sim/numbers` | one `SimNumber` or a list (`telephoneNumber`, `numberType`, …) | 201 `{"added"}` |
//! | `GET /_sim/numbers[/{tel}]` | | 200 `SimNumber`(s) |
//! | `PUT /_sim/numbers/{tel}/assignment` | `{"assignmentTargetId": "…" or null}` | 204 |
//! | `PUT`/`GET /_sim/faults` | `Faults` (`throttleRate`, `retryAfterSecs`, `slowDelay` ms, …) | 204 / 200 |
//! | `PUT /_sim/settings` | `operationDelayMs`, `latencyMs`, `usersPageSize`, switches | 204 |
//! | `POST /_sim/expire-delta-tokens` | | 204 |
//! | `POST /_sim/advance-clock?seconds=N` | | 204 |
//! | `GET /_sim/stats` | | 200 `SimStats` |
//!
//! Unknown ids answer 404 in Graph's error envelope.

use std::time::Duration;

use actix_web::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Faults;
use crate::http::{Ctx, Reply};
use crate::model::SimUser;
use crate::state::Tenant;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewGroup {
    display_name: String,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewResourceAccount {
    display_name: String,
    user_principal_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Assignment {
    assignment_target_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Settings {
    operation_delay_ms: Option<u64>,
    latency_ms: Option<u64>,
    users_page_size: Option<usize>,
    group_members_chunk: Option<usize>,
    wrap_entities_in_value: Option<bool>,
    business_errors_in_operation: Option<bool>,
    allow_reassign: Option<bool>,
    enforce_capabilities: Option<bool>,
    number_assignments_next_link: Option<bool>,
    valid_location_ids: Option<Option<Vec<String>>>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| Reply::bad_request(format!("Invalid JSON: {e}")))
}

fn done(found: bool) -> Reply {
    if found {
        Reply::empty(StatusCode::NO_CONTENT)
    } else {
        Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "No such object, or nothing to change.",
        )
    }
}

fn created(id: String) -> Reply {
    Reply::json(StatusCode::CREATED, json!({ "id": id }))
}

pub(crate) fn handle(
    tenant: &Tenant,
    method: &str,
    segs: &[&str],
    ctx: &Ctx,
    body: &[u8],
) -> Reply {
    match route(tenant, method, segs, ctx, body) {
        Ok(r) | Err(r) => r,
    }
}

fn route(
    tenant: &Tenant,
    method: &str,
    segs: &[&str],
    ctx: &Ctx,
    body: &[u8],
) -> Result<Reply, Reply> {
    let permanent = ctx
        .param("permanent")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(match (method, segs) {
        ("POST", ["users"]) => created(tenant.add_user(parse::<SimUser>(body)?)),
        ("GET", ["users", id]) => match tenant.user(id) {
            Some(u) => Reply::ok(json!(u)),
            None => done(false),
        },
        ("PATCH", ["users", id]) => {
            // Merge the given fields over the current user; null clears an optional field.
            let patch: serde_json::Map<String, Value> = parse(body)?;
            let Some(current) = tenant.user(id) else {
                return Ok(done(false));
            };
            let mut merged =
                serde_json::to_value(current).map_err(|e| Reply::bad_request(e.to_string()))?;
            if let Value::Object(m) = &mut merged {
                for (k, v) in patch {
                    m.insert(k, v);
                }
            }
            let updated: SimUser =
                serde_json::from_value(merged).map_err(|e| Reply::bad_request(e.to_string()))?;
            done(tenant.update_user(id, |u| *u = updated))
        }
        ("POST", ["users", id, "disable"]) => done(tenant.disable_user(id)),
        ("DELETE", ["users", id]) => done(tenant.delete_user(id, permanent)),
        ("POST", ["resource-accounts"]) => {
            let r: NewResourceAccount = parse(body)?;
            created(tenant.add_resource_account(&r.display_name, &r.user_principal_name))
        }
        ("POST", ["groups"]) => {
            let g: NewGroup = parse(body)?;
            created(tenant.add_group(&g.display_name, g.description.as_deref()))
        }
        ("DELETE", ["groups", id]) => done(tenant.delete_group(id, permanent)),
        ("POST", ["groups", g, "members", u]) => done(tenant.add_member(g, u)),
        ("DELETE", ["groups", g, "members", u]) => done(tenant.remove_member(g, u)),
        ("POST", ["numbers"]) => {
            let numbers = match parse(body)? {
                OneOrMany::Many(v) => v,
                OneOrMany::One(n) => vec![n],
            };
            let count = numbers.len();
            tenant.add_numbers(numbers);
            Reply::json(StatusCode::CREATED, json!({ "added": count }))
        }
        ("GET", ["numbers"]) => Reply::ok(json!(tenant.numbers())),
        ("GET", ["numbers", tel]) => match tenant.number(tel) {
            Some(n) => Reply::ok(json!(n)),
            None => done(false),
        },
        ("PUT", ["numbers", tel, "assignment"]) => {
            let a: Assignment = parse(body)?;
            done(tenant.set_assignment(tel, a.assignment_target_id.as_deref()))
        }
        ("PUT", ["faults"]) => {
            tenant.set_faults(parse::<Faults>(body)?);
            Reply::empty(StatusCode::NO_CONTENT)
        }
        ("GET", ["faults"]) => Reply::ok(json!(tenant.config().faults)),
        ("PUT", ["settings"]) => {
            let s: Settings = parse(body)?;
            tenant.update_config(|c| {
                if let Some(ms) = s.operation_delay_ms {
                    c.operation_delay = Duration::from_millis(ms);
                }
                if let Some(ms) = s.latency_ms {
                    c.latency = Duration::from_millis(ms);
                }
                if let Some(n) = s.users_page_size {
                    c.users_page_size = n.max(1);
                }
                if let Some(n) = s.group_members_chunk {
                    c.group_members_chunk = n.max(1);
                }
                set(&mut c.wrap_entities_in_value, s.wrap_entities_in_value);
                set(
                    &mut c.business_errors_in_operation,
                    s.business_errors_in_operation,
                );
                set(&mut c.allow_reassign, s.allow_reassign);
                set(&mut c.enforce_capabilities, s.enforce_capabilities);
                set(
                    &mut c.number_assignments_next_link,
                    s.number_assignments_next_link,
                );
                if let Some(ids) = s.valid_location_ids {
                    c.valid_location_ids = ids;
                }
            });
            Reply::empty(StatusCode::NO_CONTENT)
        }
        ("POST", ["expire-delta-tokens"]) => {
            tenant.expire_delta_tokens();
            Reply::empty(StatusCode::NO_CONTENT)
        }
        ("POST", ["advance-clock"]) => {
            let secs = ctx
                .param("seconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            tenant.advance_clock(Duration::from_secs(secs));
            Reply::empty(StatusCode::NO_CONTENT)
        }
        ("GET", ["stats"]) => Reply::ok(json!(tenant.stats())),
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("No admin route {method} /_sim/{}", segs.join("/")),
        ),
    })
}

fn set(target: &mut bool, value: Option<bool>) {
    if let Some(v) = value {
        *target = v;
    }
}
