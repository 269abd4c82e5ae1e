//! Services and the directory (issue 3): assignment targets.

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use domain::{Action, Role, Scope, Source, TargetKind};
use store::lifecycle::Target;
use store::{
    StoreError, StoreResult,
    directory::{DirectoryUserInput, GroupInput, UserFilter},
    services::{ServiceFilter, ServiceInput},
    testing::{
        TestDb, owner, principal,
        schema::{numbers, platforms},
    },
};

use super::{audit_count, location, new_number};

fn person(id: &str, upn: &str, department: &str, city: &str) -> DirectoryUserInput {
    DirectoryUserInput {
        id: id.into(),
        upn: upn.into(),
        display_name: upn.split('@').next().unwrap_or(upn).replace('.', " "),
        mail: Some(upn.into()),
        department: Some(department.into()),
        job_title: None,
        office_location: Some(format!("{city} office")),
        usage_location: Some("gb".into()),
        city: Some(city.into()),
        country: Some("United Kingdom".into()),
        account_enabled: true,
    }
}

fn upsert(t: &TestDb, input: DirectoryUserInput) -> store::directory::DirectoryUser {
    t.db.write(|c| store::directory::upsert_user(c, &owner(), input))
        .unwrap()
}

fn group(t: &TestDb, id: &str, name: &str) {
    let input = GroupInput {
        id: id.into(),
        display_name: name.into(),
        ..Default::default()
    };
    t.db.write(|c| store::directory::upsert_group(c, &owner(), input))
        .unwrap();
}

fn members(t: &TestDb, group: &str, ids: &[&str]) -> usize {
    t.db.write(|c| store::directory::set_group_members(c, &owner(), group, ids))
        .unwrap()
}

fn users(t: &TestDb, scope: &Scope, filter: UserFilter) -> Vec<String> {
    t.db.read(|c| store::directory::list_users(c, scope, &filter, None, Some(1000)))
        .unwrap()
        .items
        .into_iter()
        .map(|u| u.id)
        .collect()
}

fn service(name: &str, kind: &str) -> ServiceInput {
    ServiceInput {
        name: name.into(),
        kind: kind.into(),
        platform_id: None,
        external_id: None,
        description: String::new(),
    }
}

/// Assigns a number the way the lifecycle code will, with a raw update.
fn assign_raw(t: &TestDb, e164: &str, kind: &str, id: &str) {
    let n =
        t.db.write(|c| -> StoreResult<usize> {
            Ok(
                diesel::update(numbers::table.filter(numbers::e164.eq(e164)))
                    .set((
                        numbers::status.eq("assigned"),
                        numbers::assigned_kind.eq(kind),
                        numbers::assigned_id.eq(id),
                    ))
                    .execute(c)?,
            )
        })
        .unwrap();
    assert_eq!(n, 1);
}

