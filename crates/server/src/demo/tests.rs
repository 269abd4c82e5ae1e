//! The demo seeded through the same functions `telestate demo` runs, against the Graph
//! simulator and the real worker, on SQLite (or PostgreSQL with `TEST_DATABASE_URL`).

use std::collections::{BTreeSet, HashSet};

use store::{audit::AuditFilter, drift::DriftKind, testing::TestDb};
use tokio::sync::watch;

use super::*;

fn key() -> SecretKey {
    SecretKey::insecure_default()
}

fn options() -> Options {
    Options {
        max_range_size: 1_000_000,
        operation_delay: Duration::from_millis(20),
    }
}

/// The in-process worker with short timings.
fn worker(db: &Db) -> Arc<worker::Worker> {
    let mut config = worker::Config::new("demo-test");
    config.poll = Duration::from_millis(50);
    config.concurrency = 16;
    config.graph_poll.first_delay = Duration::from_millis(20);
    config.graph_poll.max_delay = Duration::from_millis(100);
    worker::Worker::new(
        db.clone(),
        key(),
        config,
        Arc::new(worker::Metrics::default()),
    )
    .unwrap()
}

/// Runs the worker until no job is queued or running.
async fn provision_all(db: &Db) {
    let (stop, stopped) = watch::channel(false);
    let running = actix_web::rt::spawn(worker(db).run(stopped));
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let counts = db.read(store::jobs::counts).unwrap();
        let open: i64 = counts
            .iter()
            .filter(|(s, _)| s == "queued" || s == "running")
            .map(|(_, n)| n)
            .sum();
        if open == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jobs still open: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.send(true).unwrap();
    running.await.unwrap();
}

/// One sync, as the worker's loop would run the one the drift requested.
async fn sync(db: &Db, platform_id: i64) {
    let outcome = worker::sync::sync_platform(&worker(db), platform_id, PLATFORM_NAME)
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
}

fn drift_kinds(db: &Db, platform_id: i64) -> (usize, BTreeSet<String>) {
    let page = db
        .read(|c| store::drift::list(c, platform_id, None, Some(1000)))
        .unwrap();
    let kinds = page
        .items
        .iter()
        .map(|d| {
            match d.kind {
                DriftKind::NotInInventory => "not_in_inventory",
                DriftKind::AssignedInTeamsOnly => "assigned_in_teams_only",
                DriftKind::AssignedInInventoryOnly => "assigned_in_inventory_only",
                DriftKind::DifferentTarget => "different_target",
                DriftKind::OtherPlatform => "other_platform",
                DriftKind::NoPlatform => "no_platform",
            }
            .to_string()
        })
        .collect();
    (page.items.len(), kinds)
}

