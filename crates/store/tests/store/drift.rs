//! Drift between Teams' listing and the inventory, adopted or pushed.

use domain::{NumberStatus, ProvisioningState, Scope, TargetKind};
use store::{
    drift::{self, DriftKind},
    jobs::JobFilter,
    sync::TeamsNumber,
    testing::{TestDb, owner},
};

use super::new_number;

fn teams(e164: &str, target: Option<&str>) -> TeamsNumber {
    TeamsNumber {
        e164: e164.into(),
        number_type: Some("direct_routing".into()),
        assignment_target_id: target.map(str::to_string),
        assignment_status: Some(
            if target.is_some() {
                "userAssigned"
            } else {
                "unassigned"
            }
            .into(),
        ),
        activation_state: Some("activated".into()),
        location_id: None,
        iso_country_code: Some("GB".into()),
    }
}

fn person(t: &TestDb, id: &str) {
    let input = store::directory::DirectoryUserInput {
        id: id.into(),
        upn: format!("{id}@example.com"),
        display_name: id.into(),
        mail: None,
        department: None,
        job_title: None,
        office_location: None,
        usage_location: None,
        city: None,
        country: None,
        account_enabled: true,
    };
    t.db.write(|c| store::directory::upsert_user(c, &owner(), input))
        .unwrap();
}

fn on_platform(t: &TestDb, e164: &str, p: i64) {
    let mut new = new_number(e164);
    new.platform_id = Some(p);
    new.number_type = Some(domain::NumberType::DirectRouting);
    t.db.write(|c| store::numbers::create(c, &owner(), new))
        .unwrap();
}

fn assign(t: &TestDb, e164: &str, who: &str) {
    let target =
        t.db.read(|c| store::directory::resolve_target(c, "user", who))
            .unwrap();
    let r = store::lifecycle::Request::Assign {
        target,
        override_reservation: false,
        override_quarantine: false,
        reassign: true,
    };
    t.db.write(|c| store::lifecycle::apply(c, &owner(), e164, r, None))
        .unwrap();
}

/// A platform where every kind of drift occurs once, with no job in flight.
fn drifted() -> (TestDb, i64) {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    for who in ["alice", "bob", "carol"] {
        person(&t, who);
    }
    // In step: assigned to alice on both sides.
    on_platform(&t, "+442071230001", p);
    assign(&t, "+442071230001", "alice");
    // Assigned in Teams only.
    on_platform(&t, "+442071230002", p);
    // Different target.
    on_platform(&t, "+442071230003", p);
    assign(&t, "+442071230003", "bob");
    // Assigned in the inventory only (Teams has it free).
    on_platform(&t, "+442071230004", p);
    assign(&t, "+442071230004", "carol");
    // Assigned in the inventory, absent from Teams.
    on_platform(&t, "+442071230005", p);
    assign(&t, "+442071230005", "carol");
    // Jobs done: nothing in flight.
    t.db.write(|c| {
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE numbers SET provisioning_state = 'provisioned' WHERE status = 'assigned'",
            ),
            c,
        )?;
        diesel::RunQueryDsl::execute(
            diesel::sql_query("UPDATE provisioning_jobs SET state = 'succeeded'"),
            c,
        )?;
        store::sync::replace_teams_numbers(
            c,
            p,
            &[
                teams("+442071230001", Some("alice")),
                teams("+442071230002", Some("alice")),
                teams("+442071230003", Some("carol")),
                teams("+442071230004", None),
                teams("+442071230006", Some("bob")),
            ],
        )
    })
    .unwrap();
    (t, p)
}

#[test]
fn drift_lists_every_kind_of_difference_in_number_order() {
    let (t, p) = drifted();
    let page = t.db.read(|c| drift::list(c, p, None, None)).unwrap();
    let kinds: Vec<(&str, DriftKind)> = page
        .items
        .iter()
        .map(|d| (d.number.as_str(), d.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("+442071230002", DriftKind::AssignedInTeamsOnly),
            ("+442071230003", DriftKind::DifferentTarget),
            ("+442071230004", DriftKind::AssignedInInventoryOnly),
            ("+442071230005", DriftKind::AssignedInInventoryOnly),
            ("+442071230006", DriftKind::NotInInventory),
        ]
    );
    // Paged by number.
    let first = t.db.read(|c| drift::list(c, p, None, Some(2))).unwrap();
    assert_eq!(first.items.len(), 2);
    let rest =
        t.db.read(|c| drift::list(c, p, first.next_cursor.as_deref(), Some(10)))
            .unwrap();
    assert_eq!(rest.items.len(), 3);
    assert_eq!(rest.items[0].number, "+442071230004");
}

#[test]
fn a_number_with_a_job_in_flight_is_not_drift() {
    let (t, p) = drifted();
    // Reassigning the different-target number to carol (Teams' holder) writes a job.
    assign(&t, "+442071230003", "carol");
    let page = t.db.read(|c| drift::list(c, p, None, None)).unwrap();
    assert!(page.items.iter().all(|d| d.number != "+442071230003"));
}

