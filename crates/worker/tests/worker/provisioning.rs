//! Provisioning end to end against the simulator: faults injected, two workers, a
//! worker that dies mid-job.

use std::time::Duration;

use graph_sim::{Faults, SimConfig};
use store::jobs::JobState;

use super::{assign, number_on, run_until_done, sim, sim_user, teams_platform, worker};

#[actix_web::test]
async fn every_job_ends_provisioned_or_failed_under_throttling_and_server_errors() {
    let t = store::testing::TestDb::new();
    let sim = sim(SimConfig::default()).await;
    let p = teams_platform(&t, &sim, "Contoso");
    let people: Vec<String> = (0..30)
        .map(|i| sim_user(&sim, &format!("person{i:02}"), "Sales"))
        .collect();
    let w = worker(&t, "w1");
    worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    for (i, person) in people.iter().enumerate() {
        let e164 = format!("+4420712300{i:02}");
        number_on(&t, &sim, &e164, p);
        assign(&t, &e164, person, false);
    }
    sim.tenant().set_faults(Faults {
        throttle_rate: 0.2,
        retry_after_secs: 1,
        server_error_rate: 0.05,
        failed_operation_rate: 0.02,
        ..Faults::default()
    });
    let jobs = run_until_done(&t, &[w], Duration::from_secs(120)).await;
    assert_eq!(jobs.len(), 30);
    for job in &jobs {
        match job.state {
            JobState::Succeeded => {
                let teams = sim.tenant().number(&job.number).unwrap();
                assert_eq!(
                    teams.assignment_target_id.as_deref(),
                    job.target_id.as_deref()
                );
            }
            JobState::Failed => assert!(job.last_error.is_some(), "{job:?}"),
            other => panic!("job {} ended {other:?}", job.id),
        }
    }
    let stats = sim.tenant().stats();
    assert_eq!(stats.retry_after_violations, 0, "Retry-After was undercut");
    assert!(stats.throttled > 0, "the faults were injected");
    let provisioned =
        t.db.read(|c| {
            store::numbers::list(
                c,
                &domain::Scope::unrestricted(),
                &Default::default(),
                None,
                Some(100),
            )
        })
        .unwrap()
        .items
        .into_iter()
        .filter(|n| {
            n.assignment
                .as_ref()
                .is_some_and(|a| a.provisioning_state == domain::ProvisioningState::Provisioned)
        })
        .count();
    let succeeded = jobs
        .iter()
        .filter(|j| j.state == JobState::Succeeded)
        .count();
    assert_eq!(provisioned, succeeded);
}

#[actix_web::test]
async fn two_workers_never_run_one_job_twice() {
    let t = store::testing::TestDb::new();
    let sim = sim(SimConfig {
        operation_delay: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await;
    let p = teams_platform(&t, &sim, "Contoso");
    let people: Vec<String> = (0..40)
        .map(|i| sim_user(&sim, &format!("person{i:02}"), "Sales"))
        .collect();
    let w1 = worker(&t, "w1");
    let w2 = worker(&t, "w2");
    worker::sync::sync_platform(&w1, p, "Contoso")
        .await
        .unwrap();
    for (i, person) in people.iter().enumerate() {
        let e164 = format!("+4420712300{i:02}");
        number_on(&t, &sim, &e164, p);
        assign(&t, &e164, person, false);
    }
    let jobs = run_until_done(&t, &[w1, w2], Duration::from_secs(60)).await;
    assert!(
        jobs.iter().all(|j| j.state == JobState::Succeeded),
        "{jobs:?}"
    );
    assert!(jobs.iter().all(|j| j.attempts == 1));
    assert_eq!(
        sim.tenant().stats().assign_calls,
        40,
        "one assignNumber per job"
    );
}

#[actix_web::test]
async fn a_reassign_is_one_assign_to_the_new_target_and_an_unassign_frees_the_number() {
    let t = store::testing::TestDb::new();
    let sim = sim(SimConfig::default()).await;
    let p = teams_platform(&t, &sim, "Contoso");
    let (alice, bob) = (
        sim_user(&sim, "alice", "Sales"),
        sim_user(&sim, "bob", "Sales"),
    );
    let w = worker(&t, "w1");
    worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    number_on(&t, &sim, "+442071230001", p);
    assign(&t, "+442071230001", &alice, false);
    run_until_done(&t, std::slice::from_ref(&w), Duration::from_secs(30)).await;
    assign(&t, "+442071230001", &bob, true);
    run_until_done(&t, std::slice::from_ref(&w), Duration::from_secs(30)).await;
    let stats = sim.tenant().stats();
    assert_eq!((stats.assign_calls, stats.unassign_calls), (2, 0));
    assert_eq!(
        sim.tenant()
            .number("+442071230001")
            .unwrap()
            .assignment_target_id
            .as_deref(),
        Some(bob.as_str())
    );
    let request = store::lifecycle::Request::Unassign {
        quarantine_days: None,
        reason: None,
    };
    t.db.write(|c| {
        store::lifecycle::apply(c, &store::testing::owner(), "+442071230001", request, None)
    })
    .unwrap();
    let jobs = run_until_done(&t, &[w], Duration::from_secs(30)).await;
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded));
    assert_eq!(sim.tenant().stats().unassign_calls, 1);
    assert_eq!(
        sim.tenant()
            .number("+442071230001")
            .unwrap()
            .assignment_target_id,
        None
    );
}

#[actix_web::test]
async fn a_job_a_dead_worker_left_running_is_finished_by_another() {
    let t = store::testing::TestDb::new();
    let sim = sim(SimConfig {
        operation_delay: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await;
    let p = teams_platform(&t, &sim, "Contoso");
    let alice = sim_user(&sim, "alice", "Sales");
    let w = worker(&t, "survivor");
    worker::sync::sync_platform(&w, p, "Contoso").await.unwrap();
    number_on(&t, &sim, "+442071230001", p);
    assign(&t, "+442071230001", &alice, false);
    // The dead worker claimed the job with a short lease and never came back.
    let dead =
        t.db.write(|c| store::jobs::claim(c, "dead", Duration::from_millis(200), 10))
            .unwrap();
    assert_eq!(dead.len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let jobs = run_until_done(&t, &[w], Duration::from_secs(30)).await;
    assert_eq!(jobs[0].state, JobState::Succeeded);
    assert_eq!(jobs[0].attempts, 2);
    assert_eq!(
        sim.tenant()
            .number("+442071230001")
            .unwrap()
            .assignment_target_id
            .as_deref(),
        Some(alice.as_str())
    );
}