fn all_kinds() -> BTreeSet<String> {
    [
        "assigned_in_inventory_only",
        "assigned_in_teams_only",
        "different_target",
        "not_in_inventory",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn audit(db: &Db, filter: AuditFilter) -> Vec<store::audit::AuditRow> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = db
            .read(|c| store::audit::list(c, &permit(), &filter, cursor.as_deref(), Some(1000)))
            .unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn teams_assigned(tenant: &Tenant) -> usize {
    tenant
        .numbers()
        .iter()
        .filter(|n| n.assignment_target_id.is_some())
        .count()
}

#[actix_web::test]
async fn the_demo_is_a_lived_in_estate_on_a_simulated_tenant() {
    let t = TestDb::new();
    let db = &t.db;
    let started = std::time::Instant::now();
    let demo = start(db, &key(), options()).await.unwrap();
    eprintln!("first start: {:?}", started.elapsed());
    assert!(demo.first_start);
    let platform_id = demo.platform_id;

    // The directory came from one sync of the simulated tenant.
    let platform = db.read(|c| store::platforms::get(c, platform_id)).unwrap();
    let status = platform.sync.expect("the first sync ran");
    assert_eq!(status.error, None);
    assert!(status.users_changed >= 400, "{status:?}");
    let synced = audit(
        db,
        AuditFilter {
            entity_kind: Some("directory_user".into()),
            ..Default::default()
        },
    );
    assert!(synced.len() >= 400);
    assert!(
        synced.iter().all(|r| r.source == Source::Sync),
        "users are only written by the sync"
    );
    let users = db
        .read(|c| {
            store::directory::list_users(
                c,
                &Scope::unrestricted(),
                &Default::default(),
                None,
                Some(1000),
            )
        })
        .unwrap()
        .items;
    assert!(users.len() >= 400, "{} users", users.len());
    assert!(users.iter().any(|u| !u.account_enabled), "a few leavers");
    // People (not resource accounts) are in All Staff and their department's group.
    assert!(
        users
            .iter()
            .filter(|u| u.account_enabled && u.department.is_some())
            .all(|u| u.groups.len() >= 2)
    );

    // The worker provisions every assignment against the simulator.
    provision_all(db).await;
    let numbers = db.read(|c| numbers_on(c, platform_id)).unwrap();
    let count = |s: NumberStatus| numbers.iter().filter(|n| n.status == s).count();
    let (assigned, reserved, quarantined) = (
        count(NumberStatus::Assigned),
        count(NumberStatus::Reserved),
        count(NumberStatus::Quarantined),
    );
    eprintln!(
        "numbers {} assigned {assigned} reserved {reserved} quarantined {quarantined} users {}",
        numbers.len(),
        users.len()
    );
    assert!(
        (1500..=3000).contains(&numbers.len()),
        "{} numbers",
        numbers.len()
    );
    assert!(assigned * 3 >= numbers.len(), "a third or more assigned");
    assert!(reserved >= 10 && quarantined >= 10);
    assert!(
        numbers
            .iter()
            .filter_map(|n| n.assignment.as_ref())
            .all(|a| a.provisioning_state == ProvisioningState::Provisioned),
        "every assignment provisioned"
    );
    assert!(
        numbers
            .iter()
            .filter(|n| n.status == NumberStatus::Reserved)
            .all(|n| n.reservation.as_ref().is_some_and(|r| !r.reason.is_empty()))
    );
    assert!(
        numbers
            .iter()
            .filter(|n| n.status == NumberStatus::Quarantined)
            .any(|n| n
                .quarantine
                .as_ref()
                .is_some_and(|q| q.previous_assignee.is_some())),
        "leavers' numbers rest in quarantine"
    );
    assert_eq!(teams_assigned(&demo.sim.tenant()), assigned);
    let services_with_numbers = db
        .read(all_services)
        .unwrap()
        .into_iter()
        .filter(|s| s.numbers.len() >= 2)
        .count();
    assert!(services_with_numbers >= 5);

    // Assignments are spread over the past 90 days, and today.
    let now = store::now();
    let assigns = audit(
        db,
        AuditFilter {
            action: Some("number.assign".into()),
            ..Default::default()
        },
    );
    assert!(assigns.len() >= assigned);
    let days: HashSet<_> = assigns.iter().map(|r| r.at.date()).collect();
    assert!(days.len() >= 40, "{} days with assignments", days.len());
    assert!(assigns.iter().all(|r| r.at <= now));
    assert!(
        assigns
            .iter()
            .all(|r| r.at >= now - chrono::Duration::days(HISTORY_DAYS as i64 + 1))
    );
    assert!(days.contains(&now.date()), "today's new starters");
    let stats = db
        .read(|c| store::stats::compute(c, &Scope::unrestricted(), Some(90)))
        .unwrap();
    let recent = stats.forecast.assignments_last_30_days;
    assert!(recent > 30 && (recent as usize) < assigned, "{recent}");
    assert!(stats.forecast.days_until_exhausted.is_some());
    // The dashboard's 90-day chart has history before the rate's 30 days.
    assert_eq!(stats.daily.len(), 90);
    let charted: i64 = stats.daily.iter().map(|d| d.assignments).sum();
    assert!(charted > recent, "{charted} charted, {recent} in 30 days");
    assert!(stats.daily[..60].iter().any(|d| d.assignments > 0));

    // Drift: every kind after the next sync.
    let outcome = introduce_drift(
        db.clone(),
        demo.sim.tenant(),
        platform_id,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome, DriftOutcome::Introduced { applied: 9 });
    sync(db, platform_id).await;
    let (drifted, kinds) = drift_kinds(db, platform_id);
    assert_eq!(kinds, all_kinds());
    assert!((5..=10).contains(&drifted), "{drifted} drifted numbers");

    // A later start: nothing seeded again, Teams mirrors the inventory, the same drift.
    let audit_before = db.read(store::audit::last_id).unwrap();
    demo.stop().await;
    let started = std::time::Instant::now();
    let again = start(db, &key(), options()).await.unwrap();
    eprintln!("later start: {:?}", started.elapsed());
    assert!(!again.first_start);
    assert_eq!(again.platform_id, platform_id);
    let platform = db.read(|c| store::platforms::get(c, platform_id)).unwrap();
    assert_eq!(
        platform.graph_base_url.as_deref(),
        Some(again.sim.graph_base_url().as_str())
    );
    let later = audit(
        db,
        AuditFilter {
            entity_kind: Some("number".into()),
            ..Default::default()
        },
    );
    assert!(
        later.iter().all(|r| r.id <= audit_before),
        "no number changed"
    );
    assert_eq!(teams_assigned(&again.sim.tenant()), assigned);
    let outcome = introduce_drift(
        db.clone(),
        again.sim.tenant(),
        platform_id,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(outcome, DriftOutcome::Introduced { applied: 9 });
    sync(db, platform_id).await;
    assert_eq!(drift_kinds(db, platform_id), (drifted, all_kinds()));
    let users_again = db
        .read(|c| {
            store::directory::list_users(
                c,
                &Scope::unrestricted(),
                &Default::default(),
                None,
                Some(1000),
            )
        })
        .unwrap()
        .items;
    assert_eq!(users_again.len(), users.len(), "the same directory");
    assert!(users_again.iter().all(|u| !u.deleted));
    again.stop().await;
}

#[test]
fn the_plan_is_the_same_every_time() {
    let (a, b) = (Plan::build(), Plan::build());
    let ids = |p: &Plan| p.people.iter().map(|x| x.upn.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    assert_eq!(a.steps.len(), b.steps.len());
    let upns: HashSet<_> = a.people.iter().map(|p| p.upn.clone()).collect();
    assert_eq!(upns.len(), a.people.len(), "UPNs are unique");
    assert!((400..=600).contains(&a.people.len()));
    // Every number is used by at most one step kind that needs it free.
    let mut firsts = HashSet::new();
    for s in &a.steps {
        if matches!(
            s.action,
            Action::AssignUser(_)
                | Action::AssignService(_)
                | Action::Reserve { .. }
                | Action::Quarantine { .. }
        ) {
            assert!(firsts.insert(s.number.clone()), "{} used twice", s.number);
        }
    }
}
