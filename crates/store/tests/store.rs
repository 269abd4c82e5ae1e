//! Store tests: run on SQLite by default, on PostgreSQL with
//! `TEST_DATABASE_URL=postgres://…/postgres`; each test gets its own database.

use diesel::RunQueryDsl;
use domain::{NumberBlock, PhoneNumber, Role, Scope, Tag, TargetKind};
use store::{
    StoreError,
    admins::{Login, NewAdmin},
    audit::AuditFilter,
    locations::LocationInput,
    numbers::{NewNumber, NumberFilter, NumberPatch},
    ranges::{NewRange, RangePatch},
    testing::{TestDb, owner, principal},
};

fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

fn new_number(s: &str) -> NewNumber {
    NewNumber {
        number: n(s),
        location_id: None,
        tags: vec![],
        description: String::new(),
        platform_id: None,
        number_type: None,
    }
}

fn location(t: &TestDb, name: &str) -> i64 {
    let input = LocationInput {
        name: name.into(),
        country: "GB".into(),
        region: None,
        city: None,
        address: None,
        emergency_location_id: None,
    };
    t.db.write(|c| store::locations::create(c, &owner(), input))
        .unwrap()
        .id
}

fn range(
    t: &TestDb,
    start: &str,
    end: &str,
    location_id: Option<i64>,
    tags: &[&str],
) -> store::StoreResult<store::ranges::Range> {
    let block = NumberBlock::new(n(start), n(end), 1_000_000).unwrap();
    let new = NewRange {
        name: None,
        block,
        location_id,
        tags: Tag::parse_set(tags).unwrap(),
        description: String::new(),
        platform_id: None,
        number_type: None,
    };
    t.db.write(|c| store::ranges::create(c, &owner(), new))
}

fn audit_count(t: &TestDb, action: &str) -> usize {
    let filter = AuditFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    t.db.read(|c| store::audit::list(c, &Scope::unrestricted(), &filter, None, Some(1000)))
        .unwrap()
        .items
        .len()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
    let names = |b: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("{dir}/{b}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
    assert!(!names("sqlite").is_empty());
}

#[test]
fn a_range_materialises_every_number_with_its_location_and_tags() {
    let t = TestDb::new();
    let loc = location(&t, "London");
    let r = range(
        &t,
        "+442070000000",
        "+442070009999",
        Some(loc),
        &["Sales", "London"],
    )
    .unwrap();
    assert_eq!(r.size, 10_000);
    assert_eq!(r.utilisation.available, 10_000);
    assert_eq!(r.utilisation.total, 10_000);
    let filter = NumberFilter {
        tags: vec!["sales".into()],
        location_id: Some(loc),
        ..Default::default()
    };
    let page =
        t.db.read(|c| store::numbers::list(c, &Scope::unrestricted(), &filter, None, Some(3)))
            .unwrap();
    let got: Vec<_> = page.items.iter().map(|x| x.number.as_str()).collect();
    assert_eq!(got, ["+442070000000", "+442070000001", "+442070000002"]);
    assert_eq!(page.items[0].tags, ["London", "Sales"]);
    assert_eq!(page.items[0].range_id, Some(r.id));
    assert_eq!(audit_count(&t, "range.create"), 1);
}

#[test]
fn overlapping_ranges_and_ranges_over_existing_numbers_are_refused() {
    let t = TestDb::new();
    let first = range(&t, "+442070000000", "+442070000999", None, &[]).unwrap();
    match range(&t, "+442070000500", "+442070001499", None, &[]) {
        Err(StoreError::Conflict {
            code: "range_overlap",
            details,
            ..
        }) => assert_eq!(details["ranges"][0]["id"], first.id.to_string()),
        other => panic!("expected range_overlap, got {other:?}"),
    }
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+442070005000")))
        .unwrap();
    match range(&t, "+442070004000", "+442070005999", None, &[]) {
        Err(StoreError::Conflict {
            code: "numbers_exist",
            details,
            ..
        }) => assert_eq!(details["numbers"][0], "+442070005000"),
        other => panic!("expected numbers_exist, got {other:?}"),
    }
    // Nothing of the refused ranges was left behind.
    let all =
        t.db.read(|c| {
            store::numbers::list(
                c,
                &Scope::unrestricted(),
                &NumberFilter::default(),
                None,
                Some(1000),
            )
        })
        .unwrap();
    assert_eq!(all.items.len(), 1000);
    assert!(all.next_cursor.is_some());
    // An extension of a number is inside the block of its base.
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+442070007000;ext=12")))
        .unwrap();
    let err = range(&t, "+442070007000", "+442070007999", None, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "numbers_exist",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_batch_with_one_bad_number_creates_nothing_and_audits_nothing() {
    let t = TestDb::new();
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+14255550100")))
        .unwrap();
    let batch = vec![new_number("+14255550101"), new_number("+14255550100")];
    let err =
        t.db.write(|c| store::numbers::create_many(c, &owner(), batch))
            .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "number_exists",
                ..
            }
        ),
        "{err:?}"
    );
    let err =
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+14255550101"))
            .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert_eq!(audit_count(&t, "number.create"), 1);
}

#[test]
fn a_failure_after_the_audit_record_rolls_back_the_change_and_its_record() {
    let t = TestDb::new();
    let result: store::StoreResult<()> = t.db.write(|c| {
        store::numbers::create(c, &owner(), new_number("+14255550100"))?;
        Err(StoreError::conflict("injected", "crash after the write"))
    });
    assert!(result.is_err());
    assert!(
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+14255550100"))
            .is_err()
    );
    assert_eq!(audit_count(&t, "number.create"), 0);
}

#[test]
fn audit_records_cannot_be_changed_or_deleted() {
    let t = TestDb::new();
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+14255550100")))
        .unwrap();
    let upd =
        t.db.write(|c| Ok(diesel::sql_query("UPDATE audit_log SET action = 'x'").execute(c)?));
    assert!(upd.is_err(), "update of an audit record succeeded");
    let del =
        t.db.write(|c| Ok(diesel::sql_query("DELETE FROM audit_log").execute(c)?));
    assert!(del.is_err(), "delete of an audit record succeeded");
    assert_eq!(audit_count(&t, "number.create"), 1);
}

#[test]
fn patch_checks_the_version_and_records_before_and_after() {
    let t = TestDb::new();
    let created =
        t.db.write(|c| store::numbers::create(c, &owner(), new_number("+14255550100")))
            .unwrap();
    let change = NumberPatch {
        description: Some("reception".into()),
        tags: Some(Tag::parse_set(&["VIP"]).unwrap()),
        ..Default::default()
    };
    let stale = t.db.write(|c| {
        store::numbers::patch(
            c,
            &owner(),
            "+14255550100",
            change.clone(),
            Some(created.version + 1),
        )
    });
    assert!(matches!(stale, Err(StoreError::Stale { .. })), "{stale:?}");
    let after =
        t.db.write(|c| {
            store::numbers::patch(c, &owner(), "+14255550100", change, Some(created.version))
        })
        .unwrap();
    assert_eq!(after.version, created.version + 1);
    assert_eq!(after.tags, ["VIP"]);
    let history =
        t.db.read(|c| store::audit::number_history(c, "+14255550100", None, None, None))
            .unwrap();
    assert_eq!(history.items.len(), 2);
    let update = &history.items[0];
    assert_eq!(update.action, "number.update");
    assert!(
        update
            .before_json
            .as_deref()
            .unwrap()
            .contains("\"description\":\"\"")
    );
    assert!(update.after_json.as_deref().unwrap().contains("reception"));
}

#[test]
fn scoped_callers_see_only_their_numbers() {
    let t = TestDb::new();
    let london = location(&t, "London");
    let paris = location(&t, "Paris");
    range(
        &t,
        "+442070000000",
        "+442070000099",
        Some(london),
        &["sales"],
    )
    .unwrap();
    range(
        &t,
        "+442070000100",
        "+442070000199",
        Some(paris),
        &["support"],
    )
    .unwrap();
    let by_location = Scope {
        locations: vec![london.to_string()],
        tags: vec![],
    };
    let by_tag = Scope {
        locations: vec![],
        tags: vec!["support".into()],
    };
    let both = Scope {
        locations: vec![london.to_string()],
        tags: vec!["support".into()],
    };
    let count = |s: &Scope| {
        t.db.read(|c| store::numbers::list(c, s, &NumberFilter::default(), None, Some(1000)))
            .unwrap()
            .items
            .len()
    };
    assert_eq!(count(&by_location), 100);
    assert_eq!(count(&by_tag), 100);
    assert_eq!(count(&both), 0);
    assert!(matches!(
        t.db.read(|c| store::numbers::get(c, &by_location, "+442070000150")),
        Err(StoreError::NotFound { .. })
    ));
    let stats = t.db.read(|c| store::stats::compute(c, &by_tag)).unwrap();
    assert_eq!(stats.totals.total, 100);
    let tags = t.db.read(|c| store::tags::list(c, &by_tag)).unwrap();
    assert_eq!(
        tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["support"]
    );
}

