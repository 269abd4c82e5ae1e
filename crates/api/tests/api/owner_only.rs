//! Records about accounts, API tokens, logins and platforms are for owners only: no other
//! role reads them from the audit trail, whatever its scope, filter or format.

use domain::Role;
use serde_json::json;

use crate::common::{TestApp, User, enc};

/// The entity kinds only owners may read.
const OWNER_ONLY: [&str; 4] = ["admin", "api_token", "auth", "platform"];

/// An estate whose trail holds every owner-only kind of record next to number records:
/// accounts created and changed, a token, good and failed logins.
async fn trail() -> (TestApp, User, Vec<User>) {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let others = vec![
        app.user(Role::Viewer).await,
        app.user(Role::Operator).await,
        app.user(Role::Admin).await,
    ];
    app.post("/api/v1/admins")
        .as_(&owner)
        .json(json!({"username": "alice", "password": "password123", "role": "viewer"}))
        .send()
        .await
        .expect(201);
    app.post("/api/v1/api-tokens")
        .as_(&owner)
        .json(json!({"name": "ITSM", "role": "operator"}))
        .send()
        .await
        .expect(201);
    app.login("alice", "wrong password").await.expect(401);
    app.login("mallory", "wrong password").await.expect(401);
    app.number(&others[2], json!({"number": "+442071239001"}))
        .await;
    (app, owner, others)
}

/// Every way of asking the trail for owner-only records.
fn filters(owner: &User, others: &[User]) -> Vec<String> {
    let mut f: Vec<String> = [
        "",
        "?entity=admin",
        "?entity=api_token",
        "?entity=auth",
        "?entity=platform",
        "?action=admin.create",
        "?action=api_token.create",
        "?action=auth.login",
        "?action=auth.login_failed",
        "?actor=mallory",
        "?actor=alice",
        "?source=api",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for u in std::iter::once(owner).chain(others) {
        f.push(format!("?actor={}", enc(&u.username)));
        f.push(format!("?actor={}", u.id));
        f.push(format!("?entity=admin&entity_id={}", u.id));
    }
    f
}

#[actix_web::test]
async fn viewers_operators_and_admins_never_read_records_about_accounts_tokens_or_logins() {
    let (app, owner, others) = trail().await;
    for user in &others {
        for f in filters(&owner, &others) {
            let path = format!("/api/v1/audit{f}");
            let items = app.list_all(user, &path, 2).await;
            for r in &items {
                let entity = r["entity"].as_str().unwrap_or_default();
                assert!(
                    !OWNER_ONLY.contains(&entity),
                    "{path} as {}: {r}",
                    user.username
                );
            }
            // The CSV form holds the same records.
            let csv = app
                .get(&path)
                .as_(user)
                .header("accept", "text/csv")
                .send()
                .await;
            assert_eq!(csv.status, 200, "{path} as CSV");
            let text = csv.text();
            assert_eq!(
                text.lines().count(),
                1 + items.len(),
                "{path} as CSV: {text}"
            );
            for action in [",admin.", ",api_token.", ",auth.", ",platform."] {
                assert!(!text.contains(action), "{path} as CSV: {text}");
            }
        }
        // What they may read is still there.
        let numbers = app.list_all(user, "/api/v1/audit?entity=number", 10).await;
        assert_eq!(numbers.len(), 1, "as {}", user.username);
    }
}

#[actix_web::test]
async fn owners_read_records_about_accounts_tokens_and_logins() {
    let (app, owner, _) = trail().await;
    for (filter, entity, at_least) in [
        ("?entity=admin", "admin", 5),
        ("?entity=api_token", "api_token", 1),
        ("?entity=auth", "auth", 6),
        ("?actor=mallory", "auth", 1),
    ] {
        let items = app
            .list_all(&owner, &format!("/api/v1/audit{filter}"), 2)
            .await;
        assert!(items.len() >= at_least, "{filter}: {items:#?}");
        assert!(items.iter().all(|r| r["entity"] == entity), "{filter}");
    }
}

#[actix_web::test]
async fn a_scoped_admin_reads_no_owner_only_record_either() {
    let (app, owner, others) = trail().await;
    let here = app.location(&owner, "Here", "GB").await;
    let scoped = app.scoped_user(Role::Admin, &[&here], &[]).await;
    for f in filters(&owner, &others) {
        let path = format!("/api/v1/audit{f}");
        for r in app.list_all(&scoped, &path, 50).await {
            assert_eq!(r["entity"], "number", "{path}: {r}");
        }
    }
}
