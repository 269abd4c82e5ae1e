//! Provisioning jobs: written with the change that needs them, claimed by one worker at
//! a time, finished exactly once.

use std::time::Duration;

use domain::{Scope, TargetKind};
use store::{
    jobs::{self, Finish, JobAction, JobFilter, JobState},
    lifecycle::{Request, Target},
    testing::{TestDb, owner},
};

use super::{n, new_number};

fn user(t: &TestDb, id: &str) -> Target {
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
    Target {
        kind: TargetKind::User,
        id: id.into(),
        name: format!("{id}@example.com"),
    }
}

fn teams_number(t: &TestDb, e164: &str, platform: i64) {
    let mut new = new_number(e164);
    new.platform_id = Some(platform);
    new.number_type = Some(domain::NumberType::DirectRouting);
    t.db.write(|c| store::numbers::create(c, &owner(), new))
        .unwrap();
}

fn assign(t: &TestDb, e164: &str, target: &Target, reassign: bool) {
    let request = Request::Assign {
        target: target.clone(),
        override_reservation: false,
        override_quarantine: false,
        reassign,
    };
    t.db.write(|c| store::lifecycle::apply(c, &owner(), e164, request, None))
        .unwrap();
}

fn unassign(t: &TestDb, e164: &str) {
    let request = Request::Unassign {
        quarantine_days: Some(0),
        reason: None,
    };
    t.db.write(|c| store::lifecycle::apply(c, &owner(), e164, request, None))
        .unwrap();
}

fn all_jobs(t: &TestDb) -> Vec<jobs::Job> {
    t.db.read(|c| {
        jobs::list(
            c,
            &Scope::unrestricted(),
            &JobFilter::default(),
            None,
            Some(1000),
        )
    })
    .unwrap()
    .items
}

fn claim(t: &TestDb, holder: &str, lease: Duration) -> Vec<jobs::Claimed> {
    t.db.write(|c| jobs::claim(c, holder, lease, 100)).unwrap()
}

fn provisioning(t: &TestDb, e164: &str) -> Option<(domain::ProvisioningState, Option<String>)> {
    t.db.read(|c| store::numbers::get(c, &Scope::unrestricted(), e164))
        .unwrap()
        .assignment
        .map(|a| (a.provisioning_state, a.provisioning_error))
}

#[test]
fn assigning_a_teams_number_writes_one_queued_job_in_the_same_change() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    teams_number(&t, "+442071230001", p);
    let alice = user(&t, "alice");
    assign(&t, "+442071230001", &alice, false);
    let jobs = all_jobs(&t);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].action, JobAction::Assign);
    assert_eq!(jobs[0].state, JobState::Queued);
    assert_eq!(jobs[0].target_id.as_deref(), Some("alice"));
    assert_eq!(
        provisioning(&t, "+442071230001").unwrap().0,
        domain::ProvisioningState::Pending
    );
}

#[test]
fn numbers_without_a_provisioned_platform_get_no_job() {
    let t = TestDb::new();
    let none = store::testing::platform(&t.db, "Inventory only", "none");
    teams_number(&t, "+442071230001", none);
    t.db.write(|c| store::numbers::create(c, &owner(), new_number("+442071230002")))
        .unwrap();
    let alice = user(&t, "alice");
    assign(&t, "+442071230001", &alice, false);
    assign(&t, "+442071230002", &alice, false);
    assert!(all_jobs(&t).is_empty());
}

#[test]
fn a_later_change_supersedes_the_jobs_that_have_not_started() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    teams_number(&t, "+442071230001", p);
    let (alice, bob) = (user(&t, "alice"), user(&t, "bob"));
    assign(&t, "+442071230001", &alice, false);
    assign(&t, "+442071230001", &bob, true);
    unassign(&t, "+442071230001");
    let jobs = all_jobs(&t);
    let states: Vec<_> = jobs.iter().map(|j| (j.action, j.state)).collect();
    assert_eq!(
        states,
        vec![
            (JobAction::Unassign, JobState::Queued),
            (JobAction::Assign, JobState::Superseded),
            (JobAction::Assign, JobState::Superseded),
        ]
    );
    assert_eq!(jobs[1].previous_target_id.as_deref(), Some("alice"));
}

