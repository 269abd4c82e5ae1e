//! Assignment rules in the store: which users wait for evaluation (kept by triggers), and
//! the mark on a rule's numbers that only the rule's own allocation writes.

use diesel::RunQueryDsl;
use domain::{
    Scope, Tag,
    rules::{ActionDraft, ConditionDraft, PoolDraft, PredicateDraft, PredicateValue, RuleDraft},
};
use store::{
    directory::{DirectoryUserInput, GroupInput},
    lifecycle::{Request, Target},
    rules::{self as sr, runs},
    testing::{TestDb, owner},
};

use crate::new_number;

fn user(id: &str, department: &str) -> DirectoryUserInput {
    DirectoryUserInput {
        id: id.into(),
        upn: format!("{id}@contoso.example"),
        display_name: id.into(),
        department: Some(department.into()),
        account_enabled: true,
        ..Default::default()
    }
}

fn pending(t: &TestDb) -> Vec<(String, i64)> {
    t.db.read(runs::pending).unwrap()
}

fn stamp(t: &TestDb, id: &str) -> Option<i64> {
    pending(t)
        .into_iter()
        .find(|(u, _)| u == id)
        .map(|(_, s)| s)
}

/// Rule `name` (priority 1, enabled): department equals `department`, pool tagged `tag`.
fn department_rule(name: &str, department: &str, tag: &str, leaver_policy: &str) -> RuleDraft {
    RuleDraft {
        name: name.into(),
        priority: 1,
        enabled: true,
        condition: ConditionDraft {
            all: Some(vec![PredicateDraft {
                attribute: "department".into(),
                op: "equals".into(),
                value: PredicateValue::One(department.into()),
            }]),
            any: None,
        },
        action: ActionDraft {
            pool: PoolDraft {
                tags: vec![tag.into()],
                ..Default::default()
            },
            assignment_category: None,
        },
        leaver_policy: leaver_policy.into(),
    }
}

/// A manual run, queued and claimed by this test as worker `me`.
fn claimed_run(t: &TestDb) -> runs::RuleRun {
    t.db.write(|c| {
        runs::request(c, &owner())?;
        runs::claim(c, "me", std::time::Duration::from_secs(60))
    })
    .unwrap()
    .expect("the queued run is claimed")
}

/// A manual run claimed by this test, applied to `users` in one batch and finished.
fn finished_run(t: &TestDb, users: &[&str]) -> runs::RuleRun {
    let run = claimed_run(t);
    let rules = t.db.read(sr::load).unwrap();
    let ctx = runs::RunContext::new(&run, &rules);
    let users: Vec<(String, Option<i64>)> = users.iter().map(|u| (u.to_string(), None)).collect();
    let mut tally = runs::Tally::default();
    for o in
        t.db.write(|c| runs::apply_users(c, &ctx, &rules, &users))
            .unwrap()
    {
        tally.add(o, true);
    }
    assert!(
        t.db.write(|c| runs::finish(c, run.id, "me", &rules, &tally, None))
            .unwrap()
    );
    run
}

#[test]
fn every_directory_change_a_rule_can_see_leaves_the_user_pending_and_nothing_else_does() {
    let t = TestDb::new();
    let p = owner();
    t.db.write(|c| {
        store::directory::upsert_user(c, &p, user("u1", "Sales"))?;
        store::directory::upsert_user(c, &p, user("u2", "Sales"))?;
        store::directory::upsert_group(
            c,
            &p,
            GroupInput {
                id: "g1".into(),
                display_name: "Sales".into(),
                ..Default::default()
            },
        )
    })
    .unwrap();
    assert_eq!(stamp(&t, "u1"), Some(1), "a new user is pending");
    t.db.write(|c| runs::forget(c, &pending(&t))).unwrap();
    assert!(pending(&t).is_empty());

    // The same facts again (a sync seeing an unchanged user): nothing to evaluate.
    t.db.write(|c| store::directory::upsert_user(c, &owner(), user("u1", "Sales")))
        .unwrap();
    assert!(pending(&t).is_empty(), "{:?}", pending(&t));
    // A changed attribute, then a membership, then the group's new name.
    t.db.write(|c| store::directory::upsert_user(c, &owner(), user("u1", "Support")))
        .unwrap();
    assert_eq!(stamp(&t, "u1"), Some(1));
    t.db.write(|c| store::directory::set_group_members(c, &owner(), "g1", &["u1", "u2"]))
        .unwrap();
    assert_eq!((stamp(&t, "u1"), stamp(&t, "u2")), (Some(2), Some(1)));
    let before = pending(&t);
    t.db.write(|c| {
        store::directory::upsert_group(
            c,
            &owner(),
            GroupInput {
                id: "g1".into(),
                display_name: "Sales EMEA".into(),
                ..Default::default()
            },
        )
    })
    .unwrap();
    assert_eq!((stamp(&t, "u1"), stamp(&t, "u2")), (Some(3), Some(2)));
    // Forgetting at an old stamp keeps a user whose facts changed since.
    t.db.write(|c| runs::forget(c, &before)).unwrap();
    assert_eq!(pending(&t).len(), 2);
    t.db.write(|c| store::directory::mark_user_deleted(c, &owner(), "u2"))
        .unwrap();
    assert_eq!(stamp(&t, "u2"), Some(3));
}