#[test]
fn a_scoped_operator_cannot_move_a_number_out_of_scope() {
    let t = TestDb::new();
    let london = location(&t, "London");
    let paris = location(&t, "Paris");
    range(&t, "+442070000000", "+442070000009", Some(london), &[]).unwrap();
    let p = principal(
        Role::Operator,
        Scope {
            locations: vec![london.to_string()],
            tags: vec![],
        },
    );
    let permit =
        domain::Permit::authorize(&p, domain::Action::Operate, domain::Source::Api, None).unwrap();
    let change = NumberPatch {
        location_id: Some(Some(paris)),
        ..Default::default()
    };
    let err =
        t.db.write(|c| store::numbers::patch(c, &permit, "+442070000001", change, None))
            .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Forbidden {
                code: "out_of_scope",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn patching_a_range_can_carry_its_numbers_along() {
    let t = TestDb::new();
    let london = location(&t, "London");
    let paris = location(&t, "Paris");
    let r = range(&t, "+442070000000", "+442070000099", Some(london), &["old"]).unwrap();
    let change = RangePatch {
        location_id: Some(Some(paris)),
        tags: Some(Tag::parse_set(&["new"]).unwrap()),
        apply_to_numbers: true,
        ..Default::default()
    };
    let after =
        t.db.write(|c| store::ranges::patch(c, &owner(), r.id, change, None))
            .unwrap();
    assert_eq!(after.location_id, Some(paris));
    let num =
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442070000050"))
            .unwrap();
    assert_eq!(num.location_id, Some(paris));
    assert_eq!(num.tags, ["new"]);
}

#[test]
fn deleting_a_range_removes_its_numbers() {
    let t = TestDb::new();
    let r = range(&t, "+442070000000", "+442070000099", None, &["x"]).unwrap();
    t.db.write(|c| store::ranges::delete(c, &owner(), r.id, None))
        .unwrap();
    let all =
        t.db.read(|c| {
            store::numbers::list(
                c,
                &Scope::unrestricted(),
                &NumberFilter::default(),
                None,
                None,
            )
        })
        .unwrap();
    assert!(all.items.is_empty());
    // The block is free again.
    range(&t, "+442070000000", "+442070000099", None, &[]).unwrap();
}

#[test]
fn a_location_in_use_cannot_be_deleted() {
    let t = TestDb::new();
    let loc = location(&t, "London");
    range(&t, "+442070000000", "+442070000009", Some(loc), &[]).unwrap();
    let err =
        t.db.write(|c| store::locations::delete(c, &owner(), loc, None))
            .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "location_in_use",
                ..
            }
        ),
        "{err:?}"
    );
    let input = LocationInput {
        name: "LONDON".into(),
        country: "GB".into(),
        region: None,
        city: None,
        address: None,
        emergency_location_id: None,
    };
    let err =
        t.db.write(|c| store::locations::create(c, &owner(), input))
            .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: "location_exists",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn concurrent_overlapping_ranges_never_both_commit() {
    let t = TestDb::new();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let db = t.db.clone();
            std::thread::spawn(move || {
                let start = format!("+4420700{:05}", i * 10);
                let end = format!("+4420700{:05}", i * 10 + 999);
                let block = NumberBlock::new(n(&start), n(&end), 1_000_000).unwrap();
                let new = NewRange {
                    name: None,
                    block,
                    location_id: None,
                    tags: vec![],
                    description: String::new(),
                    platform_id: None,
                    number_type: None,
                };
                db.write(|c| store::ranges::create(c, &owner(), new))
                    .is_ok()
            })
        })
        .collect();
    let won = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|ok| *ok)
        .count();
    assert_eq!(won, 1);
    let ranges = t
        .db
        .read(|c| store::ranges::list(c, &Scope::unrestricted(), &Default::default(), None, None))
        .unwrap();
    assert_eq!(ranges.items.len(), 1);
    assert_eq!(ranges.items[0].utilisation.total, 1000);
}

#[test]
fn repeated_failed_logins_lock_the_account_and_are_audited() {
    let t = TestDb::new();
    let hash = store::secrets::hash_password("right-password").unwrap();
    let new = NewAdmin {
        username: "Ops".into(),
        password_hash: hash,
        role: Role::Admin,
        scope_locations: vec![],
        scope_tags: vec![],
    };
    t.db.write(|c| store::admins::create(c, &owner(), new))
        .unwrap();
    for _ in 0..4 {
        assert!(matches!(
            store::admins::login(&t.db, "ops", "wrong", None).unwrap(),
            Login::Failed
        ));
    }
    assert!(matches!(
        store::admins::login(&t.db, "ops", "wrong", None).unwrap(),
        Login::Locked(_)
    ));
    assert!(matches!(
        store::admins::login(&t.db, "OPS", "right-password", None).unwrap(),
        Login::Locked(_)
    ));
    assert_eq!(audit_count(&t, "auth.login_failed"), 5);
    assert_eq!(audit_count(&t, "auth.login_refused"), 1);
    assert!(matches!(
        store::admins::login(&t.db, "nobody", "x", None).unwrap(),
        Login::Failed
    ));
}

#[test]
fn a_correct_login_resets_the_failure_count() {
    let t = TestDb::new();
    let hash = store::secrets::hash_password("right-password").unwrap();
    let new = NewAdmin {
        username: "ops".into(),
        password_hash: hash,
        role: Role::Viewer,
        scope_locations: vec![],
        scope_tags: vec![],
    };
    t.db.write(|c| store::admins::create(c, &owner(), new))
        .unwrap();
    for _ in 0..4 {
        store::admins::login(&t.db, "ops", "wrong", None).unwrap();
    }
    assert!(matches!(
        store::admins::login(&t.db, "ops", "right-password", None).unwrap(),
        Login::Ok(_)
    ));
    assert!(matches!(
        store::admins::login(&t.db, "ops", "wrong", None).unwrap(),
        Login::Failed
    ));
}

#[test]
fn the_jwt_secret_is_created_once_and_shared() {
    let t = TestDb::new();
    let a =
        t.db.write(|c| store::settings::get_or_init(c, "k", || "first".into()))
            .unwrap();
    let b =
        t.db.write(|c| store::settings::get_or_init(c, "k", || "second".into()))
            .unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("first", "first"));
}

#[test]
fn search_matches_digits_anywhere_and_words_in_the_description() {
    let t = TestDb::new();
    let mut a = new_number("+14255550100");
    a.description = "Reception 100% desk_1".into();
    t.db.write(|c| store::numbers::create_many(c, &owner(), vec![a, new_number("+14255550199")]))
        .unwrap();
    let q = |text: &str| {
        let f = NumberFilter {
            q: Some(text.into()),
            ..Default::default()
        };
        t.db.read(|c| store::numbers::list(c, &Scope::unrestricted(), &f, None, None))
            .unwrap()
            .items
            .into_iter()
            .map(|n| n.number)
            .collect::<Vec<_>>()
    };
    assert_eq!(q("555 0199"), ["+14255550199"]);
    assert_eq!(q("reception"), ["+14255550100"]);
    assert_eq!(q("100%"), ["+14255550100"]);
    assert_eq!(q("desk_1"), ["+14255550100"]);
    assert!(q("desk%1").is_empty());
}

// ---------------------------------------------------------------------------------------
// Services and the directory (issue 3): assignment targets.
// ---------------------------------------------------------------------------------------

mod targets {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use domain::{Action, Role, Scope, Source, TargetKind};
    use store::lifecycle::Target;
    use store::{
        StoreError, StoreResult,
        directory::{DirectoryUserInput, GroupInput, UserFilter},
        schema::{numbers, platforms},
        services::{ServiceFilter, ServiceInput},
        testing::{TestDb, owner, principal},
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
        let svc = t
            .db
            .write(|c| store::services::create(c, &owner(), service("Main IVR", "auto_attendant")))
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
        let ivr = t
            .db
            .write(|c| store::services::create(c, &owner(), service("Main IVR", "auto_attendant")))
            .unwrap();
        let err = t
            .db
            .write(|c| store::services::create(c, &owner(), service(" main ivr ", "call_queue")))
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
        let svc = t
            .db
            .write(|c| store::services::create(c, &owner(), service("Reception", "call_queue")))
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
}

// ---------------------------------------------------------------------------------------
// Assignment lifecycle
// ---------------------------------------------------------------------------------------

mod lifecycle {
    use super::*;
    use domain::{Action, Permit, Source};
    use store::lifecycle::{Pool, Request, Target, apply};

    fn permit(role: Role) -> Permit {
        let action = if role >= Role::Admin {
            Action::Manage
        } else {
            Action::Operate
        };
        Permit::authorize(
            &principal(role, Scope::unrestricted()),
            action,
            Source::Api,
            None,
        )
        .unwrap()
    }

    fn user(i: usize) -> Target {
        Target {
            kind: TargetKind::User,
            id: format!("user-{i}"),
            name: format!("user{i}@contoso.example"),
        }
    }