fn conflict_code(e: StoreError) -> &'static str {
    match e {
        StoreError::Conflict { code, .. } => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn upserting_a_directory_user_twice_updates_it_in_place() {
    let t = TestDb::new();
    let first = upsert(
        &t,
        person("u-1", "Ada.Lovelace@contoso.example", "Sales", "London"),
    );
    assert_eq!(first.upn, "Ada.Lovelace@contoso.example");
    assert_eq!(first.usage_location.as_deref(), Some("GB"));
    let mut changed = person(
        "u-1",
        "ada.lovelace@contoso.example",
        "Engineering",
        "London",
    );
    changed.account_enabled = false;
    let second = upsert(&t, changed.clone());
    assert_eq!(second.department.as_deref(), Some("Engineering"));
    assert!(!second.account_enabled);
    assert!(second.last_synced_at >= first.last_synced_at);
    // The same data again only refreshes the sync time: no new audit record.
    upsert(&t, changed);
    let all = users(
        &t,
        &Scope::unrestricted(),
        UserFilter {
            include_deleted: true,
            ..Default::default()
        },
    );
    assert_eq!(all, ["u-1"]);
    assert_eq!(audit_count(&t, "directory_user.upsert"), 2);
    // Deleted users stay, flagged, and leave the default listing.
    let gone =
        t.db.write(|c| store::directory::mark_user_deleted(c, &owner(), "u-1"))
            .unwrap();
    assert!(gone.deleted);
    assert!(users(&t, &Scope::unrestricted(), UserFilter::default()).is_empty());
    assert_eq!(audit_count(&t, "directory_user.delete"), 1);
    // Entra reports a restored user like any other: the flag clears.
    let back = upsert(
        &t,
        person("u-1", "ada.lovelace@contoso.example", "Sales", "London"),
    );
    assert!(!back.deleted);
}

#[test]
fn a_upn_taken_over_by_another_user_moves_to_the_newer_one() {
    let t = TestDb::new();
    upsert(&t, person("old", "desk@contoso.example", "Sales", "London"));
    upsert(&t, person("new", "Desk@contoso.example", "Sales", "London"));
    let resolved =
        t.db.read(|c| store::directory::resolve_target(c, "user", "desk@contoso.example"))
            .unwrap();
    assert_eq!(resolved.id, "new");
}

#[test]
fn group_members_are_replaced_and_listed_with_each_user() {
    let t = TestDb::new();
    upsert(&t, person("a", "a@contoso.example", "Sales", "London"));
    upsert(&t, person("b", "b@contoso.example", "Sales", "London"));
    group(&t, "g-sales", "Sales team");
    group(&t, "g-all", "all staff");
    // Ids Telestate does not know (devices, nested groups) are skipped.
    assert_eq!(members(&t, "g-sales", &["a", "b", "device-1"]), 2);
    assert_eq!(members(&t, "g-all", &["a"]), 1);
    let a =
        t.db.read(|c| store::directory::get_user(c, &Scope::unrestricted(), "a"))
            .unwrap();
    let names: Vec<&str> = a.groups.iter().map(|g| g.display_name.as_str()).collect();
    assert_eq!(names, ["all staff", "Sales team"]);
    let in_sales = |t: &TestDb| {
        users(
            t,
            &Scope::unrestricted(),
            UserFilter {
                group: Some("g-sales".into()),
                ..Default::default()
            },
        )
    };
    assert_eq!(in_sales(&t), ["a", "b"]);
    assert_eq!(members(&t, "g-sales", &["b"]), 1);
    assert_eq!(in_sales(&t), ["b"]);
    // Setting the same members again changes and records nothing.
    members(&t, "g-sales", &["b"]);
    assert_eq!(audit_count(&t, "directory_group.members"), 3);
    assert_eq!(audit_count(&t, "directory_group.upsert"), 2);
    let groups =
        t.db.read(|c| store::directory::list_groups(c, None, None, None))
            .unwrap();
    let counts: Vec<(String, i64)> = groups
        .items
        .iter()
        .map(|g| (g.group.id.clone(), g.member_count))
        .collect();
    assert_eq!(
        counts,
        [("g-all".to_string(), 1), ("g-sales".to_string(), 1)]
    );
    // Paging by one walks every group once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page =
            t.db.read(|c| store::directory::list_groups(c, None, cursor.as_deref(), Some(1)))
                .unwrap();
        seen.extend(page.items.into_iter().map(|g| g.group.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["g-all", "g-sales"]);
    let err =
        t.db.write(|c| store::directory::set_group_members(c, &owner(), "nope", &["a"]))
            .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

#[test]
fn users_filter_by_text_department_location_and_page_by_upn() {
    let t = TestDb::new();
    upsert(
        &t,
        person("1", "grace.hopper@contoso.example", "Engineering", "London"),
    );
    upsert(
        &t,
        person(
            "2",
            "alan.turing@contoso.example",
            "engineering",
            "Manchester",
        ),
    );
    upsert(
        &t,
        person("3", "joan.clarke@contoso.example", "Finance", "London"),
    );
    let find = |f: UserFilter| users(&t, &Scope::unrestricted(), f);
    assert_eq!(
        find(UserFilter {
            q: Some("TURING".into()),
            ..Default::default()
        }),
        ["2"]
    );
    assert_eq!(
        find(UserFilter {
            q: Some("grace hop".into()),
            ..Default::default()
        }),
        ["1"]
    );
    assert_eq!(
        find(UserFilter {
            department: Some("ENGINEERING".into()),
            ..Default::default()
        }),
        ["2", "1"]
    );
    assert_eq!(
        find(UserFilter {
            location: Some("london".into()),
            ..Default::default()
        }),
        ["1", "3"]
    );
    assert_eq!(
        find(UserFilter {
            location: Some("Manchester office".into()),
            ..Default::default()
        }),
        ["2"]
    );
    assert!(
        find(UserFilter {
            q: Some("%".into()),
            ..Default::default()
        })
        .is_empty()
    );
    let page =
        t.db.read(|c| {
            store::directory::list_users(
                c,
                &Scope::unrestricted(),
                &UserFilter::default(),
                None,
                Some(2),
            )
        })
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let rest =
        t.db.read(|c| {
            store::directory::list_users(
                c,
                &Scope::unrestricted(),
                &UserFilter::default(),
                page.next_cursor.as_deref(),
                Some(2),
            )
        })
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());
    assert_eq!(rest.items[0].id, "3");
}

#[test]
fn has_number_tells_users_with_a_number_from_those_without_within_scope() {
    let t = TestDb::new();
    upsert(&t, person("a", "a@contoso.example", "Sales", "London"));
    upsert(&t, person("b", "b@contoso.example", "Sales", "London"));
    let here = location(&t, "Here");
    let mut num = new_number("+442071234567");
    num.location_id = Some(here);
    t.db.write(|c| store::numbers::create(c, &owner(), num))
        .unwrap();
    assign_raw(&t, "+442071234567", "user", "a");
    let with = |scope: &Scope, want: bool| {
        users(
            &t,
            scope,
            UserFilter {
                has_number: Some(want),
                ..Default::default()
            },
        )
    };
    let all = Scope::unrestricted();
    assert_eq!(with(&all, true), ["a"]);
    assert_eq!(with(&all, false), ["b"]);
    let a =
        t.db.read(|c| store::directory::get_user(c, &all, "a"))
            .unwrap();
    assert_eq!(a.numbers, ["+442071234567"]);
    // A caller scoped to another site does not see the number, here either.
    let there = location(&t, "There");
    let elsewhere = Scope {
        locations: vec![there.to_string()],
        tags: vec![],
    };
    assert!(with(&elsewhere, true).is_empty());
    let a =
        t.db.read(|c| store::directory::get_user(c, &elsewhere, "a"))
            .unwrap();
    assert!(a.numbers.is_empty());
}

#[test]
fn targets_resolve_by_id_upn_or_name_and_refuse_deleted_or_disabled_users() {
    let t = TestDb::new();
    upsert(
        &t,
        person("u-ok", "Ok.User@contoso.example", "Sales", "London"),
    );
    let mut disabled = person("u-off", "off@contoso.example", "Sales", "London");
    disabled.account_enabled = false;
    upsert(&t, disabled);
    upsert(
        &t,
        person("u-gone", "gone@contoso.example", "Sales", "London"),
    );
    t.db.write(|c| store::directory::mark_user_deleted(c, &owner(), "u-gone"))
        .unwrap();
    let svc =
        t.db.write(|c| store::services::create(c, &owner(), service("Main IVR", "auto_attendant")))
            .unwrap();
    let resolve =
        |kind: &str, id: &str| t.db.read(|c| store::directory::resolve_target(c, kind, id));
    let want_user = Target {
        kind: TargetKind::User,
        id: "u-ok".to_string(),
        name: "Ok.User@contoso.example".to_string(),
    };
    assert_eq!(resolve("user", "u-ok").unwrap(), want_user);
    assert_eq!(
        resolve("user", " ok.user@CONTOSO.example ").unwrap(),
        want_user
    );
    let want_service = Target {
        kind: TargetKind::Service,
        id: svc.id.to_string(),
        name: "Main IVR".to_string(),
    };
    assert_eq!(
        resolve("service", &svc.id.to_string()).unwrap(),
        want_service
    );
    assert_eq!(resolve("service", "main ivr").unwrap(), want_service);
    assert_eq!(
        conflict_code(resolve("user", "u-gone").unwrap_err()),
        "target_deleted"
    );
    assert_eq!(
        conflict_code(resolve("user", "gone@contoso.example").unwrap_err()),
        "target_deleted"
    );
    assert_eq!(
        conflict_code(resolve("user", "u-off").unwrap_err()),
        "target_disabled"
    );
    for (kind, id, code, field) in [
        (
            "user",
            "nobody@contoso.example",
            "unknown_target",
            "target.id",
        ),
        ("user", "", "unknown_target", "target.id"),
        ("service", "999", "unknown_target", "target.id"),
        ("service", "Side IVR", "unknown_target", "target.id"),
        ("group", "u-ok", "invalid_field", "target.kind"),
    ] {
        match resolve(kind, id).unwrap_err() {
            StoreError::Invalid {
                code: c, field: f, ..
            } => assert_eq!((c, f.as_str()), (code, field), "{kind} {id}"),
            other => panic!("{kind} {id}: {other:?}"),
        }
    }
}

#[test]
fn service_names_are_unique_regardless_of_case() {
    let t = TestDb::new();
    let ivr =
        t.db.write(|c| store::services::create(c, &owner(), service("Main IVR", "auto_attendant")))
            .unwrap();
    let err =
        t.db.write(|c| store::services::create(c, &owner(), service(" main ivr ", "call_queue")))
            .unwrap_err();
    assert_eq!(conflict_code(err), "service_exists");
    let queue =
        t.db.write(|c| store::services::create(c, &owner(), service("Helpdesk", "call_queue")))
            .unwrap();
    let err =
        t.db.write(|c| {
            store::services::update(
                c,
                &owner(),
                queue.id,
                service("MAIN ivr", "call_queue"),
                None,
            )
        })
        .unwrap_err();
    assert_eq!(conflict_code(err), "service_exists");
    // Renaming a service to another spelling of its own name is fine.
    let renamed =
        t.db.write(|c| {
            store::services::update(
                c,
                &owner(),
                ivr.id,
                service("MAIN IVR", "auto_attendant"),
                Some(1),
            )
        })
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("MAIN IVR", 2));
    let err =
        t.db.write(|c| {
            store::services::update(
                c,
                &owner(),
                ivr.id,
                service("Main IVR", "auto_attendant"),
                Some(1),
            )
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Stale {
                expected: 1,
                current: 2
            }
        ),
        "{err:?}"
    );
    for (input, code, field) in [
        (service("Fax", "telefax"), "invalid_field", "kind"),
        (service(" ", "fax"), "invalid_name", "name"),
        (
            ServiceInput {
                platform_id: Some(999),
                ..service("Trunk", "sip_trunk")
            },
            "unknown_platform",
            "platform_id",
        ),
    ] {
        match t
            .db
            .write(|c| store::services::create(c, &owner(), input))
            .unwrap_err()
        {
            StoreError::Invalid {
                code: c, field: f, ..
            } => assert_eq!((c, f.as_str()), (code, field)),
            other => panic!("{other:?}"),
        }
    }
    let platform: i64 =
        t.db.write(|c| -> StoreResult<i64> {
            diesel::insert_into(platforms::table)
                .values((
                    platforms::name.eq("Teams"),
                    platforms::kind.eq("teams"),
                    platforms::created_at.eq(store::now()),
                ))
                .execute(c)?;
            Ok(platforms::table.select(platforms::id).first(c)?)
        })
        .unwrap();
    let trunk =
        t.db.write(|c| {
            store::services::create(
                c,
                &owner(),
                ServiceInput {
                    platform_id: Some(platform),
                    external_id: Some(" 6f1c-aa ".into()),
                    ..service("Trunk", "SIP_TRUNK")
                },
            )
        })
        .unwrap();
    assert_eq!(trunk.kind, "sip_trunk");
    assert_eq!(trunk.external_id.as_deref(), Some("6f1c-aa"));
    let queues =
        t.db.read(|c| {
            store::services::list(
                c,
                &Scope::unrestricted(),
                &ServiceFilter {
                    kind: Some("call_queue".into()),
                    ..Default::default()
                },
                None,
                None,
            )
        })
        .unwrap();
    let names: Vec<&str> = queues.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Helpdesk"]);
    let found =
        t.db.read(|c| {
            store::services::list(
                c,
                &Scope::unrestricted(),
                &ServiceFilter {
                    q: Some("ivr".into()),
                    ..Default::default()
                },
                None,
                None,
            )
        })
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(audit_count(&t, "service.create"), 3);
    assert_eq!(audit_count(&t, "service.update"), 1);
}

#[test]
fn a_service_with_numbers_assigned_cannot_be_deleted() {
    let t = TestDb::new();
    let svc =
        t.db.write(|c| store::services::create(c, &owner(), service("Reception", "call_queue")))
            .unwrap();
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+442071234500")))
        .unwrap();
    assign_raw(&t, "+442071234500", "service", &svc.id.to_string());
    let err =
        t.db.write(|c| store::services::delete(c, &owner(), svc.id, None))
            .unwrap_err();
    assert_eq!(conflict_code(err), "service_in_use");
    // A viewer scoped elsewhere cannot see the number, yet it still holds the service.
    let got =
        t.db.read(|c| store::services::get(c, &Scope::unrestricted(), svc.id))
            .unwrap();
    assert_eq!(got.numbers, ["+442071234500"]);
    let scoped = domain::Permit::authorize(
        &principal(
            Role::Admin,
            Scope {
                locations: vec!["1".into()],
                tags: vec![],
            },
        ),
        Action::Manage,
        Source::Api,
        None,
    )
    .unwrap();
    let err =
        t.db.write(|c| store::services::delete(c, &scoped, svc.id, None))
            .unwrap_err();
    assert_eq!(conflict_code(err), "service_in_use");
    // Once the number lets go, the service can go.
    t.db.write(|c| -> StoreResult<usize> {
        Ok(diesel::update(numbers::table)
            .set((
                numbers::status.eq("available"),
                numbers::assigned_kind.eq(None::<String>),
                numbers::assigned_id.eq(None::<String>),
            ))
            .execute(c)?)
    })
    .unwrap();
    t.db.write(|c| store::services::delete(c, &owner(), svc.id, Some(1)))
        .unwrap();
    let err =
        t.db.read(|c| store::services::get(c, &Scope::unrestricted(), svc.id))
            .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(audit_count(&t, "service.delete"), 1);
}
