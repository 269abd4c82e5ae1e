//! The audit trail: every write route leaves exactly its records, tied to the request; no
//! route and no SQL statement can change or remove one.

use domain::Role;
use serde_json::{Value, json};

use crate::{
    common::{Resp, TestApp, User, enc},
    rbac::spec_operations,
};

/// One record a write must leave.
pub(crate) struct Expect {
    action: &'static str,
    entity: &'static str,
    entity_id: String,
    before: bool,
    after: bool,
    /// A field of `after` (or of `before` for deletions) and the value it must have.
    field: Option<(&'static str, Value)>,
    /// The record's source (`api` unless the route says otherwise).
    source: &'static str,
}

pub(crate) fn created(action: &'static str, entity: &'static str, id: &str) -> Expect {
    Expect {
        action,
        entity,
        entity_id: id.to_string(),
        before: false,
        after: true,
        field: None,
        source: "api",
    }
}

pub(crate) fn updated(action: &'static str, entity: &'static str, id: &str) -> Expect {
    Expect {
        before: true,
        ..created(action, entity, id)
    }
}

pub(crate) fn deleted(action: &'static str, entity: &'static str, id: &str) -> Expect {
    Expect {
        before: true,
        after: false,
        ..created(action, entity, id)
    }
}

impl Expect {
    fn with(mut self, field: &'static str, value: Value) -> Self {
        self.field = Some((field, value));
        self
    }