    fn assign(i: usize) -> Request {
        Request::Assign {
            target: user(i),
            override_reservation: false,
            override_quarantine: false,
        }
    }

    fn status(t: &TestDb, e164: &str) -> String {
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), e164))
            .unwrap()
            .status
            .to_string()
    }

    fn history_len(t: &TestDb, e164: &str) -> usize {
        t.db.read(|c| store::audit::number_history(c, e164, None, None, Some(1000)))
            .unwrap()
            .items
            .len()
    }

    /// Puts `+14255550100` into `from` through the API's own transitions.
    fn number_in(t: &TestDb, from: &str) -> &'static str {
        let e = "+14255550100";
        t.db.write(|c| store::numbers::create(c, &owner(), new_number(e)))
            .unwrap();
        let admin = permit(Role::Admin);
        let setup = match from {
            "available" => None,
            "reserved" => Some(Request::Reserve {
                reason: "held".into(),
                reserved_for: None,
                expires_at: None,
            }),
            "assigned" => Some(assign(1)),
            "quarantined" => Some(Request::Quarantine {
                reason: "rest".into(),
                until: None,
            }),
            other => panic!("{other}"),
        };
        if let Some(r) = setup {
            t.db.write(|c| apply(c, &admin, e, r, None)).unwrap();
        }
        assert_eq!(status(t, e), from);
        e
    }

    fn requests() -> Vec<(&'static str, Request)> {
        vec![
            (
                "reserve",
                Request::Reserve {
                    reason: "for a new hire".into(),
                    reserved_for: Some("Jo".into()),
                    expires_at: None,
                },
            ),
            ("assign", assign(2)),
            (
                "assign+override",
                Request::Assign {
                    target: user(2),
                    override_reservation: true,
                    override_quarantine: true,
                },
            ),
            (
                "unassign",
                Request::Unassign {
                    quarantine_days: None,
                    reason: None,
                },
            ),
            (
                "unassign0",
                Request::Unassign {
                    quarantine_days: Some(0),
                    reason: Some("leaver".into()),
                },
            ),
            (
                "quarantine",
                Request::Quarantine {
                    reason: "spam calls".into(),
                    until: None,
                },
            ),
            ("release", Request::Release { reason: None }),
        ]
    }

    #[test]
    fn every_transition_of_the_status_table_is_enforced_by_the_database() {
        // (from, request, role) -> Ok(new status) or Err(code)
        use Role::{Admin, Operator};
        let expected: &[(&str, &str, Role, Result<&str, &str>)] = &[
            ("available", "reserve", Operator, Ok("reserved")),
            ("available", "assign", Operator, Ok("assigned")),
            (
                "available",
                "unassign",
                Operator,
                Err("number_not_assigned"),
            ),
            ("available", "quarantine", Operator, Ok("quarantined")),
            ("available", "release", Operator, Err("number_not_held")),
            ("reserved", "reserve", Operator, Err("number_reserved")),
            ("reserved", "assign", Operator, Err("number_reserved")),
            (
                "reserved",
                "assign+override",
                Operator,
                Err("override_forbidden"),
            ),
            ("reserved", "assign+override", Admin, Ok("assigned")),
            ("reserved", "quarantine", Operator, Err("number_reserved")),
            ("reserved", "release", Operator, Ok("available")),
            ("assigned", "reserve", Operator, Err("number_assigned")),
            ("assigned", "assign", Operator, Ok("assigned")),
            ("assigned", "unassign", Operator, Ok("quarantined")),
            ("assigned", "unassign0", Operator, Err("override_forbidden")),
            ("assigned", "unassign0", Admin, Ok("available")),
            ("assigned", "quarantine", Operator, Err("number_assigned")),
            ("assigned", "release", Operator, Err("number_not_held")),
            (
                "quarantined",
                "reserve",
                Operator,
                Err("number_quarantined"),
            ),
            ("quarantined", "assign", Operator, Err("number_quarantined")),
            (
                "quarantined",
                "assign+override",
                Operator,
                Err("override_forbidden"),
            ),
            ("quarantined", "assign+override", Admin, Ok("assigned")),
            (
                "quarantined",
                "unassign",
                Operator,
                Err("number_not_assigned"),
            ),
            (
                "quarantined",
                "release",
                Operator,
                Err("number_quarantined"),
            ),
            ("quarantined", "release", Admin, Ok("available")),
        ];
        for (from, name, role, want) in expected {
            let t = TestDb::new();
            let e = number_in(&t, from);
            let records = history_len(&t, e);
            let request = requests().into_iter().find(|(n, _)| n == name).unwrap().1;
            let got = t.db.write(|c| apply(c, &permit(*role), e, request, None));
            match (want, got) {
                (Ok(to), Ok(n)) => {
                    assert_eq!(&n.status, to, "{from} --{name} as {role}-->");
                    assert_eq!(
                        history_len(&t, e),
                        records + 1,
                        "{from} --{name}--> writes one audit record"
                    );
                }
                (
                    Err(code),
                    Err(
                        StoreError::Conflict { code: got, .. }
                        | StoreError::Forbidden { code: got, .. },
                    ),
                ) => {
                    assert_eq!(&got, code, "{from} --{name} as {role}-->");
                    assert_eq!(status(&t, e), *from, "a refused transition changes nothing");
                    assert_eq!(
                        history_len(&t, e),
                        records,
                        "a refused transition writes no audit record"
                    );
                }
                (want, got) => panic!("{from} --{name} as {role}-->: wanted {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn a_refused_quarantine_assignment_says_when_the_number_frees() {
        let t = TestDb::new();
        let e = number_in(&t, "quarantined");
        match t
            .db
            .write(|c| apply(c, &permit(Role::Operator), e, assign(3), None))
        {
            Err(StoreError::Conflict {
                code: "number_quarantined",
                message,
                details,
            }) => {
                let until = details["available_from"].as_str().unwrap().to_string();
                assert!(message.contains(&until), "{message}");
                assert!(until.ends_with("+00:00") || until.ends_with('Z'), "{until}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reassigning_is_one_step_and_records_the_previous_assignee_on_unassign() {
        let t = TestDb::new();
        let e = number_in(&t, "assigned");
        let n =
            t.db.write(|c| apply(c, &permit(Role::Operator), e, assign(7), None))
                .unwrap();
        assert_eq!(n.assignment.as_ref().unwrap().id, "user-7");
        let h =
            t.db.read(|c| store::audit::number_history(c, e, None, None, None))
                .unwrap();
        assert_eq!(h.items[0].action, "number.reassign");
        let n =
            t.db.write(|c| {
                apply(
                    c,
                    &permit(Role::Operator),
                    e,
                    Request::Unassign {
                        quarantine_days: Some(30),
                        reason: None,
                    },
                    None,
                )
            })
            .unwrap();
        let q = n.quarantine.unwrap();
        assert_eq!(q.previous_assignee.unwrap()["id"], "user-7");
        assert_eq!((q.until - q.since).num_days(), 30);
        // Assigning to the current assignee again is a no-op without an audit record.
        let t = TestDb::new();
        let e = number_in(&t, "assigned");
        let before = history_len(&t, e);
        t.db.write(|c| apply(c, &permit(Role::Operator), e, assign(1), None))
            .unwrap();
        assert_eq!(history_len(&t, e), before);
    }

    #[test]
    fn unassigning_uses_the_locations_quarantine_period() {
        let t = TestDb::new();
        let loc = location(&t, "Paris");
        let change = store::settings::LifecyclePatch {
            default_quarantine_days: Some(60),
            location_quarantine_days: vec![(loc, Some(7))],
            ..Default::default()
        };
        t.db.write(|c| store::settings::update_lifecycle(c, &owner(), change))
            .unwrap();
        let mut a = new_number("+14255550100");
        a.location_id = Some(loc);
        t.db.write(|c| {
            store::numbers::create_many(c, &owner(), vec![a, new_number("+14255550101")])
        })
        .unwrap();
        for (e, days) in [("+14255550100", 7), ("+14255550101", 60)] {
            t.db.write(|c| apply(c, &owner(), e, assign(1), None))
                .unwrap();
            let n =
                t.db.write(|c| {
                    apply(
                        c,
                        &owner(),
                        e,
                        Request::Unassign {
                            quarantine_days: None,
                            reason: None,
                        },
                        None,
                    )
                })
                .unwrap();
            let q = n.quarantine.unwrap();
            assert_eq!((q.until - q.since).num_days(), days, "{e}");
        }
    }

    #[test]
    fn if_match_refuses_a_stale_version() {
        let t = TestDb::new();
        let e = number_in(&t, "available");
        let err =
            t.db.write(|c| apply(c, &owner(), e, assign(1), Some(99)))
                .unwrap_err();
        assert!(
            matches!(err, StoreError::Stale { current: 1, .. }),
            "{err:?}"
        );
        assert_eq!(status(&t, e), "available");
    }

    #[test]
    fn many_concurrent_reservations_of_one_number_succeed_exactly_once() {
        let t = TestDb::new();
        let e = number_in(&t, "available");
        let winners: usize = (0..12)
            .map(|i| {
                let db = t.db.clone();
                std::thread::spawn(move || {
                    let r = Request::Reserve {
                        reason: format!("client {i}"),
                        reserved_for: None,
                        expires_at: None,
                    };
                    db.write(|c| apply(c, &permit(Role::Operator), e, r, None))
                        .is_ok() as usize
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(winners, 1);
        let reserves =
            t.db.read(|c| store::audit::number_history(c, e, None, None, None))
                .unwrap();
        assert_eq!(
            reserves
                .items
                .iter()
                .filter(|r| r.action == "number.reserve")
                .count(),
            1
        );
    }

    #[test]
    fn concurrent_allocations_never_hand_out_a_number_twice() {
        let t = TestDb::new();
        let loc = location(&t, "London");
        range(&t, "+442070000000", "+442070000059", Some(loc), &["pool"]).unwrap();
        let threads = 8;
        let per_thread = 10;
        let got: Vec<Result<String, String>> = (0..threads)
            .map(|i| {
                let db = t.db.clone();
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|j| {
                            let pool = Pool {
                                tags: vec!["pool".into()],
                                location_id: Some(loc),
                                ..Default::default()
                            };
                            db.write(|c| {
                                store::lifecycle::allocate(
                                    c,
                                    &permit(Role::Operator),
                                    &pool,
                                    user(i * 100 + j),
                                )
                            })
                            .map(|n| n.number)
                            .map_err(|e| e.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let mut numbers: Vec<String> = got
            .iter()
            .filter_map(|r| r.as_ref().ok().cloned())
            .collect();
        let failures: Vec<&String> = got.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(
            numbers.len(),
            60,
            "every free number is handed out while any remains; failures: {failures:?}"
        );
        assert!(
            failures.iter().all(|f| f.contains("no available number")),
            "{failures:?}"
        );
        numbers.sort();
        numbers.dedup();
        assert_eq!(numbers.len(), 60, "no number was handed out twice");
        assert_eq!(audit_count(&t, "number.assign"), 60);
    }

    #[test]
    fn allocation_takes_the_lowest_available_number_of_the_pool() {
        let t = TestDb::new();
        range(&t, "+442070000000", "+442070000009", None, &["a"]).unwrap();
        range(&t, "+442070000100", "+442070000109", None, &["b"]).unwrap();
        t.db.write(|c| {
            apply(
                c,
                &owner(),
                "+442070000100",
                Request::Reserve {
                    reason: "x".into(),
                    reserved_for: None,
                    expires_at: None,
                },
                None,
            )
        })
        .unwrap();
        let pool = Pool {
            tags: vec!["b".into()],
            ..Default::default()
        };
        let n =
            t.db.write(|c| store::lifecycle::allocate(c, &owner(), &pool, user(1)))
                .unwrap();
        assert_eq!(n.number, "+442070000101");
        let none = Pool {
            tags: vec!["nope".into()],
            ..Default::default()
        };
        let err =
            t.db.write(|c| store::lifecycle::allocate(c, &owner(), &none, user(1)))
                .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    code: "pool_exhausted",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn the_scheduler_releases_what_has_expired_once_per_interval() {
        let t = TestDb::new();
        t.db.write(|c| {
            store::numbers::create_many(
                c,
                &owner(),
                vec![
                    new_number("+14255550100"),
                    new_number("+14255550101"),
                    new_number("+14255550102"),
                ],
            )
        })
        .unwrap();
        let soon = store::now() + chrono::Duration::days(1);
        t.db.write(|c| {
            apply(
                c,
                &owner(),
                "+14255550100",
                Request::Reserve {
                    reason: "x".into(),
                    reserved_for: None,
                    expires_at: Some(soon),
                },
                None,
            )
        })
        .unwrap();
        t.db.write(|c| {
            apply(
                c,
                &owner(),
                "+14255550101",
                Request::Quarantine {
                    reason: "x".into(),
                    until: Some(soon),
                },
                None,
            )
        })
        .unwrap();
        t.db.write(|c| {
            apply(
                c,
                &owner(),
                "+14255550102",
                Request::Reserve {
                    reason: "keep".into(),
                    reserved_for: None,
                    expires_at: Some(soon),
                },
                None,
            )
        })
        .unwrap();
        // Let time pass for two of them.
        let past = store::now() - chrono::Duration::minutes(1);
        t.db.write(|c| {
            use store::schema::numbers as n;
            diesel::update(n::table.filter(n::e164.eq("+14255550100")))
                .set(n::reserved_until.eq(Some(past)))
                .execute(c)?;
            diesel::update(n::table.filter(n::e164.eq("+14255550101")))
                .set(n::quarantine_until.eq(Some(past)))
                .execute(c)?;
            Ok(())
        })
        .unwrap();
        let interval = std::time::Duration::from_secs(3600);
        assert_eq!(
            store::scheduler::tick(&t.db, "instance-a", interval).unwrap(),
            store::scheduler::Tick::Ran { released: 2 }
        );
        assert_eq!(
            store::scheduler::tick(&t.db, "instance-b", interval).unwrap(),
            store::scheduler::Tick::Skipped
        );
        assert_eq!(status(&t, "+14255550100"), "available");
        assert_eq!(status(&t, "+14255550101"), "available");
        assert_eq!(status(&t, "+14255550102"), "reserved");
        let by_scheduler = AuditFilter {
            source: Some("scheduler".into()),
            ..Default::default()
        };
        let records =
            t.db.read(|c| store::audit::list(c, &Scope::unrestricted(), &by_scheduler, None, None))
                .unwrap();
        assert_eq!(records.items.len(), 2);
        assert!(records.items.iter().all(|r| r.action == "number.release"));
    }

    #[test]
    fn only_one_of_many_instances_takes_the_scheduler_lease() {
        let t = TestDb::new();
        let interval = std::time::Duration::from_secs(3600);
        let ran: usize = (0..6)
            .map(|i| {
                let db = t.db.clone();
                std::thread::spawn(move || {
                    matches!(
                        store::scheduler::tick(&db, &format!("instance-{i}"), interval),
                        Ok(store::scheduler::Tick::Ran { .. })
                    ) as usize
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(ran, 1);
    }

    use diesel::{ExpressionMethods, QueryDsl};
}

// ---------------------------------------------------------------------------------------
// Assignment rates, and the change feed the event stream reads
// ---------------------------------------------------------------------------------------

mod rates_and_changes {
    use super::*;
    use chrono::Duration;
    use store::{
        audit::Change,
        lifecycle::{Request, Target, apply},
        stats::{Group, compute_at},
    };

    fn assign_to(t: &TestDb, e164: &str, who: &str) -> store::StoreResult<store::numbers::Number> {
        let request = Request::Assign {
            target: Target {
                kind: TargetKind::User,
                id: who.into(),
                name: format!("{who}@contoso.example"),
            },
            override_reservation: false,
            override_quarantine: false,
        };
        t.db.write(|c| apply(c, &owner(), e164, request, None))
    }

    fn find<'a>(groups: &'a [Group], id: &str) -> &'a Group {
        groups
            .iter()
            .find(|g| g.id == id)
            .unwrap_or_else(|| panic!("no group {id:?} in {groups:?}"))
    }

    /// The `at` of every `number.assign` record, oldest first.
    fn assign_times(t: &TestDb) -> Vec<chrono::NaiveDateTime> {
        let filter = AuditFilter {
            action: Some("number.assign".into()),
            ..Default::default()
        };
        let mut at: Vec<_> =
            t.db.read(|c| store::audit::list(c, &Scope::unrestricted(), &filter, None, Some(1000)))
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.at)
                .collect();
        at.sort();
        at
    }

    #[test]
    fn stats_give_each_pool_its_assignment_rate_and_runway() {
        let t = TestDb::new();
        let hq = location(&t, "HQ");
        let branch = location(&t, "Branch");
        let pool = range(&t, "+442071230000", "+442071230009", Some(hq), &["Pool"]).unwrap();
        t.db.write(|c| {
            store::numbers::create(
                c,
                &owner(),
                NewNumber {
                    location_id: Some(branch),
                    ..new_number("+442079460001")
                },
            )
        })
        .unwrap();
        for e164 in [
            "+442071230000",
            "+442071230001",
            "+442071230002",
            "+442079460001",
        ] {
            assign_to(&t, e164, "ann").unwrap();
        }
        // Reassigning is not a new assignment from the pool.
        assign_to(&t, "+442071230000", "bob").unwrap();
        let times = assign_times(&t);
        assert_eq!(
            times.len(),
            4,
            "reassignments are recorded as number.reassign"
        );
        let now = store::now();

        let s = compute_at_now(&t, &Scope::unrestricted(), now);
        assert_eq!(s.forecast.assignments_last_30_days, 4);
        assert!((s.forecast.assignments_per_day - 4.0 / 30.0).abs() < 1e-9);
        let available = s.totals.available as f64;
        assert!((s.forecast.days_until_exhausted.unwrap() - available / (4.0 / 30.0)).abs() < 1e-6);

        let r = find(&s.by_range, &pool.id.to_string());
        assert_eq!(r.counts.available, 7);
        assert_eq!(r.forecast.assignments_last_30_days, 3);
        assert!((r.forecast.assignments_per_day - 0.1).abs() < 1e-9);
        assert!(
            (r.forecast.days_until_exhausted.unwrap() - 70.0).abs() < 1e-6,
            "{r:?}"
        );
        let outside = find(&s.by_range, "");
        assert_eq!(outside.forecast.assignments_last_30_days, 1);
        assert_eq!(
            find(&s.by_location, &hq.to_string())
                .forecast
                .assignments_last_30_days,
            3
        );
        assert_eq!(
            find(&s.by_location, &branch.to_string())
                .forecast
                .assignments_last_30_days,
            1
        );
        let tag = find(&s.by_tag, "Pool");
        assert_eq!(tag.forecast.assignments_last_30_days, 3);
        assert!((tag.forecast.days_until_exhausted.unwrap() - 70.0).abs() < 1e-6);

        // The daily series: 30 days ending today, every day present, summing to the total.
        assert_eq!(s.daily.len(), 30);
        assert_eq!(s.daily.last().unwrap().day, now.date());
        assert!(
            s.daily
                .windows(2)
                .all(|w| w[1].day == w[0].day.succ_opt().unwrap())
        );
        assert_eq!(s.daily.iter().map(|d| d.assignments).sum::<i64>(), 4);
        for at in &times {
            assert!(
                s.daily
                    .iter()
                    .any(|d| d.day == at.date() && d.assignments > 0)
            );
        }

        // A scoped caller's rates count only its numbers.
        let scoped = Scope {
            locations: vec![branch.to_string()],
            tags: vec![],
        };
        let s = compute_at_now(&t, &scoped, now);
        assert_eq!(s.forecast.assignments_last_30_days, 1);
        assert_eq!(s.by_range.len(), 1, "{:?}", s.by_range);
    }

    fn compute_at_now(
        t: &TestDb,
        scope: &Scope,
        now: chrono::NaiveDateTime,
    ) -> store::stats::Stats {
        t.db.read(|c| compute_at(c, scope, now)).unwrap()
    }

    #[test]
    fn assignments_leave_the_rate_after_thirty_days() {
        let t = TestDb::new();
        range(&t, "+442071230000", "+442071230009", None, &[]).unwrap();
        assign_to(&t, "+442071230000", "ann").unwrap();
        assign_to(&t, "+442071230001", "ann").unwrap();
        let times = assign_times(&t);
        let (first, last) = (times[0], *times.last().unwrap());

        // On the 30th day (counting the day of the assignments) they still count…
        let s = compute_at_now(&t, &Scope::unrestricted(), first + Duration::days(29));
        assert_eq!(s.forecast.assignments_last_30_days, 2);
        assert_eq!(s.daily[0].day, first.date());
        // …on the 31st they do not, and with no rate there is no runway.
        let s = compute_at_now(&t, &Scope::unrestricted(), last + Duration::days(30));
        assert_eq!(s.forecast.assignments_last_30_days, 0);
        assert_eq!(s.forecast.assignments_per_day, 0.0);
        assert_eq!(s.forecast.days_until_exhausted, None);
        assert!(
            s.by_range
                .iter()
                .all(|g| g.forecast.days_until_exhausted.is_none())
        );
        assert!(s.daily.iter().all(|d| d.assignments == 0));
    }

    #[test]
    fn the_change_feed_lists_committed_records_after_an_id() {
        let t = TestDb::new();
        let mark = t.db.read(store::audit::last_id).unwrap();
        location(&t, "HQ");
        let failed = t.db.write(|c| {
            store::audit::record(
                c,
                &owner(),
                Change {
                    action: "location.create",
                    entity_kind: "location",
                    entity_id: "999",
                    before: None,
                    after: None,
                },
            )?;
            Err::<(), _>(StoreError::Internal("fails after its record".into()))
        });
        assert!(failed.is_err());
        location(&t, "Branch");
        let rows = t.db.read(|c| store::audit::since(c, mark, 100)).unwrap();
        assert_eq!(
            rows.len(),
            2,
            "the rolled-back record is not there: {rows:?}"
        );
        assert!(rows.iter().all(|r| r.entity_id != "999"));
        assert!(rows[0].id < rows[1].id);
        assert_eq!(t.db.read(store::audit::last_id).unwrap(), rows[1].id);
        let again =
            t.db.read(|c| store::audit::with_ids(c, &[rows[1].id, rows[0].id, rows[1].id + 100]))
                .unwrap();
        assert_eq!(
            again.iter().map(|r| r.id).collect::<Vec<_>>(),
            [rows[0].id, rows[1].id]
        );
        let after_first =
            t.db.read(|c| store::audit::since(c, rows[0].id, 100))
                .unwrap();
        assert_eq!(after_first.len(), 1);
    }

    #[test]
    fn postgres_notifies_listeners_of_committed_changes_only() {
        let t = TestDb::new();
        let Some(mut listener) = t.db.change_listener().unwrap() else {
            assert_eq!(
                t.db.backend(),
                store::Backend::Sqlite,
                "only SQLite has no notifications"
            );
            return;
        };
        let failed = t.db.write(|c| {
            store::audit::record(
                c,
                &owner(),
                Change {
                    action: "location.create",
                    entity_kind: "location",
                    entity_id: "999",
                    before: None,
                    after: None,
                },
            )?;
            Err::<(), _>(StoreError::Internal("fails after its record".into()))
        });
        assert!(failed.is_err());
        assert!(
            !listener
                .wait(std::time::Duration::from_millis(500))
                .unwrap(),
            "a rolled-back change notified"
        );
        location(&t, "HQ");
        assert!(
            listener.wait(std::time::Duration::from_secs(10)).unwrap(),
            "no notification after a commit"
        );
    }
}

// ---------------------------------------------------------------------------------------
// CSV export (issue 4): `store::export` pages, names and cells.
// ---------------------------------------------------------------------------------------
mod export {
    use super::*;
    use diesel::{ExpressionMethods, QueryDsl};
    use domain::{Action, NumberStatus, NumberType, Permit, Source, csv_row};
    use store::{
        export::{Export, ExportRow},
        lifecycle::{Request, Target, apply},
    };

    fn admin() -> Permit {
        Permit::authorize(
            &principal(Role::Admin, Scope::unrestricted()),
            Action::Manage,
            Source::Api,
            None,
        )
        .unwrap()
    }

    fn at(s: &str) -> chrono::NaiveDateTime {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn platform(t: &TestDb, name: &str) -> i64 {
        t.db.write(|c| {
            diesel::sql_query(format!(
                "INSERT INTO platforms (name, kind, created_at) VALUES ('{name}', 'teams', CURRENT_TIMESTAMP)"
            ))
            .execute(c)?;
            Ok(store::schema::platforms::table
                .filter(store::schema::platforms::name.eq(name))
                .select(store::schema::platforms::id)
                .first::<i64>(c)?)
        })
        .unwrap()
    }

    /// Every row of an export read `page_rows` at a time, and how many pages it took.
    fn export_all(
        t: &TestDb,
        scope: &Scope,
        filter: NumberFilter,
        page_rows: i64,
    ) -> (Vec<ExportRow>, usize) {
        let export = t.db.read(|c| Export::prepare(c, scope, filter)).unwrap();
        let (mut rows, mut pages, mut after) = (Vec::new(), 0, None::<String>);
        loop {
            let page =
                t.db.read(|c| export.page(c, after.as_deref(), page_rows))
                    .unwrap();
            assert!(page.len() as i64 <= page_rows, "a page larger than asked");
            pages += 1;
            let last = page.len() < page_rows as usize;
            after = page.last().map(|r| r.number.clone());
            rows.extend(page);
            if last {
                break;
            }
        }
        let counted = t.db.read(|c| export.count(c)).unwrap();
        assert_eq!(counted, rows.len() as i64, "count disagrees with the pages");
        (rows, pages)
    }

    /// An estate with a named and an unnamed range, a number and its extension, and a
    /// number in every status; returns the London location id.
    fn estate(t: &TestDb) -> i64 {
        let london = location(t, "London HQ");
        let teams = platform(t, "Teams EU");
        let named = NewRange {
            name: Some("London DDI".into()),
            block: NumberBlock::new(n("+442070001000"), n("+442070001009"), 1_000_000).unwrap(),
            location_id: Some(london),
            tags: Tag::parse_set(&["London", "DDI"]).unwrap(),
            description: String::new(),
            platform_id: None,
            number_type: None,
        };
        t.db.write(|c| store::ranges::create(c, &owner(), named))
            .unwrap();
        range(t, "+441612340000", "+441612340004", None, &[]).unwrap();
        let mut base = new_number("+14255550100");
        base.description = "=SUM(A1)".into();
        base.tags = Tag::parse_set(&["VIP"]).unwrap();
        base.platform_id = Some(teams);
        base.number_type = Some(NumberType::DirectRouting);
        t.db.write(|c| {
            store::numbers::create_many(c, &owner(), vec![base, new_number("+14255550100;ext=123")])
        })
        .unwrap();
        let steps = [
            (
                "+442070001001",
                Request::Assign {
                    target: Target {
                        kind: TargetKind::User,
                        id: "0f8c-user".into(),
                        name: "jo@contoso.example".into(),
                    },
                    override_reservation: false,
                    override_quarantine: false,
                },
            ),
            (
                "+442070001002",
                Request::Assign {
                    target: Target {
                        kind: TargetKind::Service,
                        id: "7".into(),
                        name: "Main IVR".into(),
                    },
                    override_reservation: false,
                    override_quarantine: false,
                },
            ),
            (
                "+442070001003",
                Request::Reserve {
                    reason: "new starter".into(),
                    reserved_for: Some("@Jo, sales".into()),
                    expires_at: Some(at("2030-01-01 00:00:00")),
                },
            ),
            (
                "+442070001004",
                Request::Quarantine {
                    reason: "spam calls".into(),
                    until: Some(at("2030-02-01 12:30:00")),
                },
            ),
        ];
        for (e164, request) in steps {
            t.db.write(|c| apply(c, &admin(), e164, request, None))
                .unwrap();
        }
        london
    }

    fn row<'a>(rows: &'a [ExportRow], number: &str) -> &'a ExportRow {
        rows.iter()
            .find(|r| r.number == number)
            .unwrap_or_else(|| panic!("{number} is not in the export"))
    }

    #[test]
    fn an_export_pages_through_every_number_once_in_order_with_names_resolved() {
        let t = TestDb::new();
        estate(&t);
        let (rows, pages) = export_all(&t, &Scope::unrestricted(), NumberFilter::default(), 4);
        assert_eq!(rows.len(), 17);
        assert_eq!(pages, 5, "17 rows at 4 a page");
        let numbers: Vec<&str> = rows.iter().map(|r| r.number.as_str()).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(numbers, sorted, "not in E.164 order, or a number twice");

        let user = row(&rows, "+442070001001");
        assert_eq!(user.status, "assigned");
        assert_eq!(user.location.as_deref(), Some("London HQ"));
        assert_eq!(user.range.as_deref(), Some("London DDI"));
        assert_eq!(
            user.tags.iter().map(|t| &**t).collect::<Vec<_>>(),
            ["DDI", "London"]
        );
        assert_eq!(user.assigned_to_kind, Some(TargetKind::User));
        assert_eq!(user.assigned_to.as_deref(), Some("jo@contoso.example"));
        let service = row(&rows, "+442070001002");
        assert_eq!(service.assigned_to_kind, Some(TargetKind::Service));
        assert_eq!(service.assigned_to.as_deref(), Some("Main IVR"));

        let reserved = row(&rows, "+442070001003").cells();
        assert_eq!(reserved[1], "reserved");
        assert_eq!(reserved[11], "new starter");
        assert_eq!(reserved[12], "'@Jo, sales", "a leading @ is neutralised");
        assert_eq!(reserved[13], "2030-01-01T00:00:00Z");
        let quarantined = row(&rows, "+442070001004").cells();
        assert_eq!(quarantined[1], "quarantined");
        assert_eq!(quarantined[14], "2030-02-01T12:30:00Z");

        let unnamed = row(&rows, "+441612340002");
        assert_eq!(
            unnamed.range.as_deref(),
            Some("+441612340000-+441612340004")
        );
        assert_eq!(unnamed.location, None);
        assert_eq!(unnamed.country, "GB");

        let base = row(&rows, "+14255550100").cells();
        assert_eq!(
            base[0], "+14255550100",
            "the number column is never neutralised"
        );
        assert_eq!(base[2], "US");
        assert_eq!(base[5], "VIP");
        assert_eq!(base[6], "'=SUM(A1)");
        assert_eq!(csv_row::unneutralise(&base[6]), "=SUM(A1)");
        assert_eq!(base[7], "Teams EU");
        assert_eq!(base[8], "direct_routing");
        assert_eq!(base[9..].iter().filter(|c| !c.is_empty()).count(), 0);
        let ext = row(&rows, "+14255550100;ext=123");
        assert_eq!(ext.status, "available");
        assert_eq!(ext.platform, None);
    }

    #[test]
    fn an_export_applies_the_list_filters_and_the_callers_scope() {
        let t = TestDb::new();
        let london = estate(&t);
        let numbers = |rows: Vec<ExportRow>| rows.into_iter().map(|r| r.number).collect::<Vec<_>>();

        let assigned = NumberFilter {
            status: Some(NumberStatus::Assigned),
            ..Default::default()
        };
        let (rows, _) = export_all(&t, &Scope::unrestricted(), assigned, 1);
        assert_eq!(numbers(rows), ["+442070001001", "+442070001002"]);

        let vip = NumberFilter {
            tags: vec!["vip".into()],
            ..Default::default()
        };
        let (rows, _) = export_all(&t, &Scope::unrestricted(), vip, 100);
        assert_eq!(numbers(rows), ["+14255550100"]);

        let unknown_tag = NumberFilter {
            tags: vec!["nobody-has-this".into()],
            ..Default::default()
        };
        assert!(
            export_all(&t, &Scope::unrestricted(), unknown_tag, 100)
                .0
                .is_empty()
        );

        let by_location = Scope {
            locations: vec![london.to_string()],
            tags: vec![],
        };
        let (rows, _) = export_all(&t, &by_location, NumberFilter::default(), 3);
        assert_eq!(rows.len(), 10);
        assert!(
            rows.iter()
                .all(|r| r.location.as_deref() == Some("London HQ"))
        );

        let by_tag = Scope {
            locations: vec![],
            tags: vec!["vip".into()],
        };
        let us = NumberFilter {
            country: Some("us".into()),
            ..Default::default()
        };
        let (rows, _) = export_all(&t, &by_tag, us, 3);
        assert_eq!(
            numbers(rows),
            ["+14255550100"],
            "the extension carries no tag"
        );
    }
}

// ===== Imports: plan → apply, change sets, reverts (issue 4, import half) =====
mod imports {
    use super::*;
    use chrono::Duration;
    use domain::{Action, Permit, Source};
    use store::{
        imports::{self, Change, Plan},
        lifecycle::{Request, Target},
        services::ServiceInput,
    };

    const HOUR: i64 = 3600;

    fn plan(t: &TestDb, permit: &Permit, text: &str) -> Plan {
        imports::plan_csv(
            &t.db,
            permit,
            text.as_bytes(),
            store::now(),
            Duration::seconds(HOUR),
            &mut |_, _| {},
        )
        .unwrap()
    }

    fn revert_plan(t: &TestDb, change_set: &str) -> Plan {
        imports::revert(
            &t.db,
            &owner(),
            change_set,
            store::now(),
            Duration::seconds(HOUR),
        )
        .unwrap()
    }

    fn rows(t: &TestDb, id: &str) -> Vec<imports::PlanRow> {
        t.db.read(|c| imports::rows(c, &owner(), id, None, Some(1000)))
            .unwrap()
            .items
    }

    fn get(t: &TestDb, e164: &str) -> store::numbers::Number {
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), e164))
            .unwrap()
    }

    fn service(t: &TestDb, name: &str) -> String {
        let input = ServiceInput {
            name: name.into(),
            kind: "call_queue".into(),
            platform_id: None,
            external_id: None,
            description: String::new(),
        };
        t.db.write(|c| store::services::create(c, &owner(), input))
            .unwrap()
            .id
            .to_string()
    }

    fn estate(t: &TestDb) {
        let mut items = Vec::new();
        for i in 1..=5 {
            let mut x = new_number(&format!("+44207123400{i}"));
            x.description = format!("line {i}");
            x.tags = Tag::parse_set(&["Old"]).unwrap();
            items.push(x);
        }
        t.db.write(|c| store::numbers::create_many(c, &owner(), items))
            .unwrap();
    }

    fn conflict_code(e: StoreError) -> (&'static str, serde_json::Value) {
        match e {
            StoreError::Conflict { code, details, .. } => (code, details),
            StoreError::PlanRefused {
                reason, details, ..
            } => (reason.code(), details),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_plan_changes_nothing_and_apply_changes_exactly_the_planned_rows_under_one_change_set() {
        let t = TestDb::new();
        estate(&t);
        let london = location(&t, "London");
        let queue = service(&t, "Reception queue");
        let mark = t.db.read(store::audit::last_id).unwrap();
        let text = format!(
            "number,description,tags,location,status,assigned_to_kind,assigned_to\n\
             +442071234001,new text,Old,,,,\n\
             +442071234002,line 2,New;VIP,london,,,\n\
             +442071234003,line 3,Old,,assigned,service,{queue}\n\
             +442071234009,brand new,Fresh,London,,,\n"
        );
        let p = plan(&t, &owner(), &text);
        assert_eq!(p.error_count, 0, "{:?}", rows(&t, &p.id));
        let s = &p.summary;
        assert_eq!(
            (s.rows, s.unchanged, s.creates, s.updates, s.assigns),
            (4, 0, 1, 2, 1)
        );
        assert_eq!(
            t.db.read(store::audit::last_id).unwrap(),
            mark,
            "planning audits nothing"
        );
        assert_eq!(
            get(&t, "+442071234001").description,
            "line 1",
            "planning changes nothing"
        );
        let planned = rows(&t, &p.id);
        assert!(planned[0].changes.contains(&Change::Update {
            field: "description".into(),
            old: serde_json::json!("line 1"),
            new: serde_json::json!("new text"),
        }));

        let applied = t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
        assert_eq!(applied.applied.creates, 1);
        assert_eq!(get(&t, "+442071234001").description, "new text");
        let two = get(&t, "+442071234002");
        assert_eq!(
            (two.location_id, two.tags.clone()),
            (Some(london), vec!["New".to_string(), "VIP".to_string()])
        );
        assert_eq!(two.version, 2);
        let three = get(&t, "+442071234003");
        assert_eq!(three.status, "assigned");
        assert_eq!(three.assignment.unwrap().name, "Reception queue");
        let nine = get(&t, "+442071234009");
        assert_eq!(
            (nine.description.as_str(), nine.location_id),
            ("brand new", Some(london))
        );
        let untouched = get(&t, "+442071234005");
        assert_eq!(
            (untouched.version, untouched.description.as_str()),
            (1, "line 5")
        );

        let records =
            t.db.read(|c| {
                store::audit::change_set(
                    c,
                    &Scope::unrestricted(),
                    &applied.change_set_id,
                    None,
                    Some(100),
                )
            })
            .unwrap()
            .items;
        assert_eq!(records.len(), 4, "{records:#?}");
        assert!(records.iter().all(|r| r.source == "import"
            && r.change_set_id.as_deref() == Some(applied.change_set_id.as_str())));
        let again =
            t.db.write(|c| imports::apply(c, &owner(), &p.id))
                .unwrap_err();
        assert_eq!(conflict_code(again).0, "plan_already_applied");
        let shown =
            t.db.read(|c| imports::get(c, &owner(), &p.id, store::now()))
                .unwrap();
        assert_eq!(shown.status, "applied");
        assert_eq!(
            shown.change_set_id.as_deref(),
            Some(applied.change_set_id.as_str())
        );
    }

    #[test]
    fn spreadsheet_mangled_files_plan_the_same_changes() {
        let t = TestDb::new();
        estate(&t);
        let text = "\u{feff}NUMBER,Description\r\n\
                    '+442071234001,\"first, \"\"quoted\"\"\r\nand multi-line\"\r\n\
                    442071234002,'=SUM(A1)\r\n\
                    +44 20 7123 4003,line 3\r\n\
                    0044 20 7123 4004,line 4 edited\r\n";
        let p = plan(&t, &owner(), text);
        assert_eq!(p.error_count, 0, "{:?}", rows(&t, &p.id));
        assert_eq!(
            (p.summary.rows, p.summary.updates, p.summary.unchanged),
            (4, 3, 1)
        );
        t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
        assert_eq!(
            get(&t, "+442071234001").description,
            "first, \"quoted\"\r\nand multi-line"
        );
        assert_eq!(get(&t, "+442071234002").description, "=SUM(A1)");
        assert_eq!(get(&t, "+442071234004").description, "line 4 edited");
        assert_eq!(get(&t, "+442071234003").version, 1);
    }

    #[test]
    fn a_file_with_one_bad_row_applies_nothing() {
        let t = TestDb::new();
        estate(&t);
        let text = "number,description,status\n\
                    +442071234001,changed,\n\
                    +442071234002,changed,lost\n\
                    +442071234001,twice,\n\
                    +1234,not a number,\n";
        let p = plan(&t, &owner(), text);
        let planned = rows(&t, &p.id);
        let errors: Vec<(u64, Option<String>)> = planned
            .iter()
            .flat_map(|r| r.errors.iter().map(|e| (e.line, e.column.clone())))
            .collect();
        assert_eq!(
            errors,
            [
                (3, Some("status".to_string())),
                (4, Some("number".to_string())),
                (5, Some("number".to_string()))
            ]
        );
        assert_eq!(p.error_count, 3);
        let e =
            t.db.write(|c| imports::apply(c, &owner(), &p.id))
                .unwrap_err();
        assert_eq!(conflict_code(e).0, "plan_has_errors");
        assert_eq!(get(&t, "+442071234001").description, "line 1");
    }

    #[test]
    fn a_stale_plan_is_refused_naming_the_number_and_an_expired_one_too() {
        let t = TestDb::new();
        estate(&t);
        let p = plan(
            &t,
            &owner(),
            "number,description\n+442071234001,a\n+442071234002,b\n+442071234099,new\n",
        );
        let change = NumberPatch {
            description: Some("someone else".into()),
            ..Default::default()
        };
        t.db.write(|c| store::numbers::patch(c, &owner(), "+442071234002", change, None))
            .unwrap();
        let (code, details) = conflict_code(
            t.db.write(|c| imports::apply(c, &owner(), &p.id))
                .unwrap_err(),
        );
        assert_eq!(code, "plan_stale");
        assert_eq!(details["numbers"], serde_json::json!(["+442071234002"]));
        assert_eq!(
            get(&t, "+442071234001").description,
            "line 1",
            "nothing was applied"
        );
        // A number the plan creates that exists by now is stale as well.
        let p = plan(&t, &owner(), "number,description\n+442071234098,new\n");
        t.db.write(|c| store::numbers::create(c, &owner(), new_number("+442071234098")))
            .unwrap();
        let (code, _) = conflict_code(
            t.db.write(|c| imports::apply(c, &owner(), &p.id))
                .unwrap_err(),
        );
        assert_eq!(code, "plan_stale");

        let expired = imports::plan_csv(
            &t.db,
            &owner(),
            b"number,description\n+442071234003,x\n",
            store::now() - Duration::seconds(2 * HOUR),
            Duration::seconds(HOUR),
            &mut |_, _| {},
        )
        .unwrap();
        assert_eq!(expired.status, "expired");
        let (code, _) = conflict_code(
            t.db.write(|c| imports::apply(c, &owner(), &expired.id))
                .unwrap_err(),
        );
        assert_eq!(code, "plan_expired");
        assert_eq!(get(&t, "+442071234003").description, "line 3");
    }

    #[test]
    fn status_columns_plan_the_transitions_of_the_status_table() {
        let t = TestDb::new();
        estate(&t);
        let queue = service(&t, "Queue");
        let target = Target {
            kind: TargetKind::Service,
            id: queue.clone(),
            name: "Queue".into(),
        };
        t.db.write(|c| {
            store::lifecycle::apply(
                c,
                &owner(),
                "+442071234001",
                Request::Assign {
                    target: target.clone(),
                    override_reservation: false,
                    override_quarantine: false,
                },
                None,
            )?;
            store::lifecycle::apply(
                c,
                &owner(),
                "+442071234002",
                Request::Reserve {
                    reason: "CEO".into(),
                    reserved_for: None,
                    expires_at: None,
                },
                None,
            )?;
            store::lifecycle::apply(
                c,
                &owner(),
                "+442071234003",
                Request::Reserve {
                    reason: "Board".into(),
                    reserved_for: None,
                    expires_at: None,
                },
                None,
            )
        })
        .unwrap();
        let text = "number,status,reserved_reason,quarantined_until\n\
                    +442071234001,available,,\n\
                    +442071234002,reserved,CFO,\n\
                    +442071234003,quarantined,,2099-01-01\n\
                    +442071234004,quarantined,,2099-01-01\n\
                    +442071234005,reserved,,\n";
        let p = plan(&t, &owner(), text);
        let planned = rows(&t, &p.id);
        let by_line = |l: u64| planned.iter().find(|r| r.line == l).unwrap();
        assert!(matches!(
            by_line(2).changes[..],
            [Change::Unassign {
                quarantine_days: Some(0),
                ..
            }]
        ));
        assert!(matches!(
            by_line(3).changes[..],
            [Change::Release, Change::Reserve { .. }]
        ));
        let refused = &by_line(4).errors[0];
        assert_eq!(refused.column.as_deref(), Some("status"));
        assert!(refused.reason.contains("number_reserved"), "{refused:?}");
        assert!(matches!(
            by_line(5).changes[..],
            [Change::Quarantine { .. }]
        ));
        assert_eq!(
            by_line(6).errors[0].column.as_deref(),
            Some("reserved_reason")
        );
    }

    #[test]
    fn out_of_scope_rows_are_errors_and_absent_numbers_stay_untouched() {
        let t = TestDb::new();
        let here = location(&t, "Here");
        let there = location(&t, "There");
        let mut a = new_number("+442071234001");
        a.location_id = Some(here);
        let mut b = new_number("+442071234002");
        b.location_id = Some(there);
        t.db.write(|c| store::numbers::create_many(c, &owner(), vec![a, b]))
            .unwrap();
        let scoped = Permit::authorize(
            &principal(
                Role::Admin,
                Scope {
                    locations: vec![here.to_string()],
                    tags: vec![],
                },
            ),
            Action::Manage,
            Source::Api,
            None,
        )
        .unwrap();
        let text = "number,description,location\n\
                    +442071234001,mine,Here\n\
                    +442071234002,not mine,There\n\
                    +442071234001,,There\n";
        let p = plan(
            &t,
            &scoped,
            &text.replace("+442071234001,,There\n", "+442071234003,new,There\n"),
        );
        let planned = rows(&t, &p.id);
        let errs: Vec<u64> = planned
            .iter()
            .filter(|r| !r.errors.is_empty())
            .map(|r| r.line)
            .collect();
        assert_eq!(errs, [3, 4], "{planned:#?}");
        assert!(planned[1].errors[0].reason.contains("outside your scope"));
    }

    #[test]
    fn reverting_a_change_set_restores_the_before_state() {
        let t = TestDb::new();
        estate(&t);
        let queue = service(&t, "Queue");
        let london = location(&t, "London");
        let text = format!(
            "number,description,tags,location,status,assigned_to\n\
             +442071234001,edited,A;B,London,assigned,{queue}\n\
             +442071234002,line 2,Old,,reserved,\n\
             +442071234007,created,,,,\n"
        );
        let p = plan(&t, &owner(), &text.replace("reserved,\n", "available,\n"));
        assert_eq!(p.error_count, 0, "{:?}", rows(&t, &p.id));
        let applied = t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
        let one = get(&t, "+442071234001");
        assert_eq!(
            (one.status.as_str(), one.location_id),
            ("assigned", Some(london))
        );

        let revert = revert_plan(&t, &applied.change_set_id);
        assert_eq!(revert.kind, "revert");
        assert_eq!(revert.error_count, 0, "{:?}", rows(&t, &revert.id));
        assert_eq!(
            (
                revert.summary.deletes,
                revert.summary.unassigns,
                revert.summary.updates
            ),
            (1, 1, 1)
        );
        t.db.write(|c| imports::apply(c, &owner(), &revert.id))
            .unwrap();
        let one = get(&t, "+442071234001");
        assert_eq!(
            (
                one.status.as_str(),
                one.description.as_str(),
                one.location_id,
                one.tags.clone()
            ),
            ("available", "line 1", None, vec!["Old".to_string()])
        );
        assert!(
            t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442071234007"))
                .is_err(),
            "the created number is gone again"
        );

        // A number changed after the change set makes that row an error.
        let p = plan(
            &t,
            &owner(),
            "number,description\n+442071234003,x\n+442071234004,y\n",
        );
        let applied = t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
        let change = NumberPatch {
            description: Some("later".into()),
            ..Default::default()
        };
        t.db.write(|c| store::numbers::patch(c, &owner(), "+442071234004", change, None))
            .unwrap();
        let revert = revert_plan(&t, &applied.change_set_id);
        assert_eq!(revert.error_count, 1);
        let bad = rows(&t, &revert.id)
            .into_iter()
            .find(|r| !r.errors.is_empty())
            .unwrap();
        assert_eq!(bad.number, "+442071234004");
        assert!(bad.errors[0].reason.contains("changed since"), "{bad:?}");
    }

    #[test]
    fn a_batch_create_is_one_change_set() {
        let t = TestDb::new();
        let permit = owner().with_change_set("cs_test");
        t.db.write(|c| {
            store::numbers::create_many(
                c,
                &permit,
                vec![new_number("+442071234001"), new_number("+442071234002")],
            )
        })
        .unwrap();
        let page = t
            .db
            .read(|c| store::audit::change_set(c, &Scope::unrestricted(), "cs_test", None, None))
            .unwrap();
        assert_eq!(page.items.len(), 2);
        assert!(matches!(
            t.db.read(|c| store::audit::change_set(
                c,
                &Scope::unrestricted(),
                "cs_none",
                None,
                None
            )),
            Err(StoreError::NotFound { .. })
        ));
    }

    /// Planning reads outside the writer and stores its rows in short transactions: a
    /// write made while a large file is being planned goes through at once, and the plan
    /// cannot be applied until planning ends.
    #[test]
    fn planning_does_not_block_writers_and_cannot_be_applied_before_it_ends() {
        use std::sync::mpsc;
        let t = TestDb::new();
        estate(&t);
        let mut text = String::from("number,description\n");
        for i in 0..12_000 {
            text.push_str(&format!("+4420800{i:05},row {i}\n"));
        }
        let mut checked = false;
        let p = imports::plan_csv(
            &t.db,
            &owner(),
            text.as_bytes(),
            store::now(),
            Duration::seconds(HOUR),
            &mut |done, total| {
                if checked || done >= total {
                    return;
                }
                checked = true;
                // Another writer, on a thread of its own: it must not wait for the plan.
                let (tx, rx) = mpsc::channel();
                let db = t.db.clone();
                std::thread::spawn(move || {
                    let made = db.write(|c| {
                        store::numbers::create(c, &owner(), new_number("+442071234077"))
                    });
                    let _ = tx.send(made.is_ok());
                });
                assert_eq!(
                    rx.recv_timeout(std::time::Duration::from_secs(10)),
                    Ok(true),
                    "a write waited for the planning"
                );
                let planning: String =
                    t.db.read(|c| {
                        use diesel::prelude::*;
                        use store::schema::import_plans::dsl::*;
                        Ok(import_plans
                            .filter(status.eq("planning"))
                            .select(id)
                            .first(c)?)
                    })
                    .unwrap();
                let (code, _) = conflict_code(
                    t.db.write(|c| imports::apply(c, &owner(), &planning))
                        .unwrap_err(),
                );
                assert_eq!(code, "plan_not_ready");
            },
        )
        .unwrap();
        assert!(checked, "progress was reported while planning");
        assert_eq!((p.status.as_str(), p.summary.creates), ("planned", 12_000));
        assert_eq!(rows(&t, &p.id).len(), 1000, "rows are paged");
        t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
        assert_eq!(get(&t, "+442080011999").description, "row 11999");
    }

    /// Unapplied plans go a day after they expire; applied ones after the retention
    /// period, while their change set stays in the audit.
    #[test]
    fn old_plans_are_forgotten_but_their_change_sets_stay() {
        let t = TestDb::new();
        estate(&t);
        let applied = plan(&t, &owner(), "number,description\n+442071234001,kept\n");
        let cs =
            t.db.write(|c| imports::apply(c, &owner(), &applied.id))
                .unwrap()
                .change_set_id;
        let unapplied = plan(&t, &owner(), "number,description\n+442071234002,never\n");
        let later = |days: i64| store::now() + Duration::days(days);
        let next = |days: i64| {
            imports::plan_csv(
                &t.db,
                &owner(),
                b"number\n+442071234003\n",
                later(days),
                Duration::seconds(HOUR),
                &mut |_, _| {},
            )
            .unwrap()
        };
        let exists = |id: &str| {
            t.db.read(|c| imports::get(c, &owner(), id, store::now()))
                .is_ok()
        };
        next(2);
        assert!(exists(&applied.id) && !exists(&unapplied.id));
        next(imports::APPLIED_KEPT_DAYS + 1);
        assert!(!exists(&applied.id));
        assert!(
            t.db.read(|c| store::audit::change_set(c, &Scope::unrestricted(), &cs, None, None))
                .is_ok()
        );
    }
}

/// Tag look-ups pad their id list to a few fixed lengths on SQLite (one prepared statement
/// per length); whatever the count, every number gets exactly its own tags.
#[test]
fn tags_of_numbers_are_exact_whatever_the_number_of_ids() {
    let t = TestDb::new();
    let mut items = Vec::new();
    for i in 0..20 {
        let mut n = new_number(&format!("+4420712350{i:02}"));
        n.tags = Tag::parse_set(&[format!("T{i}"), "All".to_string()]).unwrap();
        items.push(n);
    }
    let created =
        t.db.write(|c| store::numbers::create_many(c, &owner(), items))
            .unwrap();
    let ids: Vec<i64> = created.iter().map(|n| n.id).collect();
    for len in [0, 1, 7, 8, 9, 17, 20] {
        let got =
            t.db.read(|c| store::tags::of_numbers(c, &ids[..len]))
                .unwrap();
        assert_eq!(got.len(), len, "{len} ids");
        for (i, id) in ids[..len].iter().enumerate() {
            assert_eq!(
                got[id],
                ["All".to_string(), format!("T{i}")],
                "number {i} of {len}"
            );
        }
    }
}