#[test]
fn a_job_is_claimed_by_one_worker_and_finished_once() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    teams_number(&t, "+442071230001", p);
    let alice = user(&t, "alice");
    assign(&t, "+442071230001", &alice, false);
    let first = claim(&t, "w1", Duration::from_secs(60));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].platform_kind, "teams");
    assert_eq!(first[0].platform_target_id.as_deref(), Some("alice"));
    assert_eq!(
        first[0].number_type,
        Some(domain::NumberType::DirectRouting)
    );
    assert!(claim(&t, "w2", Duration::from_secs(60)).is_empty());
    let id = first[0].job.id;
    // Only the holder may finish it.
    assert_eq!(
        t.db.write(|c| jobs::succeed(c, id, "w2")).unwrap(),
        Finish::LostLease
    );
    assert_eq!(
        t.db.write(|c| jobs::succeed(c, id, "w1")).unwrap(),
        Finish::Done(JobState::Succeeded)
    );
    assert_eq!(
        t.db.write(|c| jobs::succeed(c, id, "w1")).unwrap(),
        Finish::LostLease
    );
    assert!(claim(&t, "w2", Duration::from_secs(60)).is_empty());
    assert_eq!(
        provisioning(&t, "+442071230001").unwrap().0,
        domain::ProvisioningState::Provisioned
    );
    assert_eq!(super::audit_count(&t, "number.provisioned"), 1);
}

#[test]
fn a_job_whose_worker_died_is_taken_over_when_its_lease_ends() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    teams_number(&t, "+442071230001", p);
    assign(&t, "+442071230001", &user(&t, "alice"), false);
    let dead = claim(&t, "dead", Duration::from_millis(1));
    let id = dead[0].job.id;
    t.db.write(|c| jobs::record_operation(c, id, "dead", Some("https://op/1")))
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let taken = claim(&t, "alive", Duration::from_secs(60));
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].job.attempts, 2);
    // The new holder polls the operation the dead one started instead of asking again.
    assert_eq!(taken[0].job.operation.as_deref(), Some("https://op/1"));
    // The stalled worker waking up cannot finish it any more.
    assert_eq!(
        t.db.write(|c| jobs::fail(c, id, "dead", "late", true))
            .unwrap(),
        Finish::LostLease
    );
    assert_eq!(
        t.db.write(|c| jobs::succeed(c, id, "alive")).unwrap(),
        Finish::Done(JobState::Succeeded)
    );
}

#[test]
fn a_job_waits_while_an_earlier_job_of_its_number_runs() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    teams_number(&t, "+442071230001", p);
    assign(&t, "+442071230001", &user(&t, "alice"), false);
    let running = claim(&t, "w1", Duration::from_secs(60));
    assign(&t, "+442071230001", &user(&t, "bob"), true);
    assert!(claim(&t, "w2", Duration::from_secs(60)).is_empty());
    t.db.write(|c| jobs::succeed(c, running[0].job.id, "w1"))
        .unwrap();
    // The first job finished after the number moved on: it does not mark the number.
    assert_eq!(
        provisioning(&t, "+442071230001").unwrap().0,
        domain::ProvisioningState::Pending
    );
    let next = claim(&t, "w2", Duration::from_secs(60));
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].job.target_id.as_deref(), Some("bob"));
}

#[test]
fn failed_attempts_back_off_then_fail_for_good_and_a_person_may_retry() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    teams_number(&t, "+442071230001", p);
    assign(&t, "+442071230001", &user(&t, "alice"), false);
    let id = claim(&t, "w", Duration::from_secs(60))[0].job.id;
    assert_eq!(
        t.db.write(|c| jobs::fail(c, id, "w", "Service is unavailable", true))
            .unwrap(),
        Finish::Done(JobState::Queued)
    );
    // Backing off: not claimable now.
    assert!(claim(&t, "w", Duration::from_secs(60)).is_empty());
    let job =
        t.db.read(|c| jobs::get(c, &Scope::unrestricted(), id))
            .unwrap();
    assert!(job.run_after > store::now());
    assert_eq!(
        provisioning(&t, "+442071230001").unwrap(),
        (
            domain::ProvisioningState::Pending,
            Some("Service is unavailable".into())
        )
    );
    // A permanent error fails it at once (it must be claimed first: make it due).
    let retried = t.db.write(|c| {
        diesel::RunQueryDsl::execute(
            diesel::sql_query("UPDATE provisioning_jobs SET run_after = created_at"),
            c,
        )?;
        jobs::claim(c, "w", Duration::from_secs(60), 10)
    });
    assert_eq!(retried.unwrap().len(), 1);
    assert_eq!(
        t.db.write(|c| jobs::fail(c, id, "w", "Telephone Number is not found", false))
            .unwrap(),
        Finish::Done(JobState::Failed)
    );
    assert_eq!(
        provisioning(&t, "+442071230001").unwrap().0,
        domain::ProvisioningState::Failed
    );
    let err =
        t.db.write(|c| jobs::retry(c, &owner(), id + 1000))
            .unwrap_err();
    assert!(matches!(err, store::StoreError::NotFound { .. }), "{err:?}");
    let job = t.db.write(|c| jobs::retry(c, &owner(), id)).unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
    assert_eq!(
        provisioning(&t, "+442071230001").unwrap().0,
        domain::ProvisioningState::Pending
    );
    let again = t.db.write(|c| jobs::retry(c, &owner(), id)).unwrap_err();
    assert!(format!("{again:?}").contains("job_not_failed"), "{again:?}");
}