#[test]
fn a_rules_mark_on_its_number_goes_when_anyone_else_assigns_or_unassigns_it() {
    let t = TestDb::new();
    let p = owner();
    t.db.write(|c| {
        store::directory::upsert_user(c, &p, user("u1", "Sales"))?;
        store::directory::upsert_user(c, &p, user("u2", "Sales"))?;
        let mut a = new_number("+442070000100");
        a.tags = vec![Tag::parse("Sales").unwrap()];
        store::numbers::create(c, &p, a)?;
        Ok(())
    })
    .unwrap();
    let mut draft = department_rule("Sales", "sales", "sales", "unassign");
    draft.action.assignment_category = Some("private".into());
    let rule = t.db.write(|c| sr::create(c, &owner(), &draft)).unwrap();
    let run = claimed_run(&t);
    let rules = t.db.read(sr::load).unwrap();
    let ctx = runs::RunContext::new(&run, &rules);
    let outcome =
        t.db.write(|c| runs::apply_user(c, &ctx, &rules, "u1", None))
            .unwrap();
    assert_eq!(outcome.matched, Some(rule.id));
    assert_eq!(outcome.items.len(), 1);
    assert_eq!(mark(&t), Some(rule.id));
    // Deciding again for the same user changes nothing: they hold the number.
    let again =
        t.db.write(|c| runs::apply_user(c, &ctx, &rules, "u1", None))
            .unwrap();
    assert!(again.items.is_empty());

    // A person reassigns it: it is no longer the rule's, so no leaver policy takes it.
    let target =
        t.db.read(|c| store::directory::resolve_target(c, "user", "u2"))
            .unwrap();
    t.db.write(|c| {
        store::lifecycle::apply(
            c,
            &owner(),
            "+442070000100",
            Request::Assign {
                target: Target { ..target },
                override_reservation: false,
                override_quarantine: false,
                reassign: true,
            },
            None,
        )
    })
    .unwrap();
    assert_eq!(mark(&t), None);
    t.db.write(|c| store::directory::upsert_user(c, &owner(), user("u2", "Support")))
        .unwrap();
    let left =
        t.db.write(|c| runs::apply_user(c, &ctx, &rules, "u2", None))
            .unwrap();
    assert!(left.items.is_empty(), "{:?}", left.items);
    let n =
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442070000100"))
            .unwrap();
    assert_eq!(n.assignment.map(|a| a.id), Some("u2".to_string()));
}

fn mark(t: &TestDb) -> Option<i64> {
    #[derive(diesel::QueryableByName)]
    struct Mark {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        assigned_rule_id: Option<i64>,
    }
    t.db.read(|c| {
        Ok(diesel::sql_query("SELECT assigned_rule_id FROM numbers")
            .get_result::<Mark>(c)?
            .assigned_rule_id)
    })
    .unwrap()
}

