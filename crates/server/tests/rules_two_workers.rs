//! Two `telestate worker` processes evaluating the assignment rules at once — a delta run
//! over pending users and two full runs — never give one user two numbers nor one number
//! two users (issue 12). Meant for PostgreSQL (`TEST_DATABASE_URL`), where the processes
//! really write at the same time; on SQLite it checks the same through the file's one
//! writer.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use diesel::RunQueryDsl;
use domain::rules::{
    ActionDraft, ConditionDraft, PoolDraft, PredicateDraft, PredicateValue, RuleDraft,
};
use store::testing::{TestDb, owner};

const KEY: &str = "a-test-secret-key-of-more-than-32-characters";
const USERS: usize = 200;

fn start_worker(t: &TestDb) -> Child {
    Command::new(env!("CARGO_BIN_EXE_telestate"))
        .arg("worker")
        .env("TELESTATE_DATABASE_URL", &t.url)
        .env("TELESTATE_SECRET_KEY", KEY)
        .env("TELESTATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start telestate worker")
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(t: &TestDb, sql: &str) -> i64 {
    t.db.read(|c| Ok(diesel::sql_query(sql).get_result::<Count>(c)?.n))
        .unwrap()
}

#[test]
fn two_worker_processes_never_give_a_user_two_numbers_nor_a_number_two_users() {
    let t = TestDb::new();
    let permit = owner();
    t.db.write(|c| {
        store::directory::upsert_group(
            c,
            &permit,
            store::directory::GroupInput {
                id: "g-sales".into(),
                display_name: "Sales".into(),
                ..Default::default()
            },
        )?;
        let mut ids = Vec::new();
        for i in 0..USERS {
            store::directory::upsert_user(
                c,
                &permit,
                store::directory::DirectoryUserInput {
                    id: format!("user-{i:04}"),
                    upn: format!("user{i:04}@contoso.example"),
                    display_name: format!("User {i}"),
                    account_enabled: true,
                    ..Default::default()
                },
            )?;
            ids.push(format!("user-{i:04}"));
        }
        store::directory::set_group_members(c, &permit, "g-sales", &ids)?;
        let numbers = (0..USERS + 50)
            .map(|i| store::numbers::NewNumber {
                number: domain::PhoneNumber::parse(&format!("+4420700{:05}", 10_000 + i))
                    .unwrap(),
                location_id: None,
                tags: vec![domain::Tag::parse("Sales").unwrap()],
                description: String::new(),
                platform_id: None,
                number_type: None,
            })
            .collect();
        store::numbers::create_many(c, &permit, numbers)?;
        store::rules::create(
            c,
            &permit,
            &RuleDraft {
                name: "Sales joiners".into(),
                priority: 10,
                enabled: true,
                condition: ConditionDraft {
                    all: Some(vec![PredicateDraft {
                        attribute: "group".into(),
                        op: "equals".into(),
                        value: PredicateValue::One("Sales".into()),
                    }]),
                    any: None,
                },
                action: ActionDraft {
                    pool: PoolDraft {
                        tags: vec!["Sales".into()],
                        ..Default::default()
                    },
                    assignment_category: None,
                },
                leaver_policy: "unassign".into(),
            },
        )?;
        // Two full runs queued besides the pending users' delta run: each process claims one.
        for cs in ["cs_two_workers_1", "cs_two_workers_2"] {
            diesel::sql_query(format!(
                "INSERT INTO rule_runs (run_trigger, status, requested_by, created_at, change_set_id) \
                 VALUES ('manual', 'queued', 'test', CURRENT_TIMESTAMP, '{cs}')"
            ))
            .execute(c)?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        count(&t, "SELECT COUNT(*) AS n FROM rule_pending"),
        USERS as i64
    );

    let mut workers = [start_worker(&t), start_worker(&t)];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open = count(
            &t,
            "SELECT COUNT(*) AS n FROM rule_runs WHERE status IN ('queued', 'running')",
        );
        let pending = count(&t, "SELECT COUNT(*) AS n FROM rule_pending");
        if open == 0 && pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the workers did not finish: {open} runs open, {pending} users pending"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for w in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }

    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) AS n FROM numbers WHERE status = 'assigned'"
        ),
        USERS as i64
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) AS n FROM (SELECT assigned_id FROM numbers WHERE status = 'assigned' \
             GROUP BY assigned_id HAVING COUNT(*) > 1) x"
        ),
        0,
        "a user holds two numbers"
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(DISTINCT assigned_id) AS n FROM numbers WHERE status = 'assigned'"
        ),
        USERS as i64
    );
    // Every assignment is one audit record by the rule, in one of the runs' change sets.
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'number.assign' \
             AND actor_name = 'rule:Sales joiners' AND source = 'rule'"
        ),
        USERS as i64
    );
    assert_eq!(
        count(
            &t,
            "SELECT CAST(COALESCE(SUM(assigned), 0) AS BIGINT) AS n FROM rule_runs WHERE status = 'finished'"
        ),
        USERS as i64
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) AS n FROM rule_runs WHERE status = 'failed'"
        ),
        0
    );
}
