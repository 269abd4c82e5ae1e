//! Platforms (issue 11): validation, sealed secrets, credentials for the worker, roles,
//! deletion and sync requests.

use diesel::{QueryDsl, RunQueryDsl};
use domain::{Action, Permit, PlatformKind, Role, Scope, Source};
use store::{
    StoreError, StoreResult,
    audit::AuditFilter,
    platforms::{Credentials, NewPlatform, Platform, PlatformPatch},
    secrets::{Sealer, SecretKey},
    testing::{TestDb, owner, principal, schema::platforms},
};

use super::new_number;

const TENANT: &str = "0f5e3c2a-1b4d-4e6f-8a9b-0c1d2e3f4a5b";
const CLIENT: &str = "7a8b9c0d-1e2f-4a3b-9c5d-6e7f8a9b0c1d";
const CLIENT_SECRET: &str = "s3cr3t~client~value~Q8";
const SIGNING_SECRET: &str = "webhook-signing-secret-0123456789";

fn sealer(t: &TestDb) -> Sealer {
    t.db.write(|c| store::settings::sealer(c, &SecretKey::insecure_default()))
        .unwrap()
}

fn permit(role: Role, scope: Scope) -> Permit {
    Permit::authorize(&principal(role, scope), Action::Manage, Source::Api, None).unwrap()
}

fn teams(name: &str) -> NewPlatform {
    NewPlatform {
        name: name.into(),
        kind: "teams".into(),
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT.into()),
        client_secret: Some(CLIENT_SECRET.into()),
        ..Default::default()
    }
}

fn webhook(name: &str) -> NewPlatform {
    NewPlatform {
        name: name.into(),
        kind: "webhook".into(),
        url: Some("https://hooks.example.com/telestate".into()),
        signing_secret: Some(SIGNING_SECRET.into()),
        ..Default::default()
    }
}

fn create_as(t: &TestDb, p: &Permit, input: NewPlatform) -> StoreResult<Platform> {
    let s = sealer(t);
    t.db.write(|c| store::platforms::create(c, p, &s, input))
}

fn create(t: &TestDb, input: NewPlatform) -> StoreResult<Platform> {
    create_as(t, &owner(), input)
}

fn update_as(
    t: &TestDb,
    p: &Permit,
    id: i64,
    patch: PlatformPatch,
    if_match: Option<i64>,
) -> StoreResult<Platform> {
    let s = sealer(t);
    t.db.write(|c| store::platforms::update(c, p, &s, id, patch, if_match))
}

#[track_caller]
fn assert_invalid(r: StoreResult<Platform>, field: &str) {
    match r {
        Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
        other => panic!("expected 400 naming {field}, got {other:?}"),
    }
}

#[track_caller]
fn assert_forbidden<T: std::fmt::Debug>(r: StoreResult<T>, code: &str) {
    match r {
        Err(StoreError::Forbidden { code: c, .. }) => assert_eq!(c, code),
        other => panic!("expected 403 {code}, got {other:?}"),
    }
}