    fn with_source(mut self, source: &'static str) -> Self {
        self.source = source;
        self
    }
}

/// What a case did: the request's response, who sent it, and the records it must leave.
pub(crate) struct Case {
    pub(crate) mark: i64,
    pub(crate) resp: Resp,
    pub(crate) actor: User,
    pub(crate) expect: Vec<Expect>,
}

pub(crate) fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// A `none` platform named `name`; its id.
async fn platform(app: &TestApp, owner: &User, name: &str) -> String {
    let r = app
        .post("/api/v1/platforms")
        .as_(owner)
        .json(json!({"name": name, "kind": "none"}))
        .send()
        .await
        .expect(201);
    id_of(&r)
}

/// A Teams platform named `name` (its secret from an environment variable); its id.
async fn teams_platform(app: &TestApp, owner: &User, name: &str) -> String {
    let r = app
        .post("/api/v1/platforms")
        .as_(owner)
        .json(json!({"name": name, "kind": "teams",
            "tenant_id": "contoso.onmicrosoft.com",
            "client_id": "7a8b9c0d-1e2f-4a3b-9c5d-6e7f8a9b0c1d",
            "client_secret_env": "AUDIT_TEAMS_SECRET"}))
        .send()
        .await
        .expect(201);
    id_of(&r)
}

/// A rule body: department Sales, from the numbers tagged `audit-pool` (made here).
async fn rule_body(app: &TestApp, owner: &User, name: &str, priority: i64) -> Value {
    let tagged = format!("+4420712334{:02}", priority % 100);
    app.post("/api/v1/numbers")
        .as_(owner)
        .json(json!({"number": tagged, "tags": ["audit-pool"]}))
        .send()
        .await;
    json!({"name": name, "priority": priority, "enabled": true,
        "condition": {"all": [{"attribute": "department", "op": "equals", "value": "Sales"}]},
        "action": {"pool": {"tags": ["audit-pool"]}},
        "leaver_policy": "unassign"})
}

/// A stored rule; its id.
async fn rule(app: &TestApp, owner: &User, name: &str, priority: i64) -> String {
    let body = rule_body(app, owner, name, priority).await;
    let r = app
        .post("/api/v1/rules")
        .as_(owner)
        .json(body)
        .send()
        .await
        .expect(201);
    id_of(&r)
}

/// Runs the write route `(method, path)` once and says what it must have recorded.
async fn run_case(app: &TestApp, owner: &User, method: &str, path: &str) -> Case {
    match (method, path) {
        ("POST", "/api/v1/auth/login") => {
            let id = app.create_account("auditee", Role::Viewer, &[], &[]);
            let mark = app.audit_mark(owner).await;
            let resp = app.login("auditee", crate::common::PASSWORD).await;
            let actor = User {
                id: id.clone(),
                username: "auditee".into(),
                token: String::new(),
            };
            Case {
                mark,
                resp,
                actor,
                expect: vec![created("auth.login", "auth", &id)],
            }
        }
        ("POST", "/api/v1/auth/session") => {
            let id = app.create_account("browser-auditee", Role::Viewer, &[], &[]);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/auth/session")
                .json(json!({"username": "browser-auditee", "password": crate::common::PASSWORD}))
                .send()
                .await;
            let actor = User {
                id: id.clone(),
                username: "browser-auditee".into(),
                token: String::new(),
            };
            Case {
                mark,
                resp,
                actor,
                expect: vec![created("auth.login", "auth", &id)],
            }
        }
        // Logging out only removes the cookie: nothing to record.
        ("DELETE", "/api/v1/auth/session") => {
            let mark = app.audit_mark(owner).await;
            let resp = app.delete("/api/v1/auth/session").send().await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![],
            }
        }
        ("POST", "/api/v1/numbers") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/numbers")
                .as_(owner)
                .json(json!({"number": "+44 20 7123 3001", "tags": ["a"]}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    created("number.create", "number", "+442071233001")
                        .with("number", json!("+442071233001")),
                ],
            }
        }
        ("PATCH", "/api/v1/numbers/{number}") => {
            app.number(
                owner,
                json!({"number": "+442071233002", "description": "old"}),
            )
            .await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch(&format!("/api/v1/numbers/{}", enc("+442071233002")))
                .as_(owner)
                .json(json!({"description": "new"}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("number.update", "number", "+442071233002")
                        .with("description", json!("new")),
                ],
            }
        }
        ("DELETE", "/api/v1/numbers/{number}") => {
            app.number(owner, json!({"number": "+442071233003"})).await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/numbers/{}", enc("+442071233003")))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    deleted("number.delete", "number", "+442071233003")
                        .with("number", json!("+442071233003")),
                ],
            }
        }
        ("POST", "/api/v1/ranges") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/ranges")
                .as_(owner)
                .json(json!({"name": "Audit", "start": "+442079463000", "end": "+442079463004"}))
                .send()
                .await;
            let id = resp.json()["id"].as_str().unwrap_or("?").to_string();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![created("range.create", "range", &id).with("size", json!(5))],
            }
        }
        ("PATCH", "/api/v1/ranges/{id}") => {
            let r = app
                .post("/api/v1/ranges")
                .as_(owner)
                .json(json!({"start": "+442079463100", "end": "+442079463104"}))
                .send()
                .await
                .expect(201);
            let id = id_of(&r);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch(&format!("/api/v1/ranges/{id}"))
                .as_(owner)
                .json(json!({"description": "patched", "tags": ["x"], "apply_to_numbers": true}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("range.update", "range", &id).with("description", json!("patched")),
                ],
            }
        }
        ("DELETE", "/api/v1/ranges/{id}") => {
            let r = app
                .post("/api/v1/ranges")
                .as_(owner)
                .json(json!({"start": "+442079463200", "end": "+442079463204"}))
                .send()
                .await
                .expect(201);
            let id = id_of(&r);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/ranges/{id}"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![deleted("range.delete", "range", &id)],
            }
        }
        ("POST", "/api/v1/locations") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/locations")
                .as_(owner)
                .json(json!({"name": "Audited", "country": "gb"}))
                .send()
                .await;
            let id = resp.json()["id"].as_str().unwrap_or("?").to_string();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    created("location.create", "location", &id).with("country", json!("GB")),
                ],
            }
        }
        ("PATCH", "/api/v1/locations/{id}") => {
            let id = app.location(owner, "To patch", "GB").await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch(&format!("/api/v1/locations/{id}"))
                .as_(owner)
                .json(json!({"city": "Leeds"}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("location.update", "location", &id).with("city", json!("Leeds")),
                ],
            }
        }
        ("DELETE", "/api/v1/locations/{id}") => {
            let id = app.location(owner, "To delete", "GB").await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/locations/{id}"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    deleted("location.delete", "location", &id).with("name", json!("To delete")),
                ],
            }
        }
        ("POST", "/api/v1/admins") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/admins")
                .as_(owner)
                .json(json!({"username": "newbie", "password": "password123", "role": "operator"}))
                .send()
                .await;
            let id = resp.json()["id"].as_str().unwrap_or("?").to_string();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![created("admin.create", "admin", &id).with("role", json!("operator"))],
            }
        }
        ("PATCH", "/api/v1/admins/{id}") => {
            let id = app.create_account("to-patch", Role::Viewer, &[], &[]);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch(&format!("/api/v1/admins/{id}"))
                .as_(owner)
                .json(json!({"role": "admin"}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![updated("admin.update", "admin", &id).with("role", json!("admin"))],
            }
        }
        ("DELETE", "/api/v1/admins/{id}") => {
            let id = app.create_account("to-delete", Role::Viewer, &[], &[]);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/admins/{id}"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    deleted("admin.delete", "admin", &id).with("username", json!("to-delete")),
                ],
            }
        }
        ("POST", "/api/v1/api-tokens") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/api-tokens")
                .as_(owner)
                .json(json!({"name": "audited", "role": "viewer"}))
                .send()
                .await;
            let id = resp.json()["id"].as_str().unwrap_or("?").to_string();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    created("api_token.create", "api_token", &id).with("name", json!("audited")),
                ],
            }
        }
        ("DELETE", "/api/v1/api-tokens/{id}") => {
            let t = app
                .post("/api/v1/api-tokens")
                .as_(owner)
                .json(json!({"name": "to revoke", "role": "viewer"}))
                .send()
                .await
                .expect(201);
            let id = id_of(&t);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/api-tokens/{id}"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![updated("api_token.revoke", "api_token", &id)],
            }
        }
        ("POST", "/api/v1/services") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/services")
                .as_(owner)
                .json(json!({"name": "Main IVR", "kind": "auto_attendant"}))
                .send()
                .await;
            let id = resp.json()["id"].as_str().unwrap_or("?").to_string();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    created("service.create", "service", &id).with("name", json!("Main IVR")),
                ],
            }
        }
        ("PATCH", "/api/v1/services/{id}") => {
            let s = app
                .post("/api/v1/services")
                .as_(owner)
                .json(json!({"name": "Queue", "kind": "call_queue"}))
                .send()
                .await
                .expect(201);
            let id = id_of(&s);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch(&format!("/api/v1/services/{id}"))
                .as_(owner)
                .json(json!({"description": "sales line"}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("service.update", "service", &id)
                        .with("description", json!("sales line")),
                ],
            }
        }
        ("DELETE", "/api/v1/services/{id}") => {
            let s = app
                .post("/api/v1/services")
                .as_(owner)
                .json(json!({"name": "Old fax", "kind": "fax"}))
                .send()
                .await
                .expect(201);
            let id = id_of(&s);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/services/{id}"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    deleted("service.delete", "service", &id).with("name", json!("Old fax")),
                ],
            }
        }
        ("POST", "/api/v1/numbers/{number}/assign")
        | ("POST", "/api/v1/numbers/{number}/unassign")
        | ("POST", "/api/v1/numbers/{number}/reserve")
        | ("POST", "/api/v1/numbers/{number}/quarantine")
        | ("POST", "/api/v1/numbers/{number}/release") => {
            let verb = path.rsplit('/').next().unwrap_or_default();
            let n = match verb {
                "assign" => "+442071233101",
                "unassign" => "+442071233102",
                "reserve" => "+442071233103",
                "quarantine" => "+442071233104",
                _ => "+442071233105",
            };
            let number_path = format!("/api/v1/numbers/{}", enc(n));
            app.number(owner, json!({"number": n})).await;
            let service = app
                .post("/api/v1/services")
                .as_(owner)
                .json(json!({"name": format!("Target for {verb}"), "kind": "call_queue"}))
                .send()
                .await
                .expect(201);
            let target = json!({"target": {"kind": "service", "id": id_of(&service)}});
            match verb {
                "unassign" => {
                    app.post(&format!("{number_path}/assign"))
                        .as_(owner)
                        .json(target.clone())
                        .send()
                        .await
                        .expect(200);
                }
                "release" => {
                    app.post(&format!("{number_path}/reserve"))
                        .as_(owner)
                        .json(json!({"reason": "to release"}))
                        .send()
                        .await
                        .expect(200);
                }
                _ => {}
            }
            let (body, action, status): (Value, &'static str, &'static str) = match verb {
                "assign" => (target, "number.assign", "assigned"),
                "unassign" => (json!({"reason": "left"}), "number.unassign", "quarantined"),
                "reserve" => (json!({"reason": "VIP"}), "number.reserve", "reserved"),
                "quarantine" => (
                    json!({"reason": "spam"}),
                    "number.quarantine",
                    "quarantined",
                ),
                _ => (json!({}), "number.release", "available"),
            };
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("{number_path}/{verb}"))
                .as_(owner)
                .json(body)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![updated(action, "number", n).with("status", json!(status))],
            }
        }
        ("POST", "/api/v1/allocations") => {
            for n in ["+442071233112", "+442071233111", "+442071233113"] {
                app.number(owner, json!({"number": n, "tags": ["alloc"]}))
                    .await;
            }
            let service = app
                .post("/api/v1/services")
                .as_(owner)
                .json(json!({"name": "Allocated to", "kind": "call_queue"}))
                .send()
                .await
                .expect(201);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/allocations")
                .as_(owner)
                .json(json!({"pool": {"tags": ["alloc"]}, "target": {"kind": "service", "id": id_of(&service)}}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("number.assign", "number", "+442071233111")
                        .with("status", json!("assigned")),
                ],
            }
        }
        ("PATCH", "/api/v1/settings") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch("/api/v1/settings")
                .as_(owner)
                .json(json!({"default_quarantine_days": 45}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("settings.update", "settings", "lifecycle")
                        .with("default_quarantine_days", json!(45)),
                ],
            }
        }
        ("POST", "/api/v1/imports") => {
            app.number(owner, json!({"number": "+442071233201"})).await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/imports")
                .as_(owner)
                .header("content-type", "text/csv")
                .payload("number,description\n+442071233201,planned\n")
                .send()
                .await;
            // A plan changes nothing, so it records nothing.
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![],
            }
        }
        ("POST", "/api/v1/imports/{id}/apply") => {
            app.number(owner, json!({"number": "+442071233202"})).await;
            let plan = app
                .post("/api/v1/imports")
                .as_(owner)
                .header("content-type", "text/csv")
                .payload("number,description\n+442071233202,imported\n")
                .send()
                .await
                .expect(201);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("/api/v1/imports/{}/apply", id_of(&plan)))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("number.update", "number", "+442071233202")
                        .with("description", json!("imported"))
                        .with_source("import"),
                ],
            }
        }
        ("POST", "/api/v1/change-sets/{id}/revert") => {
            let batch =
                json!({"items": [{"number": "+442071233203"}, {"number": "+442071233204"}]});
            app.number(owner, batch).await;
            let cs = app
                .get("/api/v1/audit?limit=1")
                .as_(owner)
                .send()
                .await
                .expect(200)["items"][0]["change_set_id"]
                .as_str()
                .expect("a change set")
                .to_string();
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("/api/v1/change-sets/{cs}/revert"))
                .as_(owner)
                .send()
                .await;
            // A revert is a plan: nothing changes until it is applied.
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![],
            }
        }
        ("POST", "/api/v1/platforms") => {
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/platforms")
                .as_(owner)
                .json(json!({"name": "Audit hook", "kind": "webhook",
                    "url": "https://hooks.example.com/a", "signing_secret": "audit-signing-secret"}))
                .send()
                .await;
            let id = resp.json()["id"].as_str().unwrap_or("?").to_string();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                // The secret shows only as "set".
                expect: vec![
                    created("platform.create", "platform", &id)
                        .with("signing_secret", json!("set")),
                ],
            }
        }
        ("PATCH", "/api/v1/platforms/{id}") => {
            let id = platform(app, owner, "Audit none").await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch(&format!("/api/v1/platforms/{id}"))
                .as_(owner)
                .json(json!({"name": "Audit paper"}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("platform.update", "platform", &id).with("name", json!("Audit paper")),
                ],
            }
        }
        ("DELETE", "/api/v1/platforms/{id}") => {
            let id = platform(app, owner, "Audit gone").await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/platforms/{id}"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    deleted("platform.delete", "platform", &id).with("name", json!("Audit gone")),
                ],
            }
        }
        ("POST", "/api/v1/platforms/{id}/sync") => {
            let r = app
                .post("/api/v1/platforms")
                .as_(owner)
                .json(json!({"name": "Audit Teams", "kind": "teams",
                    "tenant_id": "contoso.onmicrosoft.com",
                    "client_id": "7a8b9c0d-1e2f-4a3b-9c5d-6e7f8a9b0c1d",
                    "client_secret_env": "AUDIT_TEAMS_SECRET"}))
                .send()
                .await
                .expect(201);
            let id = id_of(&r);
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("/api/v1/platforms/{id}/sync"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![created("platform.sync_requested", "platform", &id)],
            }
        }
        ("POST", "/api/v1/provisioning/jobs/{id}/retry") => {
            let teams = teams_platform(app, owner, "Audit retry").await;
            let service = app.service(owner, "Audit retry queue").await;
            let job = crate::rbac::failed_job(app, owner, &teams, &service).await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("/api/v1/provisioning/jobs/{job}/retry"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    updated("provisioning_job.retry", "provisioning_job", &job)
                        .with("state", json!("queued")),
                ],
            }
        }
        ("POST", "/api/v1/platforms/{id}/drift/adopt") => {
            let teams = teams_platform(app, owner, "Audit adopt").await;
            let platform_id: i64 = teams.parse().unwrap();
            app.tdb
                .db
                .write(|c| {
                    store::sync::replace_teams_numbers(
                        c,
                        platform_id,
                        &[store::sync::TeamsNumber {
                            e164: "+442071233290".into(),
                            number_type: Some("direct_routing".into()),
                            assignment_target_id: None,
                            assignment_status: Some("unassigned".into()),
                            activation_state: Some("activated".into()),
                            location_id: None,
                            iso_country_code: Some("GB".into()),
                        }],
                    )
                })
                .unwrap();
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("/api/v1/platforms/{teams}/drift/adopt"))
                .as_(owner)
                .json(json!({}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![created("number.create", "number", "+442071233290")],
            }
        }
        ("POST", "/api/v1/platforms/{id}/drift/push") => {
            let teams = teams_platform(app, owner, "Audit push").await;
            let platform_id: i64 = teams.parse().unwrap();
            app.number(
                owner,
                json!({"number": "+442071233291", "platform_id": teams, "number_type": "direct_routing"}),
            )
            .await;
            // Teams says it is assigned; the inventory has it free: push unassigns it there.
            app.tdb
                .db
                .write(|c| {
                    store::sync::replace_teams_numbers(
                        c,
                        platform_id,
                        &[store::sync::TeamsNumber {
                            e164: "+442071233291".into(),
                            number_type: Some("direct_routing".into()),
                            assignment_target_id: Some("0000-stranger".into()),
                            assignment_status: Some("userAssigned".into()),
                            activation_state: Some("activated".into()),
                            location_id: None,
                            iso_country_code: Some("GB".into()),
                        }],
                    )
                })
                .unwrap();
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("/api/v1/platforms/{teams}/drift/push"))
                .as_(owner)
                .json(json!({}))
                .send()
                .await;
            let job = app
                .get("/api/v1/provisioning/jobs?limit=1")
                .as_(owner)
                .send()
                .await
                .expect(200)["items"][0]["id"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![created("provisioning_job.push", "provisioning_job", &job)],
            }
        }
        ("POST", "/api/v1/rules") => {
            let body = rule_body(app, owner, "Audit rule", 1).await;
            let mark = app.audit_mark(owner).await;
            let resp = app.post("/api/v1/rules").as_(owner).json(body).send().await;
            let id = serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .unwrap_or_default();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![created("rule.create", "rule", &id).with("name", json!("Audit rule"))],
            }
        }
        ("PATCH", "/api/v1/rules/{id}") => {
            let id = rule(app, owner, "Audit paused", 2).await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .patch(&format!("/api/v1/rules/{id}"))
                .as_(owner)
                .json(json!({"enabled": false}))
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![updated("rule.update", "rule", &id).with("enabled", json!(false))],
            }
        }
        ("DELETE", "/api/v1/rules/{id}") => {
            let id = rule(app, owner, "Audit gone rule", 3).await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .delete(&format!("/api/v1/rules/{id}"))
                .as_(owner)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![
                    deleted("rule.delete", "rule", &id).with("name", json!("Audit gone rule")),
                ],
            }
        }
        ("POST", "/api/v1/rules/{id}/preview") => {
            let id = rule(app, owner, "Audit previewed", 4).await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post(&format!("/api/v1/rules/{id}/preview"))
                .as_(owner)
                .send()
                .await;
            // A preview changes nothing, so it records nothing.
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![],
            }
        }
        ("POST", "/api/v1/rules/preview") => {
            let body = rule_body(app, owner, "Audit draft", 5).await;
            let mark = app.audit_mark(owner).await;
            let resp = app
                .post("/api/v1/rules/preview")
                .as_(owner)
                .json(body)
                .send()
                .await;
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![],
            }
        }
        ("POST", "/api/v1/rules/evaluate") => {
            let mark = app.audit_mark(owner).await;
            let resp = app.post("/api/v1/rules/evaluate").as_(owner).send().await;
            let id = serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .unwrap_or_default();
            Case {
                mark,
                resp,
                actor: owner.clone(),
                expect: vec![created("rule_run.request", "rule_run", &id)],
            }
        }
        (m, p) => panic!(
            "no audit case for the write route {m} {p}: add one to audit::run_case saying which records it leaves"
        ),
    }
}