#[test]
fn a_delta_run_a_dead_worker_left_is_closed_and_old_runs_are_forgotten() {
    let t = TestDb::new();
    t.db.write(|c| {
        store::directory::upsert_user(c, &owner(), user("u1", "Sales"))?;
        let mut a = new_number("+442070000100");
        a.tags = vec![Tag::parse("Sales").unwrap()];
        store::numbers::create(c, &owner(), a)
    })
    .unwrap();
    let draft = department_rule("Support", "Support", "Sales", "keep");
    t.db.write(|c| sr::create(c, &owner(), &draft)).unwrap();
    // A worker starts a delta run with a lease already over, and dies.
    let (dead, users) =
        t.db.write(|c| runs::start_delta(c, "dead", std::time::Duration::ZERO, 100))
            .unwrap()
            .expect("u1 is pending");
    assert_eq!(users.len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (live, users) =
        t.db.write(|c| runs::start_delta(c, "live", std::time::Duration::from_secs(60), 100))
            .unwrap()
            .expect("u1 is still pending");
    assert_eq!(users.len(), 1);
    let closed =
        t.db.read(|c| runs::get(c, &Scope::unrestricted(), dead.id))
            .unwrap()
            .run;
    assert_eq!(closed.status, domain::rules::RunStatus::Failed);
    let rules = t.db.read(sr::load).unwrap();
    assert!(
        t.db.write(|c| runs::finish(c, live.id, "live", &rules, &runs::Tally::default(), None))
            .unwrap()
    );
    // A month on, both are forgotten; the rule is not.
    assert_eq!(store::testing::purge_rule_runs(&t.db, store::now()), 0);
    let later = store::now() + chrono::Duration::days(runs::RUNS_KEPT_DAYS + 1);
    assert_eq!(store::testing::purge_rule_runs(&t.db, later), 2);
    assert!(
        t.db.read(|c| runs::get(c, &Scope::unrestricted(), live.id))
            .is_err()
    );
    assert_eq!(t.db.read(sr::load).unwrap().len(), 1);
}

#[test]
fn without_rules_pending_users_are_forgotten_and_no_run_is_recorded() {
    let t = TestDb::new();
    t.db.write(|c| store::directory::upsert_user(c, &owner(), user("u1", "Sales")))
        .unwrap();
    assert_eq!(pending(&t).len(), 1);
    let started =
        t.db.write(|c| runs::start_delta(c, "me", std::time::Duration::from_secs(60), 100))
            .unwrap();
    assert!(started.is_none());
    assert!(pending(&t).is_empty());
    assert!(t.db.read(runs::open_runs).unwrap().is_empty());
}

fn sites_again() -> PoolDraft {
    PoolDraft {
        tags: vec!["Sales".into()],
        location_id: Some("7".into()),
        ..Default::default()
    }
}

#[test]
fn rules_share_a_lane_unless_their_pools_cannot_share_a_number() {
    let rule = |id: i64, pool: PoolDraft| {
        domain::rules::Rule::parse(
            id,
            &RuleDraft {
                name: format!("r{id}"),
                priority: id,
                enabled: true,
                condition: ConditionDraft {
                    all: Some(vec![PredicateDraft {
                        attribute: "city".into(),
                        op: "equals".into(),
                        value: PredicateValue::One("x".into()),
                    }]),
                    any: None,
                },
                action: ActionDraft {
                    pool,
                    assignment_category: None,
                },
                leaver_policy: "keep".into(),
            },
        )
        .unwrap()
    };
    let range = |r: &str| PoolDraft {
        range_id: Some(r.into()),
        ..Default::default()
    };
    let tagged = PoolDraft {
        tags: vec!["Sales".into()],
        ..Default::default()
    };
    let sites = PoolDraft {
        tags: vec!["Sales".into()],
        location_id: Some("7".into()),
        ..Default::default()
    };
    let apart = runs::lanes(&[rule(1, range("1")), rule(2, range("2"))]);
    assert_eq!(
        (apart[&1], apart[&2]),
        (1, 2),
        "two ranges never share a number"
    );
    // A site's tagged numbers may lie in either range: one lane for all three, so the
    // numbers go out in user order as the preview shows them.
    let joined = runs::lanes(&[rule(1, range("1")), rule(2, range("2")), rule(3, sites)]);
    assert_eq!((joined[&1], joined[&2], joined[&3]), (1, 1, 1));
    let other_site = PoolDraft {
        location_id: Some("8".into()),
        ..Default::default()
    };
    let sites_apart = runs::lanes(&[rule(4, other_site.clone()), rule(6, sites_again())]);
    assert_eq!(
        (sites_apart[&4], sites_apart[&6]),
        (4, 6),
        "two sites never share a number"
    );
    // Tags alone may meet any pool.
    let tags = runs::lanes(&[rule(4, other_site), rule(3, range("1")), rule(5, tagged)]);
    assert_eq!((tags[&3], tags[&4], tags[&5]), (3, 3, 3));
}

/// A run's bulk allocation knows each written number's new state without reading it
/// back: the audit record's after-state it writes must be exactly what a read gives —
/// tags, site, platform, the provisioning state a Teams number starts in, timestamps.
#[test]
fn a_bulk_allocations_audited_after_state_is_what_a_read_gives() {
    let t = TestDb::new();
    let p = owner();
    let teams = store::testing::platform(&t.db, "Teams", "teams");
    let site = crate::location(&t, "London");
    t.db.write(|c| {
        for (i, id) in ["u1", "u2", "u3"].into_iter().enumerate() {
            store::directory::upsert_user(c, &p, user(id, "Sales"))?;
            let mut a = new_number(&format!("+44207000020{i}"));
            a.tags = vec![Tag::parse("Sales").unwrap(), Tag::parse("London").unwrap()];
            a.description = format!("desk {i}");
            a.location_id = Some(site);
            a.platform_id = (i != 1).then_some(teams);
            a.number_type = Some(domain::NumberType::DirectRouting);
            store::numbers::create(c, &p, a)?;
        }
        Ok(())
    })
    .unwrap();
    let draft = department_rule("Sales", "sales", "sales", "keep");
    t.db.write(|c| sr::create(c, &owner(), &draft)).unwrap();
    let run = claimed_run(&t);
    let rules = t.db.read(sr::load).unwrap();
    let ctx = runs::RunContext::new(&run, &rules);
    let users: Vec<(String, Option<i64>)> = ["u1", "u2", "u3"]
        .iter()
        .map(|u| (u.to_string(), None))
        .collect();
    let outcomes =
        t.db.write(|c| runs::apply_users(c, &ctx, &rules, &users))
            .unwrap();
    let assigned: Vec<String> = outcomes
        .iter()
        .flat_map(|o| o.items.iter().filter_map(|i| i.number.clone()))
        .collect();
    assert_eq!(assigned.len(), 3, "{outcomes:?}");

    #[derive(diesel::QueryableByName)]
    struct Record {
        #[diesel(sql_type = diesel::sql_types::Text)]
        entity_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        after_json: String,
    }
    let records: Vec<Record> =
        t.db.read(|c| {
            Ok(diesel::sql_query(
                "SELECT entity_id, after_json FROM audit_log WHERE action = 'number.assign' \
                 ORDER BY entity_id",
            )
            .load(c)?)
        })
        .unwrap();
    assert_eq!(records.len(), 3);
    for r in records {
        let read =
            t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), &r.entity_id))
                .unwrap();
        let audited: serde_json::Value = serde_json::from_str(&r.after_json).unwrap();
        assert_eq!(
            audited,
            serde_json::to_value(read.snapshot()).unwrap(),
            "{}",
            r.entity_id
        );
    }
}

