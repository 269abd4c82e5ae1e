//! The rules engine end to end: the Graph simulator's directory, a delta sync, the rule
//! run right after it, and provisioning in (simulated) Teams.

use std::{sync::Arc, time::Duration};

use domain::{
    NumberBlock, NumberStatus, NumberType, PhoneNumber, Scope, Tag,
    rules::{
        ActionDraft, ConditionDraft, PoolDraft, PredicateDraft, PredicateValue, RuleDraft,
        RunItemKind, RunTrigger,
    },
};
use graph_sim::{SimConfig, SimNumber, Simulator};
use store::{
    jobs::JobState,
    rules::{self as sr, runs},
    testing::{TestDb, owner},
};
use worker::Worker;

use super::{run_until_done, sim, sim_user, teams_platform, worker};

/// A directory, a Teams platform on the simulator, and a worker.
struct Estate {
    t: TestDb,
    sim: Simulator,
    platform: i64,
    w: Arc<Worker>,
}

impl Estate {
    async fn new() -> Estate {
        let t = TestDb::new();
        let sim = sim(SimConfig::default()).await;
        let platform = teams_platform(&t, &sim, "Contoso");
        let w = worker(&t, "w1");
        Estate {
            t,
            sim,
            platform,
            w,
        }
    }

    /// A range of `count` direct-routing numbers from `start`, tagged `tag`, on the
    /// platform, also listed in the simulated Teams tenant.
    fn range(&self, start: &str, count: u64, tag: &str) {
        let first = PhoneNumber::parse(start).unwrap();
        let last_digits: u64 = start[1..].parse::<u64>().unwrap() + count - 1;
        let last = PhoneNumber::parse(&format!("+{last_digits}")).unwrap();
        let block = NumberBlock::new(first, last, 1_000_000).unwrap();
        let new = store::ranges::NewRange {
            name: Some(format!("{tag} block")),
            block,
            location_id: None,
            tags: vec![Tag::parse(tag).unwrap()],
            description: String::new(),
            platform_id: Some(self.platform),
            number_type: Some(NumberType::DirectRouting),
        };
        self.t
            .db
            .write(|c| store::ranges::create(c, &owner(), new))
            .unwrap();
        self.sim.tenant().add_numbers((0..count).map(|i| SimNumber {
            telephone_number: format!("+{}", start[1..].parse::<u64>().unwrap() + i),
            number_type: "directRouting".into(),
            capabilities: vec!["userAssignment".into()],
            ..Default::default()
        }));
    }

    /// Syncs the directory (delta after the first time) and runs the rules as the
    /// worker does right after a sync.
    async fn sync(&self) {
        let outcome = worker::sync::sync_platform(&self.w, self.platform, "Contoso")
            .await
            .unwrap();
        assert_eq!(outcome.error, None);
        worker::rules::tick(&self.w).await.unwrap();
    }

    fn rule(&self, draft: RuleDraft) -> i64 {
        self.t
            .db
            .write(|c| sr::create(c, &owner(), &draft))
            .unwrap()
            .id
    }

    /// The numbers assigned to a user, with the rule that gave each.
    fn numbers_of(&self, user: &str) -> Vec<(String, Option<i64>)> {
        let user = self
            .t
            .db
            .read(|c| store::directory::get_user(c, &Scope::unrestricted(), user))
            .unwrap();
        user.numbers
            .iter()
            .map(|n| (n.clone(), rule_of(&self.t, n)))
            .collect()
    }

    fn number(&self, e164: &str) -> store::numbers::Number {
        self.t
            .db
            .read(|c| store::numbers::get(c, &Scope::unrestricted(), e164))
            .unwrap()
    }

    fn last_run(&self) -> runs::RunDetail {
        let id: i64 = self
            .t
            .db
            .read(|c| {
                Ok(diesel::RunQueryDsl::get_result::<Id>(
                    diesel::sql_query("SELECT MAX(id) AS id FROM rule_runs"),
                    c,
                )?
                .id)
            })
            .unwrap();
        self.t
            .db
            .read(|c| runs::get(c, &Scope::unrestricted(), id))
            .unwrap()
    }

