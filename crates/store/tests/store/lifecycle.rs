//! Assignment lifecycle: reserve, assign, unassign, quarantine, release, allocation and the scheduled releases.

use super::*;
use domain::{Action, Permit, Source, TargetKind};
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
        reassign: false,
    }
}

fn reassign(i: usize) -> Request {
    Request::Assign {
        target: user(i),
        override_reservation: false,
        override_quarantine: false,
        reassign: true,
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
        ("reassign", reassign(2)),
        (
            "assign+override",
            Request::Assign {
                target: user(2),
                override_reservation: true,
                override_quarantine: true,
                reassign: false,
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
        ("assigned", "assign", Operator, Err("number_assigned")),
        ("assigned", "reassign", Operator, Ok("assigned")),
        ("available", "reassign", Operator, Ok("assigned")),
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
        t.db.write(|c| apply(c, &permit(Role::Operator), e, reassign(7), None))
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
    assert_eq!(q.previous_assignee.unwrap().id, "user-7");
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
    t.db.write(|c| store::numbers::create_many(c, &owner(), vec![a, new_number("+14255550101")]))
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
        use store::testing::schema::numbers as n;
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
        t.db.read(|c| store::audit::list(c, &owner(), &by_scheduler, None, None))
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