/// A caller scoped to one rule's pool reads a run as if the other rules had done
/// nothing: their counts, lines and share of the totals stay out of sight.
#[test]
fn a_scoped_caller_sees_a_runs_totals_for_its_rules_only() {
    let t = TestDb::new();
    let p = owner();
    t.db.write(|c| {
        for (id, dept) in [
            ("s1", "Sales"),
            ("s2", "Sales"),
            ("h1", "Help"),
            ("h2", "Help"),
        ] {
            store::directory::upsert_user(c, &p, user(id, dept))?;
        }
        for (i, tag) in ["Sales", "Sales", "Help"].into_iter().enumerate() {
            let mut a = new_number(&format!("+44207000040{i}"));
            a.tags = vec![Tag::parse(tag).unwrap()];
            store::numbers::create(c, &p, a)?;
        }
        Ok(())
    })
    .unwrap();
    let sales =
        t.db.write(|c| {
            sr::create(
                c,
                &owner(),
                &department_rule("Sales", "Sales", "Sales", "keep"),
            )
        })
        .unwrap();
    let mut help = department_rule("Help", "Help", "Help", "keep");
    help.priority = 2;
    t.db.write(|c| sr::create(c, &owner(), &help)).unwrap();
    let run = finished_run(&t, &["s1", "s2", "h1", "h2"]);

    let whole =
        t.db.read(|c| runs::get(c, &Scope::unrestricted(), run.id))
            .unwrap();
    assert_eq!((whole.run.assigned, whole.run.skipped), (3, 1), "{whole:?}");
    let scoped = Scope {
        locations: vec![],
        tags: vec!["sales".into()],
    };
    // Lines other rules' share of the run dropped are theirs, not the scoped caller's.
    t.db.write(|c| {
        Ok(diesel::sql_query("UPDATE rule_runs SET items_not_shown = 4321").execute(c)?)
    })
    .unwrap();
    let mine = t.db.read(|c| runs::get(c, &scoped, run.id)).unwrap();
    assert_eq!((mine.run.assigned, mine.run.skipped), (2, 0), "{mine:?}");
    assert_eq!(mine.run.items_not_shown, 0);
    assert_eq!(mine.rules.len(), 1);
    assert!(mine.items.iter().all(|i| i.rule_id == Some(sales.id)));
    let page =
        t.db.read(|c| runs::of_rule(c, &scoped, sales.id, None, None))
            .unwrap();
    let (listed, counts) = &page.items[0];
    assert_eq!((listed.assigned, listed.skipped), (2, 0));
    assert_eq!(counts.assigned, 2);
    // The owner's listing of the same run keeps the whole run's totals.
    let page =
        t.db.read(|c| runs::of_rule(c, &Scope::unrestricted(), sales.id, None, None))
            .unwrap();
    assert_eq!((page.items[0].0.assigned, page.items[0].0.skipped), (3, 1));
}