/// Compares what a case recorded with what it should have; returns the problems.
pub(crate) async fn check_case(app: &TestApp, owner: &User, what: &str, case: Case) -> Vec<String> {
    let mut problems = Vec::new();
    if !case.resp.status.is_success() {
        return vec![format!(
            "{what}: the request failed: {} {}",
            case.resp.status,
            case.resp.text()
        )];
    }
    let request_id = case.resp.request_id();
    let records = app.audit_since(owner, case.mark).await;
    if records.len() != case.expect.len() {
        problems.push(format!(
            "{what}: expected {} audit records, found {}: {records:#?}",
            case.expect.len(),
            records.len()
        ));
        return problems;
    }
    for (want, got) in case.expect.iter().zip(&records) {
        let mut check = |ok: bool, msg: String| {
            if !ok {
                problems.push(format!("{what}: {msg} in {got}"));
            }
        };
        check(
            got["action"] == want.action,
            format!("action is not {}", want.action),
        );
        check(
            got["entity"] == want.entity,
            format!("entity is not {}", want.entity),
        );
        check(
            got["entity_id"] == want.entity_id.as_str(),
            format!("entity_id is not {}", want.entity_id),
        );
        check(
            got["actor"]["kind"] == "admin",
            "actor.kind is not admin".into(),
        );
        check(
            got["actor"]["id"] == case.actor.id.as_str(),
            format!("actor.id is not {}", case.actor.id),
        );
        check(
            got["actor"]["name"] == case.actor.username.as_str(),
            format!("actor.name is not {}", case.actor.username),
        );
        check(
            got["source"] == want.source,
            format!("source is not {}", want.source),
        );
        check(
            got["request_id"] == request_id.as_str(),
            format!("request_id is not the response's X-Request-Id {request_id}"),
        );
        check(
            got["before"].is_object() == want.before,
            format!(
                "before should {}be an object",
                if want.before { "" } else { "not " }
            ),
        );
        check(
            got["after"].is_object() == want.after,
            format!(
                "after should {}be an object",
                if want.after { "" } else { "not " }
            ),
        );
        check(
            got["at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z') || t.ends_with("+00:00")),
            "at is not RFC 3339 UTC".into(),
        );
        if let Some((field, value)) = &want.field {
            let side = if want.after {
                &got["after"]
            } else {
                &got["before"]
            };
            check(&side[field] == value, format!("{field} is not {value}"));
        }
        if want.before && want.after && want.action != "auth.login" {
            check(got["before"] != got["after"], "before equals after".into());
        }
    }
    problems
}

#[actix_web::test]
async fn every_write_route_leaves_exactly_its_audit_records() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let writes: Vec<(String, String)> = spec_operations()
        .into_iter()
        .filter(|(m, _)| matches!(m.as_str(), "POST" | "PATCH" | "PUT" | "DELETE"))
        .collect();
    assert!(writes.len() >= 15, "too few write routes found: {writes:?}");
    let mut problems = Vec::new();
    for (method, path) in &writes {
        let case = run_case(&app, &owner, method, path).await;
        problems.extend(check_case(&app, &owner, &format!("{method} {path}"), case).await);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
