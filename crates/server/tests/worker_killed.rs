//! A `telestate worker` process killed with SIGKILL in the middle of a job: another
//! worker process takes the job over when its lease ends and finishes it — by polling the
//! Teams operation the dead one started, not by asking Teams a second time.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use domain::{NumberType, PhoneNumber, Scope};
use graph_sim::{SimConfig, SimNumber, SimUser, Simulator};
use store::{
    jobs::JobState,
    lifecycle::Request,
    numbers::NewNumber,
    testing::{TestDb, owner},
};

const KEY: &str = "a-test-secret-key-of-more-than-32-characters";

fn start_worker(t: &TestDb) -> Child {
    Command::new(env!("CARGO_BIN_EXE_telestate"))
        .arg("worker")
        .env("TELESTATE_DATABASE_URL", &t.url)
        .env("TELESTATE_SECRET_KEY", KEY)
        .env("TELESTATE_WORKER_LEASE_SECONDS", "3")
        .env("TELESTATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start telestate worker")
}

fn job(t: &TestDb) -> store::jobs::Job {
    t.db.read(|c| {
        store::jobs::list(
            c,
            &Scope::unrestricted(),
            &Default::default(),
            None,
            Some(10),
        )
    })
    .unwrap()
    .items
    .remove(0)
}

async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_job_a_killed_worker_process_left_is_finished_by_another() {
    let t = TestDb::new();
    let sim = Simulator::start(
        SimConfig {
            operation_delay: Duration::from_secs(4),
            ..SimConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let alice = sim.tenant().add_user(SimUser {
        user_principal_name: "alice@contoso.example".into(),
        display_name: "Alice".into(),
        ..Default::default()
    });
    sim.tenant().add_number(SimNumber {
        telephone_number: "+442071230001".into(),
        ..Default::default()
    });
    let key = store::secrets::SecretKey::from_text(KEY).unwrap();
    let platform =
        t.db.write(|c| {
            let sealer = store::settings::sealer(c, &key)?;
            let input = store::platforms::NewPlatform {
                name: "Contoso".into(),
                kind: "teams".into(),
                tenant_id: Some(SimConfig::default().tenant_id),
                client_id: Some(SimConfig::default().client_id),
                client_secret: Some(SimConfig::default().client_secret),
                graph_base_url: Some(sim.graph_base_url()),
                login_base_url: Some(sim.login_base_url()),
                sync_interval_seconds: Some(86_400),
                ..Default::default()
            };
            store::platforms::create(c, &owner(), &sealer, input)
        })
        .unwrap();
    // The directory, synced in this process.
    let w = worker::Worker::new(
        t.db.clone(),
        key,
        worker::Config::new("test"),
        Arc::new(worker::Metrics::default()),
    )
    .unwrap();
    let synced = worker::sync::sync_platform(&w, platform.id, "Contoso")
        .await
        .unwrap();
    assert_eq!(synced.error, None);
    let new = NewNumber {
        number: PhoneNumber::parse("+442071230001").unwrap(),
        location_id: None,
        tags: vec![],
        description: String::new(),
        platform_id: Some(platform.id),
        number_type: Some(NumberType::DirectRouting),
    };
    t.db.write(|c| store::numbers::create(c, &owner(), new))
        .unwrap();
    let target =
        t.db.read(|c| store::directory::resolve_target(c, "user", &alice))
            .unwrap();
    let assign = Request::Assign {
        target,
        override_reservation: false,
        override_quarantine: false,
        reassign: false,
    };
    t.db.write(|c| store::lifecycle::apply(c, &owner(), "+442071230001", assign, None))
        .unwrap();

    let mut first = start_worker(&t);
    // Mid-job: the assignNumber was sent and its operation recorded, Teams still working.
    wait_for(
        "the first worker to start the operation",
        Duration::from_secs(60),
        || {
            let j = job(&t);
            j.state == JobState::Running && j.operation.is_some()
        },
    )
    .await;
    first.kill().expect("SIGKILL the first worker");
    first.wait().unwrap();
    assert_eq!(
        job(&t).state,
        JobState::Running,
        "a killed worker hands nothing back"
    );

    let mut second = start_worker(&t);
    wait_for(
        "the second worker to finish the job",
        Duration::from_secs(60),
        || job(&t).state == JobState::Succeeded,
    )
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    let done = job(&t);
    assert_eq!(done.attempts, 2);
    assert_eq!(sim.tenant().stats().assign_calls, 1, "Teams was asked once");
    assert_eq!(
        sim.tenant()
            .number("+442071230001")
            .unwrap()
            .assignment_target_id
            .as_deref(),
        Some(alice.as_str())
    );
    let n =
        t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), "+442071230001"))
            .unwrap();
    assert_eq!(
        n.assignment.unwrap().provisioning_state,
        domain::ProvisioningState::Provisioned
    );
}