#[test]
fn adopting_takes_teams_state_as_one_change_set_without_jobs() {
    let (t, p) = drifted();
    let jobs_before =
        t.db.read(|c| {
            store::jobs::list(
                c,
                &Scope::unrestricted(),
                &JobFilter::default(),
                None,
                Some(100),
            )
        })
        .unwrap()
        .items
        .len();
    let settled = t.db.write(|c| drift::adopt(c, &owner(), p, None)).unwrap();
    assert_eq!(settled.done, 5, "{settled:?}");
    assert!(settled.skipped.is_empty());
    let get = |e164: &str| {
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), e164))
            .unwrap()
    };
    let two = get("+442071230002");
    assert_eq!(two.status, NumberStatus::Assigned);
    let a = two.assignment.unwrap();
    assert_eq!((a.kind, a.id.as_str()), (TargetKind::User, "alice"));
    assert_eq!(a.provisioning_state, ProvisioningState::Provisioned);
    assert_eq!(get("+442071230003").assignment.unwrap().id, "carol");
    assert_eq!(get("+442071230004").status, NumberStatus::Quarantined);
    let six = get("+442071230006");
    assert_eq!(six.platform_id, Some(p));
    assert_eq!(six.assignment.unwrap().id, "bob");
    // Teams already holds this state: no job was written.
    let jobs_after =
        t.db.read(|c| {
            store::jobs::list(
                c,
                &Scope::unrestricted(),
                &JobFilter::default(),
                None,
                Some(100),
            )
        })
        .unwrap()
        .items
        .len();
    assert_eq!(jobs_before, jobs_after);
    // A number Teams does not list at all is taken back too.
    assert_eq!(get("+442071230005").status, NumberStatus::Quarantined);
    let left = t.db.read(|c| drift::list(c, p, None, None)).unwrap();
    assert!(left.items.is_empty(), "{:?}", left.items);
    // One change set, revertible like an import.
    let cs =
        t.db.read(|c| store::audit::change_set(c, &owner(), &settled.change_set_id, None, None))
            .unwrap();
    assert_eq!(
        cs.items.len(),
        5,
        "four transitions and one number created as Teams assigns it"
    );
    let created = cs
        .items
        .iter()
        .find(|r| r.entity_id == "+442071230006")
        .expect("the created number's record");
    assert_eq!(created.action, "number.create");
    assert!(
        created
            .after_json
            .as_deref()
            .unwrap()
            .contains(r#""status":"assigned""#),
        "{created:?}"
    );
    // The free-text index followed the bulk writes.
    let (_, mismatched) = t.db.read(|c| Ok(store::testing::search_copies(c))).unwrap();
    assert_eq!(mismatched, 0);
    // Reverting takes the created number out again and restores the others.
    let revert = store::imports::revert(
        &t.db,
        &owner(),
        &settled.change_set_id,
        store::now(),
        chrono::Duration::hours(1),
        100,
    )
    .unwrap();
    assert_eq!(revert.error_count, 0);
    t.db.write(|c| store::imports::apply(c, &owner(), &revert.id))
        .unwrap();
    assert!(
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442071230006"))
            .is_err()
    );
    assert_eq!(get("+442071230002").status, NumberStatus::Available);
    // The hold was released: a later edit still reaches the text index.
    let edit = store::numbers::NumberPatch {
        description: Some("after adoption".into()),
        ..Default::default()
    };
    t.db.write(|c| store::numbers::patch(c, &owner(), "+442071230002", edit, None))
        .unwrap();
    t.db.read(|c| Ok(store::testing::search_copies(c))).unwrap();
}

#[test]
fn adopting_skips_a_teams_target_the_directory_does_not_know() {
    let (t, p) = drifted();
    t.db.write(|c| {
        store::sync::replace_teams_numbers(c, p, &[teams("+442071230007", Some("stranger"))])
    })
    .unwrap();
    let settled =
        t.db.write(|c| drift::adopt(c, &owner(), p, Some(&["+442071230007".to_string()])))
            .unwrap();
    assert_eq!(settled.done, 0);
    assert_eq!(settled.skipped.len(), 1);
    assert!(settled.skipped[0].reason.contains("stranger"));
    assert!(
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442071230007"))
            .is_err(),
        "nothing was created"
    );
}

#[test]
fn pushing_writes_a_job_per_drifted_number_the_inventory_has() {
    let (t, p) = drifted();
    let settled = t.db.write(|c| drift::push(c, &owner(), p, None)).unwrap();
    assert_eq!(settled.done, 4);
    assert_eq!(settled.skipped.len(), 1, "the number only Teams has");
    let queued =
        t.db.read(|c| {
            store::jobs::list(
                c,
                &Scope::unrestricted(),
                &JobFilter {
                    state: Some(store::jobs::JobState::Queued),
                    ..Default::default()
                },
                None,
                Some(100),
            )
        })
        .unwrap()
        .items;
    let mut actions: Vec<(String, &str)> = queued
        .iter()
        .map(|j| (j.number.clone(), j.action.as_str()))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        vec![
            ("+442071230002".into(), "unassign"),
            ("+442071230003".into(), "assign"),
            ("+442071230004".into(), "assign"),
            ("+442071230005".into(), "assign"),
        ]
    );
}