fn audit_text(t: &TestDb) -> String {
    let filter = AuditFilter {
        entity_kind: Some("platform".into()),
        ..Default::default()
    };
    let rows =
        t.db.read(|c| store::audit::list(c, &owner(), &filter, None, Some(1000)))
            .unwrap()
            .items;
    assert!(!rows.is_empty());
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.action,
                r.before_json.as_deref().unwrap_or("-"),
                r.after_json.as_deref().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_kind_is_created_with_only_its_fields_and_no_secret_in_sight() {
    let t = TestDb::new();
    let tm = create(&t, teams("Contoso Teams")).unwrap();
    assert_eq!(tm.kind, PlatformKind::Teams);
    assert_eq!(tm.tenant_id.as_deref(), Some(TENANT));
    assert!(tm.has_client_secret && !tm.has_signing_secret);
    assert_eq!(tm.client_secret_env, None);
    let wh = create(&t, webhook("Hooks")).unwrap();
    assert_eq!(wh.kind, PlatformKind::Webhook);
    assert!(wh.has_signing_secret);
    let none = create(
        &t,
        NewPlatform {
            name: "Paper".into(),
            kind: "none".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(none.kind, PlatformKind::None);
    assert_eq!(none.version, 1);

    // Sealed at rest: the columns hold neither secret.
    let sealed: Vec<(Option<String>, Option<String>)> =
        t.db.read(|c| {
            Ok(platforms::table
                .select((
                    platforms::client_secret_sealed,
                    platforms::signing_secret_sealed,
                ))
                .load(c)?)
        })
        .unwrap();
    let all = format!("{sealed:?}");
    assert!(
        !all.contains(CLIENT_SECRET) && !all.contains(SIGNING_SECRET),
        "{all}"
    );
    assert!(all.contains("v1."), "{all}");
    // Nor does any record, any serialised platform, or a Debug of the credentials.
    let audit = audit_text(&t);
    assert!(!audit.contains(CLIENT_SECRET) && !audit.contains(SIGNING_SECRET));
    assert!(audit.contains(r#""client_secret":"set""#), "{audit}");
    let listed =
        t.db.read(|c| store::platforms::list(c, None, None, None, None))
            .unwrap();
    assert_eq!(listed.items.len(), 3);
    let shown = format!("{:?}", listed.items);
    assert!(!shown.contains(CLIENT_SECRET) && !shown.contains(SIGNING_SECRET));
    let s = sealer(&t);
    let creds =
        t.db.read(|c| store::platforms::credentials(c, &s, tm.id))
            .unwrap();
    assert!(!format!("{creds:?}").contains(CLIENT_SECRET));
}

#[test]
fn credentials_open_the_stored_secret_or_read_the_named_variable() {
    let t = TestDb::new();
    let s = sealer(&t);
    let stored = create(&t, teams("Stored")).unwrap();
    let got =
        t.db.read(|c| store::platforms::credentials(c, &s, stored.id))
            .unwrap();
    assert_eq!(
        got,
        Credentials::Teams {
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            client_secret: CLIENT_SECRET.into(),
            graph_base_url: "https://graph.microsoft.com/v1.0".into(),
            login_base_url: "https://login.microsoftonline.com".into(),
            sync_interval: std::time::Duration::from_secs(900),
        }
    );
    // A reference: read at call time from this process's environment (PATH is always set).
    let by_env = create(
        &t,
        NewPlatform {
            client_secret: None,
            client_secret_env: Some("PATH".into()),
            graph_base_url: Some("http://127.0.0.1:8099/v1.0/".into()),
            login_base_url: Some("http://localhost:8099".into()),
            sync_interval_seconds: Some(5),
            ..teams("By env")
        },
    )
    .unwrap();
    assert!(!by_env.has_client_secret);
    match t
        .db
        .read(|c| store::platforms::credentials(c, &s, by_env.id))
        .unwrap()
    {
        Credentials::Teams {
            client_secret,
            graph_base_url,
            sync_interval,
            ..
        } => {
            assert_eq!(client_secret, std::env::var("PATH").unwrap());
            assert_eq!(graph_base_url, "http://127.0.0.1:8099/v1.0");
            assert_eq!(sync_interval, std::time::Duration::from_secs(5));
        }
        other => panic!("{other:?}"),
    }
    let missing = update_as(
        &t,
        &owner(),
        by_env.id,
        PlatformPatch {
            client_secret_env: Some("TELESTATE_TEST_SURELY_UNSET_0F5E".into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    match t
        .db
        .read(|c| store::platforms::credentials(c, &s, missing.id))
    {
        Err(StoreError::Conflict { code, message, .. }) => {
            assert_eq!(code, "secret_unavailable");
            assert!(
                message.contains("TELESTATE_TEST_SURELY_UNSET_0F5E"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let wh = create(&t, webhook("Hooks")).unwrap();
    assert_eq!(
        t.db.read(|c| store::platforms::credentials(c, &s, wh.id))
            .unwrap(),
        Credentials::Webhook {
            url: "https://hooks.example.com/telestate".into(),
            signing_secret: SIGNING_SECRET.into(),
        }
    );
    // Under another master key the sealed secret does not open, and says so cleanly.
    let other = SecretKey::from_text(&"z".repeat(40)).unwrap();
    let wrong = t.db.write(|c| store::settings::sealer(c, &other)).unwrap();
    match t
        .db
        .read(|c| store::platforms::credentials(c, &wrong, stored.id))
    {
        Err(StoreError::Internal(m)) => assert!(!m.contains(CLIENT_SECRET)),
        other => panic!("{other:?}"),
    }
    let teams_list = t.db.read(store::platforms::teams_platforms).unwrap();
    assert_eq!(
        teams_list,
        vec![
            (stored.id, "Stored".to_string()),
            (by_env.id, "By env".to_string())
        ]
    );
    assert_eq!(
        t.db.read(|c| store::platforms::kind_of(c, wh.id)).unwrap(),
        Some(PlatformKind::Webhook)
    );
    assert_eq!(
        t.db.read(|c| store::platforms::kind_of(c, 999)).unwrap(),
        None
    );
}

#[test]
fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    let t = TestDb::new();
    let cases: Vec<(NewPlatform, &str)> = vec![
        (
            NewPlatform {
                name: " ".into(),
                ..teams("x")
            },
            "name",
        ),
        (
            NewPlatform {
                name: "n".repeat(101),
                ..teams("x")
            },
            "name",
        ),
        (
            NewPlatform {
                kind: "sip".into(),
                ..teams("x")
            },
            "kind",
        ),
        (
            NewPlatform {
                tenant_id: None,
                ..teams("x")
            },
            "tenant_id",
        ),
        (
            NewPlatform {
                tenant_id: Some("not a tenant".into()),
                ..teams("x")
            },
            "tenant_id",
        ),
        (
            NewPlatform {
                client_id: Some("contoso.com".into()),
                ..teams("x")
            },
            "client_id",
        ),
        (
            NewPlatform {
                client_secret: None,
                ..teams("x")
            },
            "client_secret_env",
        ),
        (
            NewPlatform {
                client_secret_env: Some("SECRET".into()),
                ..teams("x")
            },
            "client_secret",
        ),
        (
            NewPlatform {
                client_secret: None,
                client_secret_env: Some("lower_case".into()),
                ..teams("x")
            },
            "client_secret_env",
        ),
        (
            NewPlatform {
                client_secret: None,
                client_secret_env: Some("TELESTATE_SECRET_KEY".into()),
                ..teams("x")
            },
            "client_secret_env",
        ),
        (
            NewPlatform {
                client_secret: Some(String::new()),
                ..teams("x")
            },
            "client_secret",
        ),
        (
            NewPlatform {
                client_secret: Some("x".repeat(1025)),
                ..teams("x")
            },
            "client_secret",
        ),
        (
            NewPlatform {
                graph_base_url: Some("http://graph.example.com".into()),
                ..teams("x")
            },
            "graph_base_url",
        ),
        (
            NewPlatform {
                login_base_url: Some("https://user:pw@login.example.com".into()),
                ..teams("x")
            },
            "login_base_url",
        ),
        (
            NewPlatform {
                graph_base_url: Some("https://graph.example.com/?a=1".into()),
                ..teams("x")
            },
            "graph_base_url",
        ),
        (
            NewPlatform {
                graph_base_url: Some("ftp://graph.example.com".into()),
                ..teams("x")
            },
            "graph_base_url",
        ),
        (
            NewPlatform {
                graph_base_url: Some("/v1.0".into()),
                ..teams("x")
            },
            "graph_base_url",
        ),
        (
            NewPlatform {
                sync_interval_seconds: Some(0),
                ..teams("x")
            },
            "sync_interval_seconds",
        ),
        (
            NewPlatform {
                sync_interval_seconds: Some(86_401),
                ..teams("x")
            },
            "sync_interval_seconds",
        ),
        (
            NewPlatform {
                url: Some("https://x.example.com".into()),
                ..teams("x")
            },
            "url",
        ),
        (
            NewPlatform {
                url: None,
                ..webhook("x")
            },
            "url",
        ),
        (
            NewPlatform {
                url: Some("https://x.example.com/#frag".into()),
                ..webhook("x")
            },
            "url",
        ),
        (
            NewPlatform {
                signing_secret: Some("short".into()),
                ..webhook("x")
            },
            "signing_secret",
        ),
        (
            NewPlatform {
                signing_secret: None,
                ..webhook("x")
            },
            "signing_secret",
        ),
        (
            NewPlatform {
                tenant_id: Some(TENANT.into()),
                ..webhook("x")
            },
            "tenant_id",
        ),
        (
            NewPlatform {
                name: "x".into(),
                kind: "none".into(),
                sync_interval_seconds: Some(60),
                ..Default::default()
            },
            "sync_interval_seconds",
        ),
    ];
    for (input, field) in cases {
        let what = format!("{input:?}");
        let r = create(&t, input);
        assert!(
            matches!(&r, Err(StoreError::Invalid { field: f, .. }) if f == field),
            "{what}: expected 400 naming {field}, got {r:?}"
        );
    }
    assert!(
        t.db.read(|c| store::platforms::list(c, None, None, None, None))
            .unwrap()
            .items
            .is_empty()
    );
    // Loopback hosts may use plain http; the domain tenant form is accepted.
    create(
        &t,
        NewPlatform {
            tenant_id: Some("Contoso.onmicrosoft.com".into()),
            graph_base_url: Some("http://[::1]:9000/v1.0".into()),
            login_base_url: Some("http://127.0.0.2:9000".into()),
            ..teams("Loopback")
        },
    )
    .unwrap();
    match create(&t, teams("LOOPBACK")) {
        Err(StoreError::Conflict { code, .. }) => assert_eq!(code, "platform_exists"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn writes_need_an_unscoped_admin_and_secrets_an_owner() {
    let t = TestDb::new();
    let scoped = permit(
        Role::Admin,
        Scope {
            locations: vec!["1".into()],
            tags: vec![],
        },
    );
    let admin = permit(Role::Admin, Scope::unrestricted());
    let none = NewPlatform {
        name: "Paper".into(),
        kind: "none".into(),
        ..Default::default()
    };
    assert_forbidden(create_as(&t, &scoped, none.clone()), "out_of_scope");
    assert_forbidden(create_as(&t, &admin, teams("T")), "forbidden");
    assert_forbidden(create_as(&t, &admin, webhook("W")), "forbidden");
    let paper = create_as(&t, &admin, none).unwrap();
    let tm = create(&t, teams("T")).unwrap();
    // An admin edits the rest, but not a secret nor where it is sent.
    let renamed = update_as(
        &t,
        &admin,
        tm.id,
        PlatformPatch {
            name: Some("Teams".into()),
            sync_interval_seconds: Some(Some(60)),
            graph_base_url: Some(None),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Teams", 2));
    for patch in [
        PlatformPatch {
            client_secret: Some("new".into()),
            ..Default::default()
        },
        PlatformPatch {
            client_secret_env: Some("PATH".into()),
            ..Default::default()
        },
        PlatformPatch {
            login_base_url: Some(Some("https://evil.example.com".into())),
            ..Default::default()
        },
    ] {
        assert_forbidden(update_as(&t, &admin, tm.id, patch, None), "forbidden");
    }
    assert_forbidden(
        update_as(&t, &scoped, tm.id, PlatformPatch::default(), None),
        "out_of_scope",
    );
    assert_forbidden(
        t.db.write(|c| store::platforms::delete(c, &scoped, paper.id, None)),
        "out_of_scope",
    );
    assert_forbidden(
        t.db.write(|c| store::platforms::request_sync(c, &scoped, tm.id)),
        "out_of_scope",
    );
    // An owner switches the Teams secret to a reference and back.
    let env = update_as(
        &t,
        &owner(),
        tm.id,
        PlatformPatch {
            client_secret_env: Some("PATH".into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert!(!env.has_client_secret);
    assert_eq!(env.client_secret_env.as_deref(), Some("PATH"));
    let back = update_as(
        &t,
        &owner(),
        tm.id,
        PlatformPatch {
            client_secret: Some(CLIENT_SECRET.into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert!(back.has_client_secret && back.client_secret_env.is_none());
    assert!(!audit_text(&t).contains(CLIENT_SECRET));
}

#[test]
fn updates_are_version_guarded_and_keep_the_kind() {
    let t = TestDb::new();
    let tm = create(&t, teams("T")).unwrap();
    let patch = || PlatformPatch {
        name: Some("T2".into()),
        ..Default::default()
    };
    match update_as(&t, &owner(), tm.id, patch(), Some(tm.version + 1)) {
        Err(StoreError::Stale { current, .. }) => assert_eq!(current, tm.version),
        other => panic!("{other:?}"),
    }
    let p = update_as(&t, &owner(), tm.id, patch(), Some(tm.version)).unwrap();
    assert_eq!(p.version, tm.version + 1);
    assert_invalid(
        update_as(
            &t,
            &owner(),
            tm.id,
            PlatformPatch {
                kind: Some("webhook".into()),
                ..Default::default()
            },
            None,
        ),
        "kind",
    );
    assert_invalid(
        update_as(
            &t,
            &owner(),
            tm.id,
            PlatformPatch {
                url: Some("https://x.example.com".into()),
                ..Default::default()
            },
            None,
        ),
        "url",
    );
    // Sending the same kind is fine.
    update_as(
        &t,
        &owner(),
        tm.id,
        PlatformPatch {
            kind: Some("teams".into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    let wh = create(&t, webhook("W")).unwrap();
    match update_as(
        &t,
        &owner(),
        wh.id,
        PlatformPatch {
            name: Some("t2".into()),
            ..Default::default()
        },
        None,
    ) {
        Err(StoreError::Conflict { code, .. }) => assert_eq!(code, "platform_exists"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_platform_in_use_is_not_deleted_and_a_free_one_is() {
    let t = TestDb::new();
    let tm = create(&t, teams("T")).unwrap();
    let mut nn = new_number("+442071234567");
    nn.platform_id = Some(tm.id);
    t.db.write(|c| store::numbers::create(c, &owner(), nn))
        .unwrap();
    match t
        .db
        .write(|c| store::platforms::delete(c, &owner(), tm.id, None))
    {
        Err(StoreError::Conflict { code, details, .. }) => {
            assert_eq!(code, "platform_in_use");
            assert_eq!(details["numbers"], 1);
        }
        other => panic!("{other:?}"),
    }
    let wh = create(&t, webhook("W")).unwrap();
    match t
        .db
        .write(|c| store::platforms::delete(c, &owner(), wh.id, Some(7)))
    {
        Err(StoreError::Stale { .. }) => {}
        other => panic!("{other:?}"),
    }
    t.db.write(|c| store::platforms::delete(c, &owner(), wh.id, Some(1)))
        .unwrap();
    assert!(matches!(
        t.db.read(|c| store::platforms::get(c, wh.id)),
        Err(StoreError::NotFound { .. })
    ));
    assert!(audit_text(&t).contains("platform.delete"));
}

#[test]
fn a_sync_request_is_recorded_for_teams_and_refused_for_others() {
    let t = TestDb::new();
    let tm = create(&t, teams("T")).unwrap();
    assert!(tm.sync.is_none());
    let p =
        t.db.write(|c| store::platforms::request_sync(c, &owner(), tm.id))
            .unwrap();
    let first = p.sync.expect("a sync row").requested_at.expect("requested");
    assert_eq!(p.version, tm.version, "a sync request is not an edit");
    let again =
        t.db.write(|c| store::platforms::request_sync(c, &owner(), tm.id))
            .unwrap();
    assert!(again.sync.unwrap().requested_at.unwrap() >= first);
    let wh = create(&t, webhook("W")).unwrap();
    match t
        .db
        .write(|c| store::platforms::request_sync(c, &owner(), wh.id))
    {
        Err(StoreError::Conflict { code, .. }) => assert_eq!(code, "not_syncable"),
        other => panic!("{other:?}"),
    }
    assert!(audit_text(&t).contains("platform.sync_requested"));
    // The worker's other columns are read back as written.
    t.db.write(|c| {
        diesel::sql_query(
            "UPDATE platform_sync SET users_changed = 3, error = 'throttled' WHERE platform_id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(tm.id)
        .execute(c)?;
        Ok(())
    })
    .unwrap();
    let s =
        t.db.read(|c| store::platforms::get(c, tm.id))
            .unwrap()
            .sync
            .unwrap();
    assert_eq!(
        (s.users_changed, s.error.as_deref()),
        (3, Some("throttled"))
    );
}

/// Review finding: the webhook URL (where signed events go), the tenant and the client
/// id (whose directory the worker reads and provisions, with the stored secret) decide
/// where the installation's credentials act, as much as the base URLs do. An admin may
/// rename or re-time a platform, not point it elsewhere; sending the current value back
/// is not a change.
#[test]
fn an_admin_cannot_point_a_webhook_or_a_tenant_elsewhere() {
    let t = TestDb::new();
    let admin = permit(Role::Admin, Scope::unrestricted());
    let w = create(&t, webhook("W")).unwrap();
    let tm = create(&t, teams("T")).unwrap();
    assert_forbidden(
        update_as(
            &t,
            &admin,
            w.id,
            PlatformPatch {
                url: Some("https://attacker.example.net/collect".into()),
                ..Default::default()
            },
            None,
        ),
        "forbidden",
    );
    assert_forbidden(
        update_as(
            &t,
            &admin,
            w.id,
            PlatformPatch {
                url: Some("http://127.0.0.1:9000/internal".into()),
                ..Default::default()
            },
            None,
        ),
        "forbidden",
    );
    for patch in [
        PlatformPatch {
            tenant_id: Some("attacker.onmicrosoft.com".into()),
            ..Default::default()
        },
        PlatformPatch {
            client_id: Some("11111111-2222-4333-8444-555555555555".into()),
            ..Default::default()
        },
    ] {
        assert_forbidden(update_as(&t, &admin, tm.id, patch, None), "forbidden");
    }
    // The values it has already are not a change.
    update_as(
        &t,
        &admin,
        w.id,
        PlatformPatch {
            name: Some("W2".into()),
            url: Some("https://hooks.example.com/telestate".into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    update_as(
        &t,
        &admin,
        tm.id,
        PlatformPatch {
            tenant_id: Some(TENANT.to_uppercase()),
            client_id: Some(CLIENT.into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    // The owner may.
    let moved = update_as(
        &t,
        &owner(),
        w.id,
        PlatformPatch {
            url: Some("https://hooks2.example.com/in".into()),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(moved.url.as_deref(), Some("https://hooks2.example.com/in"));
}