/// A rule whose pool moved keeps its numbers from the old pool; a caller scoped to the
/// new pool previews and reads the rule without seeing them, even where the leaver
/// policy would take one back.
#[test]
fn numbers_a_rule_holds_outside_a_callers_scope_stay_out_of_its_preview_and_runs() {
    let t = TestDb::new();
    let p = owner();
    t.db.write(|c| {
        store::directory::upsert_user(c, &p, user("u1", "Sales"))?;
        let mut a = new_number("+442070000500");
        a.tags = vec![Tag::parse("Old").unwrap()];
        store::numbers::create(c, &p, a)?;
        let mut b = new_number("+442070000501");
        b.tags = vec![Tag::parse("New").unwrap()];
        store::numbers::create(c, &p, b)
    })
    .unwrap();
    let rule =
        t.db.write(|c| {
            sr::create(
                c,
                &owner(),
                &department_rule("Sales", "Sales", "Old", "unassign"),
            )
        })
        .unwrap();
    let run = finished_run(&t, &["u1"]);
    // The owner moves the pool; u1 leaves Sales, so the policy would take +...500 back.
    let moved = department_rule("Sales", "Sales", "New", "unassign");
    t.db.write(|c| {
        sr::update(
            c,
            &owner(),
            rule.id,
            sr::RulePatch {
                action: Some(moved.action),
                ..Default::default()
            },
            None,
        )?;
        store::directory::upsert_user(c, &owner(), user("u1", "Support"))
    })
    .unwrap();
    let whole =
        t.db.read(|c| sr::preview::preview_saved(c, &Scope::unrestricted(), rule.id))
            .unwrap();
    assert_eq!(whole.unassign.total, 1, "{whole:?}");
    assert_eq!(whole.unassign.items[0].number, "+442070000500");
    let scoped = Scope {
        locations: vec![],
        tags: vec!["new".into()],
    };
    let mine =
        t.db.read(|c| sr::preview::preview_saved(c, &scoped, rule.id))
            .unwrap();
    assert_eq!(mine.unassign.total, 0, "{mine:?}");
    assert!(mine.unassign.items.is_empty());
    // The run that assigned it: its line is the owner's to see, not the scoped caller's.
    let owners =
        t.db.read(|c| runs::get(c, &Scope::unrestricted(), run.id))
            .unwrap();
    assert!(
        owners
            .items
            .iter()
            .any(|i| i.number.as_deref() == Some("+442070000500"))
    );
    let theirs = t.db.read(|c| runs::get(c, &scoped, run.id)).unwrap();
    assert!(
        theirs.items.iter().all(|i| i.number.is_none()),
        "{theirs:?}"
    );
    assert_eq!(
        theirs.run.items_not_shown, 1,
        "its one line is counted as not shown"
    );
}