/// Review finding: a number listed in an adopt or push that is not drifted (in step, or
/// unknown to both sides) must be answered, not dropped without a word.
#[test]
fn listed_numbers_without_drift_are_reported_as_skipped() {
    let (t, p) = drifted();
    let listed = vec![
        "+442071230001".to_string(), // in step
        "+442071230099".to_string(), // neither side has it
        "+442071230002".to_string(), // drifted
    ];
    let settled =
        t.db.write(|c| drift::push(c, &owner(), p, Some(&listed)))
            .unwrap();
    assert_eq!(settled.done, 1);
    let mut skipped: Vec<&str> = settled.skipped.iter().map(|s| s.number.as_str()).collect();
    skipped.sort();
    assert_eq!(skipped, vec!["+442071230001", "+442071230099"]);
    let settled =
        t.db.write(|c| drift::adopt(c, &owner(), p, Some(&listed)))
            .unwrap();
    let mut skipped: Vec<&str> = settled.skipped.iter().map(|s| s.number.as_str()).collect();
    skipped.sort();
    assert_eq!(skipped, vec!["+442071230001", "+442071230099"]);
}

/// A platform whose Teams numbers the inventory keeps on another platform (+…11,
/// assigned to alice here, free in Teams), on no platform and in step (+…12, free on
/// both sides), and on no platform and assigned in Teams only (+…13).
fn misplaced() -> (TestDb, i64, i64) {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let other = store::testing::platform(&t.db, "Old PBX", "none");
    person(&t, "alice");
    on_platform(&t, "+442071230011", other);
    assign(&t, "+442071230011", "alice");
    for e164 in ["+442071230012", "+442071230013"] {
        t.db.write(|c| store::numbers::create(c, &owner(), new_number(e164)))
            .unwrap();
    }
    t.db.write(|c| {
        store::sync::replace_teams_numbers(
            c,
            p,
            &[
                teams("+442071230011", None),
                teams("+442071230012", None),
                teams("+442071230013", Some("alice")),
            ],
        )
    })
    .unwrap();
    (t, p, other)
}

#[test]
fn drift_names_numbers_the_inventory_keeps_on_another_platform_or_on_none() {
    let (t, p, other) = misplaced();
    let page = t.db.read(|c| drift::list(c, p, None, None)).unwrap();
    let kinds: Vec<(&str, DriftKind, Option<i64>)> = page
        .items
        .iter()
        .map(|d| (d.number.as_str(), d.kind, d.inventory_platform_id))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("+442071230011", DriftKind::OtherPlatform, Some(other)),
            ("+442071230012", DriftKind::NoPlatform, None),
            ("+442071230013", DriftKind::AssignedInTeamsOnly, None),
        ]
    );
}

#[test]
fn adopting_puts_unplaced_numbers_on_the_platform_and_leaves_another_platforms_alone() {
    let (t, p, other) = misplaced();
    let settled = t.db.write(|c| drift::adopt(c, &owner(), p, None)).unwrap();
    assert_eq!(settled.done, 2, "{settled:?}");
    assert_eq!(settled.skipped.len(), 1);
    assert_eq!(settled.skipped[0].number, "+442071230011");
    assert!(
        settled.skipped[0]
            .reason
            .contains(&format!("on platform {other}")),
        "{settled:?}"
    );
    let get = |e164: &str| {
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), e164))
            .unwrap()
    };
    // Another platform's number keeps its platform and its assignee.
    let eleven = get("+442071230011");
    assert_eq!(eleven.platform_id, Some(other));
    assert_eq!(eleven.assignment.unwrap().id, "alice");
    // The unplaced ones are on this platform now, in Teams' state.
    assert_eq!(get("+442071230012").platform_id, Some(p));
    assert_eq!(get("+442071230012").status, NumberStatus::Available);
    let thirteen = get("+442071230013");
    assert_eq!(thirteen.platform_id, Some(p));
    assert_eq!(thirteen.assignment.unwrap().id, "alice");
    // Placing is audited in the adoption's change set, and only the other platform's
    // number is still drift.
    let cs =
        t.db.read(|c| store::audit::change_set(c, &owner(), &settled.change_set_id, None, None))
            .unwrap();
    let actions: Vec<(&str, &str)> = cs
        .items
        .iter()
        .map(|r| (r.entity_id.as_str(), r.action.as_str()))
        .collect();
    assert!(
        actions.contains(&("+442071230012", "number.update")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("+442071230013", "number.update")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("+442071230013", "number.assign")),
        "{actions:?}"
    );
    let left = t.db.read(|c| drift::list(c, p, None, None)).unwrap();
    assert_eq!(
        left.items
            .iter()
            .map(|d| d.number.as_str())
            .collect::<Vec<_>>(),
        ["+442071230011"]
    );
}

#[test]
fn pushing_skips_numbers_on_another_platform_or_on_none() {
    let (t, p, _) = misplaced();
    let settled = t.db.write(|c| drift::push(c, &owner(), p, None)).unwrap();
    assert_eq!(settled.done, 0, "{settled:?}");
    assert_eq!(settled.skipped.len(), 3);
}
