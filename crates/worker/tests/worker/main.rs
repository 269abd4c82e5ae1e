//! Worker tests: the real worker, the real Graph client and the Graph simulator, on
//! SQLite by default or PostgreSQL with `TEST_DATABASE_URL=postgres://…/postgres`.

mod provisioning;
mod rules;
mod sync;
mod webhook;

use std::{sync::Arc, time::Duration};

use domain::{NumberType, Scope, TargetKind};
use graph_sim::{SimConfig, SimNumber, SimUser, Simulator};
use store::{
    lifecycle::{Request, Target},
    numbers::NewNumber,
    testing::{TestDb, owner},
};
use worker::{Config, Metrics, Worker};

/// A secret key for tests (the sealed platform secrets are opened with it).
fn secret_key() -> store::secrets::SecretKey {
    store::secrets::SecretKey::insecure_default()
}

/// A Teams platform pointing at the simulator, created through the store as the API
/// would; returns its id.
fn teams_platform(t: &TestDb, sim: &Simulator, name: &str) -> i64 {
    let key = secret_key();
    t.db.write(|c| {
        let sealer = store::settings::sealer(c, &key)?;
        let input = store::platforms::NewPlatform {
            name: name.into(),
            kind: "teams".into(),
            tenant_id: Some(SimConfig::default().tenant_id),
            client_id: Some(SimConfig::default().client_id),
            client_secret: Some(SimConfig::default().client_secret),
            graph_base_url: Some(sim.graph_base_url()),
            login_base_url: Some(sim.login_base_url()),
            sync_interval_seconds: Some(3600),
            ..Default::default()
        };
        store::platforms::create(c, &owner(), &sealer, input)
    })
    .unwrap()
    .id
}

/// A worker with short timings, so tests finish quickly.
fn worker(t: &TestDb, holder: &str) -> Arc<Worker> {
    let mut config = Config::new(holder);
    config.lease = Duration::from_secs(10);
    config.poll = Duration::from_millis(50);
    config.http_timeout = Duration::from_secs(5);
    config.concurrency = 8;
    config.graph_retry.base_delay = Duration::from_millis(20);
    config.graph_retry.max_delay = Duration::from_millis(200);
    config.graph_retry.max_attempts = 8;
    config.graph_poll.first_delay = Duration::from_millis(20);
    config.graph_poll.max_delay = Duration::from_millis(100);
    Worker::new(
        t.db.clone(),
        secret_key(),
        config,
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

/// Adds a user to the simulated tenant and syncs nothing: returns its object id.
fn sim_user(sim: &Simulator, name: &str, department: &str) -> String {
    sim.tenant().add_user(SimUser {
        user_principal_name: format!("{name}@contoso.example"),
        display_name: name.into(),
        department: Some(department.into()),
        account_enabled: true,
        ..Default::default()
    })
}

/// A direct-routing number on `platform` in the inventory and in Teams (unassigned).
fn number_on(t: &TestDb, sim: &Simulator, e164: &str, platform: i64) {
    let new = NewNumber {
        number: domain::PhoneNumber::parse(e164).unwrap(),
        location_id: None,
        tags: vec![],
        description: String::new(),
        platform_id: Some(platform),
        number_type: Some(NumberType::DirectRouting),
    };
    t.db.write(|c| store::numbers::create(c, &owner(), new))
        .unwrap();
    sim.tenant().add_number(SimNumber {
        telephone_number: e164.into(),
        number_type: "directRouting".into(),
        capabilities: vec!["userAssignment".into()],
        ..Default::default()
    });
}

fn assign(t: &TestDb, e164: &str, user_id: &str, reassign: bool) {
    let target =
        t.db.read(|c| store::directory::resolve_target(c, "user", user_id))
            .unwrap();
    assert_eq!(target.kind, TargetKind::User);
    let request = Request::Assign {
        target: Target { ..target },
        override_reservation: false,
        override_quarantine: false,
        reassign,
    };
    t.db.write(|c| store::lifecycle::apply(c, &owner(), e164, request, None))
        .unwrap();
}

fn jobs(t: &TestDb) -> Vec<store::jobs::Job> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            t.db.read(|c| {
                store::jobs::list(
                    c,
                    &Scope::unrestricted(),
                    &Default::default(),
                    cursor.as_deref(),
                    Some(1000),
                )
            })
            .unwrap();
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return all,
        }
    }
}

/// Runs workers until every job is finished (or `limit` passes); returns the jobs.
async fn run_until_done(
    t: &TestDb,
    workers: &[Arc<Worker>],
    limit: Duration,
) -> Vec<store::jobs::Job> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = workers
        .iter()
        .map(|w| tokio::spawn(w.clone().run(stopped.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let all = jobs(t);
        let open = all.iter().any(|j| {
            matches!(
                j.state,
                store::jobs::JobState::Queued | store::jobs::JobState::Running
            )
        });
        if !open || tokio::time::Instant::now() > deadline {
            let _ = stop.send(true);
            for task in tasks {
                let _ = task.await;
            }
            return jobs(t);
        }
        // Backed-off jobs wait for run_after: pull it in so the test does not wait 30 s.
        t.db.write(|c| {
            Ok(diesel::RunQueryDsl::execute(
                diesel::sql_query(
                    "UPDATE provisioning_jobs SET run_after = created_at WHERE state = 'queued'",
                ),
                c,
            )?)
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sim(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0").await.unwrap()
}
