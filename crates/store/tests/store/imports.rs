//! Imports: plan → apply, change sets, reverts (issue 4, import half).

use super::*;
use chrono::Duration;
use domain::{Action, Permit, Source, TargetKind};
use store::{
    imports::{self, Change, Plan},
    lifecycle::{Request, Target},
    services::ServiceInput,
};

const HOUR: i64 = 3600;
/// Errors a plan keeps (the server's default).
const MAX_ERRORS: usize = 1000;

fn plan(t: &TestDb, permit: &Permit, text: &str) -> Plan {
    imports::plan_csv(
        &t.db,
        permit,
        text.as_bytes(),
        store::now(),
        Duration::seconds(HOUR),
        MAX_ERRORS,
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
        MAX_ERRORS,
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

    let records = t
        .db
        .read(|c| store::audit::change_set(c, &owner(), &applied.change_set_id, None, Some(100)))
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
        MAX_ERRORS,
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
                reassign: false,
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
    assert!(
        planned[1]
            .errors
            .iter()
            .any(|e| e.reason.contains("outside your scope") || e.reason.starts_with("no location"))
    );
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
    let page =
        t.db.read(|c| store::audit::change_set(c, &owner(), "cs_test", None, None))
            .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(matches!(
        t.db.read(|c| store::audit::change_set(c, &owner(), "cs_none", None, None)),
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
        MAX_ERRORS,
        &mut |done, total| {
            if checked || done >= total {
                return;
            }
            checked = true;
            // Another writer, on a thread of its own: it must not wait for the plan.
            let (tx, rx) = mpsc::channel();
            let db = t.db.clone();
            std::thread::spawn(move || {
                let made =
                    db.write(|c| store::numbers::create(c, &owner(), new_number("+442071234077")));
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
                    use store::testing::schema::import_plans::dsl::*;
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
            MAX_ERRORS,
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
        t.db.read(|c| store::audit::change_set(c, &owner(), &cs, None, None))
            .is_ok()
    );
}

#[test]
fn a_revert_keeps_its_first_errors_and_counts_the_rest() {
    let t = TestDb::new();
    let numbers: Vec<String> = (1..=5).map(|i| format!("+44207123410{i}")).collect();
    let mut text = String::from("number,description\n");
    for n in &numbers {
        text.push_str(&format!("{n},imported\n"));
    }
    let p = plan(&t, &owner(), &text);
    let applied = t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
    for n in &numbers {
        let change = NumberPatch {
            description: Some("later".into()),
            ..Default::default()
        };
        t.db.write(|c| store::numbers::patch(c, &owner(), n, change, None))
            .unwrap();
    }
    let revert = imports::revert(
        &t.db,
        &owner(),
        &applied.change_set_id,
        store::now(),
        Duration::seconds(HOUR),
        2,
    )
    .unwrap();
    assert_eq!(revert.error_count, 5);
    assert_eq!(
        (revert.summary.errors, revert.summary.errors_not_shown),
        (5, 3)
    );
    let kept = rows(&t, &revert.id);
    assert_eq!(
        kept.iter().map(|r| r.number.as_str()).collect::<Vec<_>>(),
        [numbers[0].as_str(), numbers[1].as_str()],
        "the first errors are kept, the rest only counted"
    );
}

#[test]
fn a_number_with_more_tags_than_one_request_may_send_is_still_reverted() {
    let t = TestDb::new();
    let names: Vec<String> = (0..domain::MAX_TAGS + 10)
        .map(|i| format!("T{i}"))
        .collect();
    let mut many = new_number("+442071234201");
    // A range's tags and the number's own together may exceed one request's limit.
    many.tags = domain::Tag::parse_stored_set(&names).unwrap();
    t.db.write(|c| store::numbers::create(c, &owner(), many))
        .unwrap();
    let p = plan(&t, &owner(), "number,description\n+442071234201,changed\n");
    assert_eq!(p.error_count, 0, "{:?}", rows(&t, &p.id));
    let applied = t.db.write(|c| imports::apply(c, &owner(), &p.id)).unwrap();
    let revert = revert_plan(&t, &applied.change_set_id);
    assert_eq!(revert.error_count, 0, "{:?}", rows(&t, &revert.id));
    t.db.write(|c| imports::apply(c, &owner(), &revert.id))
        .unwrap();
    let back = get(&t, "+442071234201");
    assert_eq!(back.description, "");
    assert_eq!(back.tags.len(), domain::MAX_TAGS + 10);
}