    /// A manual full run (`POST /rules/evaluate`), claimed and carried out now, and
    /// nothing else (users a sync left pending wait for their delta run).
    async fn evaluate(&self) -> runs::RunDetail {
        let run = self
            .t
            .db
            .write(|c| {
                runs::request(c, &owner())?;
                runs::claim(c, "w1", Duration::from_secs(60))
            })
            .unwrap()
            .expect("the queued run is claimed");
        worker::rules::full(&self.w, run).await.unwrap();
        self.last_run()
    }
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

fn rule_of(t: &TestDb, e164: &str) -> Option<i64> {
    #[derive(diesel::QueryableByName)]
    struct Rule {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        assigned_rule_id: Option<i64>,
    }
    t.db.read(|c| {
        Ok(diesel::RunQueryDsl::get_result::<Rule>(
            diesel::sql_query("SELECT assigned_rule_id FROM numbers WHERE e164 = $1")
                .bind::<diesel::sql_types::Text, _>(e164),
            c,
        )?
        .assigned_rule_id)
    })
    .unwrap()
}

/// `when a user joins <group>, assign the first available number tagged <tag>`.
fn group_rule(name: &str, priority: i64, group: &str, tag: &str, leaver: &str) -> RuleDraft {
    RuleDraft {
        name: name.into(),
        priority,
        enabled: true,
        condition: ConditionDraft {
            all: Some(vec![PredicateDraft {
                attribute: "group".into(),
                op: "equals".into(),
                value: PredicateValue::One(group.into()),
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
        leaver_policy: leaver.into(),
    }
}

fn items(run: &runs::RunDetail, kind: RunItemKind) -> Vec<(String, Option<String>)> {
    let mut v: Vec<(String, Option<String>)> = run
        .items
        .iter()
        .filter(|i| i.kind == kind)
        .map(|i| (i.upn.clone(), i.number.clone()))
        .collect();
    v.sort();
    v
}

#[actix_web::test]
async fn a_user_who_joins_the_sales_group_gets_the_first_sales_number_and_it_is_provisioned() {
    let e = Estate::new().await;
    e.range("+442070000100", 5, "Sales");
    let alice = sim_user(&e.sim, "alice", "Sales");
    let bob = sim_user(&e.sim, "bob", "Sales");
    let sales = e.sim.tenant().add_group("Sales", None);
    e.sync().await;
    let mut seed = group_rule("Sales joiners", 10, "Sales", "Sales", "unassign");
    seed.action.assignment_category = Some("private".into());
    let rule = e.rule(seed);
    assert!(e.numbers_of(&alice).is_empty());

    e.sim.tenant().add_member(&sales, &alice);
    e.sync().await;
    assert_eq!(
        e.numbers_of(&alice),
        vec![("+442070000100".to_string(), Some(rule))]
    );
    assert!(e.numbers_of(&bob).is_empty(), "bob did not join");
    let run = e.last_run();
    assert_eq!(run.run.trigger, RunTrigger::Delta);
    assert_eq!((run.run.assigned, run.run.unassigned), (1, 0));
    assert_eq!(run.rules[0].rule_name, "Sales joiners");
    assert_eq!((run.rules[0].matched, run.rules[0].assigned), (1, 1));

    // Audited as the rule, under the run's change set.
    let records = e
        .t
        .db
        .read(|c| store::audit::change_set(c, &owner(), &run.run.change_set_id, None, Some(100)))
        .unwrap()
        .items;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor_name, "rule:Sales joiners");
    assert_eq!(records[0].action, "number.assign");

    // Provisioned in Teams like any assignment.
    let jobs = run_until_done(&e.t, std::slice::from_ref(&e.w), Duration::from_secs(20)).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Succeeded);
    let in_teams = e.sim.tenant().number("+442070000100").unwrap();
    assert_eq!(
        in_teams.assignment_target_id.as_deref(),
        Some(alice.as_str())
    );
    // In the rule's Teams assignment category.
    assert_eq!(in_teams.assignment_category.as_deref(), Some("private"));
    assert_eq!(
        e.number("+442070000100")
            .assignment
            .map(|a| a.provisioning_state),
        Some(domain::ProvisioningState::Provisioned)
    );

    // A second sync with no change evaluates nobody and changes nothing.
    e.sync().await;
    assert_eq!(e.last_run().run.id, run.run.id);
}

#[actix_web::test]
async fn leavers_lose_a_rules_number_into_quarantine_only_when_its_policy_says_so() {
    let e = Estate::new().await;
    e.range("+442070000100", 5, "Sales");
    e.range("+442070000200", 5, "Support");
    let users: Vec<String> = ["a1", "a2", "a3", "b1", "b2"]
        .iter()
        .map(|n| sim_user(&e.sim, n, "x"))
        .collect();
    let sales = e.sim.tenant().add_group("Sales", None);
    let support = e.sim.tenant().add_group("Support", None);
    for u in &users[..3] {
        e.sim.tenant().add_member(&sales, u);
    }
    for u in &users[3..] {
        e.sim.tenant().add_member(&support, u);
    }
    e.sync().await;
    e.rule(group_rule("Sales", 10, "Sales", "Sales", "unassign"));
    e.rule(group_rule("Support", 20, "Support", "Support", "keep"));
    let first = e.evaluate().await;
    assert_eq!(first.run.assigned, 5);
    let held: Vec<String> = users.iter().map(|u| e.numbers_of(u)[0].0.clone()).collect();

    // a1 leaves the group, a2 is disabled, a3 deleted; b1 leaves Support, b2 is disabled.
    e.sim.tenant().remove_member(&sales, &users[0]);
    e.sim.tenant().disable_user(&users[1]);
    e.sim.tenant().delete_user(&users[2], false);
    e.sim.tenant().remove_member(&support, &users[3]);
    e.sim.tenant().disable_user(&users[4]);
    e.sync().await;

    let run = e.last_run();
    assert_eq!(run.run.trigger, RunTrigger::Delta);
    let mut reasons: Vec<(String, Option<String>)> = run
        .items
        .iter()
        .filter(|i| i.kind == RunItemKind::Unassigned)
        .map(|i| (i.number.clone().unwrap(), i.reason.clone()))
        .collect();
    reasons.sort();
    let mut expected = vec![
        (held[0].clone(), Some("stopped_matching".to_string())),
        (held[1].clone(), Some("disabled".to_string())),
        (held[2].clone(), Some("deleted".to_string())),
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    for n in &held[..3] {
        let n = e.number(n);
        assert_eq!(n.status, NumberStatus::Quarantined, "{}", n.number);
        assert!(
            n.quarantine.as_ref().is_some_and(|q| q
                .reason
                .as_deref()
                .unwrap_or("")
                .starts_with("rule Sales")),
            "{:?}",
            n.quarantine
        );
    }
    // Support keeps: b1 and b2 still hold their numbers.
    for (u, n) in users[3..].iter().zip(&held[3..]) {
        assert_eq!(e.numbers_of(u), vec![(n.clone(), rule_of(&e.t, n))]);
    }
    // Running again changes nothing.
    let again = e.evaluate().await;
    assert_eq!((again.run.assigned, again.run.unassigned), (0, 0));
}

#[actix_web::test]
async fn a_mover_keeps_their_number_unless_the_old_rules_leaver_policy_applies() {
    let e = Estate::new().await;
    e.range("+442070000100", 5, "Sales");
    e.range("+442070000200", 5, "Support");
    e.range("+442070000300", 5, "Marketing");
    let keeper = sim_user(&e.sim, "keeper", "x");
    let mover = sim_user(&e.sim, "mover", "x");
    let sales = e.sim.tenant().add_group("Sales", None);
    let support = e.sim.tenant().add_group("Support", None);
    let marketing = e.sim.tenant().add_group("Marketing", None);
    e.sim.tenant().add_member(&sales, &keeper);
    e.sim.tenant().add_member(&marketing, &mover);
    e.sync().await;
    let sales_rule = e.rule(group_rule("Sales", 10, "Sales", "Sales", "keep"));
    let support_rule = e.rule(group_rule("Support", 20, "Support", "Support", "keep"));
    let marketing_rule = e.rule(group_rule(
        "Marketing",
        30,
        "Marketing",
        "Marketing",
        "unassign",
    ));
    e.evaluate().await;
    assert_eq!(
        e.numbers_of(&keeper),
        vec![("+442070000100".into(), Some(sales_rule))]
    );
    assert_eq!(
        e.numbers_of(&mover),
        vec![("+442070000300".into(), Some(marketing_rule))]
    );

    // Both move to Support.
    for u in [&keeper, &mover] {
        e.sim.tenant().add_member(&support, u);
    }
    e.sim.tenant().remove_member(&sales, &keeper);
    e.sim.tenant().remove_member(&marketing, &mover);
    e.sync().await;

    // Sales keeps: the keeper keeps the Sales number and gets nothing new.
    assert_eq!(
        e.numbers_of(&keeper),
        vec![("+442070000100".into(), Some(sales_rule))]
    );
    // Marketing unassigns: the mover's number goes and Support's comes, in one run.
    assert_eq!(
        e.numbers_of(&mover),
        vec![("+442070000200".into(), Some(support_rule))]
    );
    assert_eq!(e.number("+442070000300").status, NumberStatus::Quarantined);
    let run = e.last_run();
    assert_eq!(
        items(&run, RunItemKind::Unassigned),
        vec![("mover@contoso.example".into(), Some("+442070000300".into()))]
    );
    assert_eq!(
        items(&run, RunItemKind::Assigned),
        vec![("mover@contoso.example".into(), Some("+442070000200".into()))]
    );
}

#[actix_web::test]
async fn an_exhausted_pool_is_reported_with_each_user_it_could_not_serve() {
    let e = Estate::new().await;
    e.range("+442070000100", 2, "Sales");
    let users: Vec<String> = (0..4)
        .map(|i| sim_user(&e.sim, &format!("u{i}"), "x"))
        .collect();
    let sales = e.sim.tenant().add_group("Sales", None);
    for u in &users {
        e.sim.tenant().add_member(&sales, u);
    }
    e.sync().await;
    let rule = e.rule(group_rule("Sales", 10, "Sales", "Sales", "unassign"));
    let preview =
        e.t.db
            .read(|c| sr::preview::preview_saved(c, &Scope::unrestricted(), rule))
            .unwrap();
    assert_eq!(
        (preview.assign.total, preview.skipped.total, preview.short),
        (2, 2, 2)
    );

    let run = e.evaluate().await;
    assert_eq!((run.run.assigned, run.run.skipped), (2, 2));
    let skipped: Vec<&runs::RunItem> = run
        .items
        .iter()
        .filter(|i| i.kind == RunItemKind::Skipped)
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(
        skipped
            .iter()
            .all(|i| i.reason.as_deref() == Some("pool_exhausted") && i.rule_id == Some(rule))
    );
    assert_eq!(run.rules[0].skipped, 2);
}

#[actix_web::test]
async fn the_first_enabled_rule_by_priority_wins_and_a_holder_gets_no_second_number() {
    let e = Estate::new().await;
    e.range("+442070000100", 5, "Sales");
    e.range("+442070000200", 5, "London");
    let ann = sim_user(&e.sim, "ann", "Sales");
    e.sim
        .tenant()
        .update_user(&ann, |u| u.city = Some("London".into()));
    e.sync().await;
    let mut by_city = group_rule("London", 5, "unused", "London", "keep");
    by_city.condition.all = Some(vec![PredicateDraft {
        attribute: "city".into(),
        op: "equals".into(),
        value: PredicateValue::One("LONDON".into()),
    }]);
    let mut by_department = group_rule("Sales", 10, "unused", "Sales", "keep");
    by_department.condition.all = Some(vec![PredicateDraft {
        attribute: "department".into(),
        op: "starts_with".into(),
        value: PredicateValue::One("sal".into()),
    }]);
    let london = e.rule(by_city);
    let sales = e.rule(by_department);
    let run = e.evaluate().await;
    assert_eq!(
        e.numbers_of(&ann),
        vec![("+442070000200".into(), Some(london))]
    );
    assert_eq!(run.run.assigned, 1);
    let matched: Vec<(i64, i64)> = run.rules.iter().map(|r| (r.rule_id, r.matched)).collect();
    assert!(matched.contains(&(london, 1)) && matched.contains(&(sales, 0)));

    // The London rule paused: ann holds a number already and gets no second one.
    e.t.db
        .write(|c| {
            sr::update(
                c,
                &owner(),
                london,
                sr::RulePatch {
                    enabled: Some(false),
                    ..Default::default()
                },
                None,
            )
        })
        .unwrap();
    let run = e.evaluate().await;
    assert_eq!((run.run.assigned, run.run.unassigned), (0, 0));
    assert_eq!(e.numbers_of(&ann).len(), 1);
}

#[actix_web::test]
async fn a_preview_shows_exactly_what_the_run_that_follows_does() {
    let e = Estate::new().await;
    e.range("+442070000100", 6, "Sales");
    e.range("+442070000200", 3, "Support");
    let users: Vec<String> = (0..12)
        .map(|i| sim_user(&e.sim, &format!("p{i:02}"), "x"))
        .collect();
    let sales = e.sim.tenant().add_group("Sales", None);
    let support = e.sim.tenant().add_group("Support", None);
    for (i, u) in users.iter().enumerate() {
        e.sim
            .tenant()
            .add_member(if i % 3 == 0 { &support } else { &sales }, u);
    }
    e.sync().await;
    let sales_rule = e.rule(group_rule("Sales", 10, "Sales", "Sales", "unassign"));
    e.rule(group_rule("Support", 20, "Support", "Support", "unassign"));
    // Two users hold a Sales number already from an earlier run, then leave.
    e.evaluate().await;
    e.sim.tenant().remove_member(&sales, &users[1]);
    e.sim.tenant().remove_member(&sales, &users[2]);
    e.sim.tenant().add_member(&sales, &users[0]);
    worker::sync::sync_platform(&e.w, e.platform, "Contoso")
        .await
        .unwrap();
    // A new Sales range so there is something to give.
    e.range("+442070000150", 3, "Sales");

    let preview =
        e.t.db
            .read(|c| sr::preview::preview_saved(c, &Scope::unrestricted(), sales_rule))
            .unwrap();
    assert!(preview.assign.total > 0 && preview.unassign.total == 2);
    let run = e.evaluate().await;
    let mut shown: Vec<(String, Option<String>)> = preview
        .assign
        .items
        .iter()
        .map(|a| (a.upn.clone(), Some(a.number.clone())))
        .collect();
    shown.sort();
    let mut done: Vec<(String, Option<String>)> = run
        .items
        .iter()
        .filter(|i| i.kind == RunItemKind::Assigned && i.rule_id == Some(sales_rule))
        .map(|i| (i.upn.clone(), i.number.clone()))
        .collect();
    done.sort();
    assert_eq!(shown, done);
    let mut lost: Vec<(String, Option<String>)> = preview
        .unassign
        .items
        .iter()
        .map(|u| (u.upn.clone(), Some(u.number.clone())))
        .collect();
    lost.sort();
    assert_eq!(lost, items(&run, RunItemKind::Unassigned));
    let skipped = run
        .items
        .iter()
        .filter(|i| i.kind == RunItemKind::Skipped && i.rule_id == Some(sales_rule))
        .count() as i64;
    assert_eq!(preview.skipped.total, skipped);
}

#[actix_web::test]
async fn rules_sharing_a_pool_take_its_numbers_in_user_order_within_one_batch() {
    // Two rules draw from the same five numbers, their users interleaved: a run applies
    // them in batches, and must still hand out numbers as a walk by user id does (the
    // preview), the pool running dry at the sixth user whichever rule they match.
    let e = Estate::new().await;
    e.range("+442070000300", 5, "Sales");
    let odd = e.sim.tenant().add_group("Odd", None);
    let even = e.sim.tenant().add_group("Even", None);
    let mut users: Vec<(String, String)> = (0..8)
        .map(|i| {
            let id = sim_user(&e.sim, &format!("q{i}"), "x");
            e.sim
                .tenant()
                .add_member(if i % 2 == 0 { &even } else { &odd }, &id);
            (id, format!("q{i}"))
        })
        .collect();
    e.sync().await;
    let a = e.rule(group_rule("Even", 10, "Even", "Sales", "keep"));
    let b = e.rule(group_rule("Odd", 20, "Odd", "Sales", "keep"));
    let mut shown: Vec<(String, Option<String>)> = Vec::new();
    let mut skipped_shown = 0;
    for rule in [a, b] {
        let p =
            e.t.db
                .read(|c| sr::preview::preview_saved(c, &Scope::unrestricted(), rule))
                .unwrap();
        shown.extend(
            p.assign
                .items
                .iter()
                .map(|x| (x.upn.clone(), Some(x.number.clone()))),
        );
        skipped_shown += p.skipped.total;
    }
    shown.sort();
    let run = e.evaluate().await;
    assert_eq!(items(&run, RunItemKind::Assigned), shown);
    assert_eq!((run.run.assigned, run.run.skipped), (5, 3));
    assert_eq!(skipped_shown, 3);
    // By user id: the first five get the numbers in E.164 order.
    users.sort();
    for (k, (id, _)) in users.iter().enumerate() {
        let held = e.numbers_of(id);
        if k < 5 {
            assert_eq!(held.len(), 1, "user {k} in id order holds one number");
            assert_eq!(held[0].0, format!("+44207000030{k}"));
        } else {
            assert!(held.is_empty(), "user {k} in id order finds the pool empty");
        }
    }
}

#[actix_web::test]
async fn a_rule_run_is_reverted_as_a_change_set() {
    let e = Estate::new().await;
    e.range("+442070000100", 5, "Sales");
    let users: Vec<String> = (0..3)
        .map(|i| sim_user(&e.sim, &format!("r{i}"), "x"))
        .collect();
    let sales = e.sim.tenant().add_group("Sales", None);
    for u in &users {
        e.sim.tenant().add_member(&sales, u);
    }
    e.sync().await;
    e.rule(group_rule("Sales", 10, "Sales", "Sales", "unassign"));
    let run = e.evaluate().await;
    assert_eq!(run.run.assigned, 3);

    let plan = store::imports::revert(
        &e.t.db,
        &owner(),
        &run.run.change_set_id,
        store::now(),
        chrono::Duration::seconds(3600),
        1000,
    )
    .unwrap();
    assert_eq!(plan.error_count, 0);
    assert_eq!(plan.summary.unassigns, 3);
    e.t.db
        .write(|c| store::imports::apply(c, &owner(), &plan.id))
        .unwrap();
    for u in &users {
        assert!(e.numbers_of(u).is_empty());
    }
    assert_eq!(e.number("+442070000100").status, NumberStatus::Available);
}

#[actix_web::test]
async fn two_workers_evaluating_at_once_never_give_a_user_two_numbers_nor_a_number_two_users() {
    let e = Estate::new().await;
    e.range("+442070001000", 300, "Sales");
    let sales = e.sim.tenant().add_group("Sales", None);
    for i in 0..120 {
        let u = sim_user(&e.sim, &format!("t{i:03}"), "x");
        e.sim.tenant().add_member(&sales, &u);
    }
    worker::sync::sync_platform(&e.w, e.platform, "Contoso")
        .await
        .unwrap();
    e.rule(group_rule("Sales", 10, "Sales", "Sales", "unassign"));
    // Two full runs, claimed by two workers, applied at the same time.
    let w2 = worker(&e.t, "w2");
    e.t.db.write(|c| runs::request(c, &owner())).unwrap();
    let first =
        e.t.db
            .write(|c| runs::claim(c, "w1", Duration::from_secs(60)))
            .unwrap()
            .unwrap();
    e.t.db.write(|c| runs::request(c, &owner())).unwrap();
    let second =
        e.t.db
            .write(|c| runs::claim(c, "w2", Duration::from_secs(60)))
            .unwrap()
            .unwrap();
    let (a, b) = tokio::join!(
        worker::rules::full(&e.w, first),
        worker::rules::full(&w2, second)
    );
    a.unwrap();
    b.unwrap();

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |sql: &str| {
        e.t.db
            .read(|c| Ok(diesel::RunQueryDsl::get_result::<Count>(diesel::sql_query(sql), c)?.n))
            .unwrap()
    };
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM numbers WHERE status = 'assigned'"),
        120
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM (SELECT assigned_id FROM numbers WHERE status = 'assigned' \
             GROUP BY assigned_id HAVING COUNT(*) > 1) x"
        ),
        0
    );
    let runs_done: i64 = count(
        "SELECT CAST(SUM(assigned) AS BIGINT) AS n FROM rule_runs WHERE run_trigger = 'manual'",
    );
    assert_eq!(
        runs_done, 120,
        "each number was assigned by exactly one run"
    );
    assert!(e.t.db.read(runs::open_runs).unwrap().is_empty());
}

#[actix_web::test]
async fn the_schedule_setting_runs_a_full_evaluation_once_per_interval() {
    let e = Estate::new().await;
    e.range("+442070000100", 5, "Sales");
    let ann = sim_user(&e.sim, "ann", "x");
    let sales = e.sim.tenant().add_group("Sales", None);
    e.sim.tenant().add_member(&sales, &ann);
    e.sync().await;
    e.rule(group_rule("Sales", 10, "Sales", "Sales", "unassign"));
    // The rule came after the sync: nobody is pending, so only a full run gives ann a number.
    worker::rules::tick(&e.w).await.unwrap();
    assert!(e.numbers_of(&ann).is_empty());

    let change = store::settings::LifecyclePatch {
        rules_evaluation_minutes: Some(Some(60)),
        ..Default::default()
    };
    e.t.db
        .write(|c| store::settings::update_lifecycle(c, &owner(), change))
        .unwrap();
    worker::rules::tick(&e.w).await.unwrap();
    let run = e.last_run();
    assert_eq!(run.run.trigger, RunTrigger::Schedule);
    assert_eq!(run.run.requested_by, "schedule");
    assert_eq!(e.numbers_of(&ann).len(), 1);
    // Within the hour, another tick (on any worker) queues no second scheduled run.
    worker::rules::tick(&worker(&e.t, "w2")).await.unwrap();
    assert_eq!(e.last_run().run.id, run.run.id);
}