#[test]
fn jobs_of_numbers_outside_the_scope_are_absent() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let site = super::location(&t, "London");
    let mut new = new_number("+442071230001");
    new.platform_id = Some(p);
    new.location_id = Some(site);
    t.db.write(|c| store::numbers::create(c, &owner(), new))
        .unwrap();
    assign(&t, "+442071230001", &user(&t, "alice"), false);
    let other = Scope {
        locations: vec!["999".into()],
        tags: vec![],
    };
    let listed =
        t.db.read(|c| jobs::list(c, &other, &JobFilter::default(), None, None))
            .unwrap();
    assert!(listed.items.is_empty());
    let id = all_jobs(&t)[0].id;
    assert!(t.db.read(|c| jobs::get(c, &other, id)).is_err());
    let _ = n("+442071230001");
}

/// Review finding: a job that fails after a later change of its number was written (it
/// was running, so it was not superseded then) must not run again: retried with backoff
/// it would run after the newer job and put the old target back on the platform, while
/// the inventory (and the number's provisioning state) says the new one.
#[test]
fn a_running_job_overtaken_by_a_later_change_is_superseded_when_it_fails() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    teams_number(&t, "+442071230001", p);
    teams_number(&t, "+442071230002", p);
    let (alice, bob) = (user(&t, "alice"), user(&t, "bob"));
    for (e164, transient) in [("+442071230001", true), ("+442071230002", false)] {
        assign(&t, e164, &alice, false);
        let old = claim(&t, "w", Duration::from_secs(60));
        assert_eq!(old.len(), 1);
        let old = old[0].job.id;
        // Reassigned while the first job runs on Teams.
        assign(&t, e164, &bob, true);
        let finish =
            t.db.write(|c| jobs::fail(c, old, "w", "Service is unavailable", transient))
                .unwrap();
        assert_eq!(finish, Finish::Done(JobState::Superseded), "{e164}");
        let job =
            t.db.read(|c| jobs::get(c, &Scope::unrestricted(), old))
                .unwrap();
        assert_eq!(job.state, JobState::Superseded);
        let again = t.db.write(|c| jobs::retry(c, &owner(), old)).unwrap_err();
        assert!(format!("{again:?}").contains("job_not_failed"), "{again:?}");
        // Only the job to bob runs, and the number waits for it.
        let next = claim(&t, "w", Duration::from_secs(60));
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].job.target_id.as_deref(), Some("bob"));
        assert_eq!(
            provisioning(&t, e164).unwrap().0,
            domain::ProvisioningState::Pending
        );
        t.db.write(|c| jobs::succeed(c, next[0].job.id, "w"))
            .unwrap();
    }
}

/// Review finding: a platform that no number refers to any more could be deleted while
/// a job of it was still queued (an unassign, then the number moved to another
/// platform). The worker's claim then failed on the missing platform — in the claim's
/// transaction, every poll, so no job of any platform ran again.
#[test]
fn deleting_a_platform_with_jobs_to_do_is_refused_and_an_orphan_job_does_not_stop_the_queue() {
    let t = TestDb::new();
    let p = store::testing::platform(&t.db, "Teams", "teams");
    let other = store::testing::platform(&t.db, "Teams 2", "teams");
    teams_number(&t, "+442071230001", p);
    teams_number(&t, "+442071230002", other);
    assign(&t, "+442071230001", &user(&t, "alice"), false);
    let first = claim(&t, "w", Duration::from_secs(60));
    t.db.write(|c| jobs::succeed(c, first[0].job.id, "w"))
        .unwrap();
    unassign(&t, "+442071230001");
    let moved = store::numbers::NumberPatch {
        platform_id: Some(None),
        ..Default::default()
    };
    t.db.write(|c| store::numbers::patch(c, &owner(), "+442071230001", moved, None))
        .unwrap();
    let err =
        t.db.write(|c| store::platforms::delete(c, &owner(), p, None))
            .unwrap_err();
    assert!(format!("{err:?}").contains("platform_in_use"), "{err:?}");
    // However it came about (an older database, a manual delete), a job whose platform
    // is gone must not block the others.
    t.db.write(|c| {
        Ok(diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("DELETE FROM platforms WHERE id = {p}")),
            c,
        )?)
    })
    .unwrap();
    assign(&t, "+442071230002", &user(&t, "bob"), false);
    let claimed = claim(&t, "w", Duration::from_secs(60));
    assert!(
        claimed
            .iter()
            .any(|c| c.job.target_id.as_deref() == Some("bob")),
        "{claimed:?}"
    );
}
