//! The rules engine's runs: a delta run right after each directory sync (the users it
//! changed), full runs queued by a person (`POST /api/v1/rules/evaluate`) or by the
//! schedule setting.
//!
//! Every run reads first (who needs anything, in one pass: `store::rules::runs::plan_*`),
//! then applies the users' decisions in batches of [`BATCH`], a transaction each
//! (`store::rules::runs::apply_users`: the users locked, decided again on fresh facts,
//! their allocations written together through the store's bulk allocation) — several
//! lanes side by side, users of pools that may share a number in one lane in id order
//! (`store::rules::runs::lanes`) — and ends with its report. A batch never waits for a
//! user another transaction holds (a sync writing them): it leaves that user for a
//! transaction of their own, so a run and a sync never wait on each other in a cycle.
//! A run is one change set, audited as `rule:<name>`.
//!
//! Which users changed is recorded by the database itself (triggers on the directory
//! tables fill `rule_pending`), so the sync only has to wake this loop
//! ([`Worker::wake_rules`]); a worker that dies mid-run leaves the users pending and
//! the next run takes them.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use store::rules::runs::{self, RuleRun, RunContext, Tally};
use tokio::{
    sync::{Semaphore, watch},
    task::JoinSet,
};

use crate::Worker;

/// Pending users one delta run takes at most; more wait for the next.
const DELTA_USERS: i64 = 10_000;
/// Pending users forgotten per transaction.
const FORGET_BATCH: usize = 1000;
/// Users a run applies per transaction: large enough that a first run over a hundred
/// thousand users is a few dozen transactions, small enough that one holds the (SQLite)
/// writer for a few hundred milliseconds (2,000 assignments take about 0.3 s; see
/// `bench/rules.sh`).
const BATCH: usize = 2000;

/// Looks for pending users, a due schedule and queued runs whenever woken (after a
/// sync) and otherwise every few polls.
pub async fn run(worker: Arc<Worker>, mut shutdown: watch::Receiver<bool>) {
    let every = worker.config().poll.max(Duration::from_millis(200)) * 4;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(e) = tick(&worker).await {
            tracing::warn!(error = %format!("{e:#}"), "rule evaluation failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = worker.rules_woken() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One round: the pending users' delta runs, a scheduled run if due, then every queued
/// full run this worker can claim.
pub async fn tick(worker: &Arc<Worker>) -> anyhow::Result<()> {
    // Another delta run at once only while the last one took a full batch: a user who
    // keeps failing stays pending, and must not make this a loop without end.
    while let Some((_, taken)) = delta(worker).await? {
        if taken < DELTA_USERS as usize {
            break;
        }
    }
    schedule(worker).await?;
    while let Some(run) = claim(worker).await? {
        full(worker, run).await?;
    }
    Ok(())
}

/// The lease of a run (and of the delta runs' turn).
fn lease(worker: &Worker) -> Duration {
    worker.config().lease
}

/// Evaluates up to [`DELTA_USERS`] pending users as one delta run; the run's id and how
/// many users it took, or `None` when nobody was pending (or another worker has the turn).
pub async fn delta(worker: &Arc<Worker>) -> anyhow::Result<Option<(i64, usize)>> {
    let (holder, ttl) = (worker.config().holder.clone(), lease(worker));
    let h = holder.clone();
    let Some((run, pending)) = worker
        .db(move |db| db.write(|c| runs::start_delta(c, &h, ttl, DELTA_USERS)))
        .await?
    else {
        return Ok(None);
    };
    let (id, taken) = (run.id, pending.len());
    let result = delta_steps(worker, &run, pending).await;
    let h = holder.clone();
    worker
        .db(move |db| db.write(|c| runs::release_delta(c, &h)))
        .await?;
    result.map(|()| Some((id, taken)))
}

async fn delta_steps(
    worker: &Arc<Worker>,
    run: &RuleRun,
    pending: Vec<(String, i64)>,
) -> anyhow::Result<()> {
    let outcome: anyhow::Result<(Vec<domain::rules::Rule>, Tally)> = async {
        let (rules, plan) = worker
            .db(move |db| {
                db.read(|c| {
                    let rules = store::rules::load(c)?;
                    let plan = runs::plan_delta(c, &rules, &pending)?;
                    Ok((rules, plan))
                })
            })
            .await?;
        let mut tally = Tally {
            users_evaluated: (plan.forget.len() + plan.act_on.len()) as i64,
            ..Tally::default()
        };
        for (rule, n) in &plan.matched {
            tally.per_rule.entry(*rule).or_default()[0] += n;
        }
        for chunk in plan.forget.chunks(FORGET_BATCH) {
            let chunk = chunk.to_vec();
            worker
                .db(move |db| db.write(|c| runs::forget(c, &chunk)))
                .await?;
        }
        let ctx = Arc::new(RunContext::new(run, &rules));
        let rules = Arc::new(rules);
        tally.merge(apply_all(worker, run, ctx, rules.clone(), plan.act_on, true).await?);
        Ok((Arc::unwrap_or_clone(rules), tally))
    }
    .await;
    finish(worker, run, outcome).await
}

/// Applies a run's users: lanes side by side (at most the worker's concurrency), each
/// lane's users one after another in id order (`runs::lanes`: users drawing from pools
/// that may share a number stay in one lane, so they get the numbers a preview shows),
/// while a task renews the run's lease. Users who only lose numbers draw from no pool
/// and are spread over lanes of their own.
async fn apply_all(
    worker: &Arc<Worker>,
    run: &RuleRun,
    ctx: Arc<RunContext>,
    rules: Arc<Vec<domain::rules::Rule>>,
    acts: Vec<runs::Act>,
    delta: bool,
) -> anyhow::Result<Tally> {
    let lanes = runs::lanes(&rules);
    let width = worker.config().concurrency.max(1);
    let mut groups: BTreeMap<(bool, i64), Vec<runs::Act>> = BTreeMap::new();
    for (i, act) in acts.into_iter().enumerate() {
        let key = match act.allocates_from.and_then(|r| lanes.get(&r)) {
            Some(lane) => (false, *lane),
            None => (true, (i % width) as i64),
        };
        groups.entry(key).or_default().push(act);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let renew = {
        let (worker, stop, id) = (worker.clone(), stop.clone(), run.id);
        let (holder, ttl) = (worker.config().holder.clone(), lease(&worker));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let h = holder.clone();
                let ours = worker
                    .db(move |db| {
                        db.write(|c| {
                            if delta {
                                runs::renew_delta(c, id, &h, ttl)
                            } else {
                                runs::renew(c, id, &h, ttl)
                            }
                        })
                    })
                    .await;
                if !matches!(ours, Ok(true)) {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        })
    };
    let slots = Arc::new(Semaphore::new(width));
    let mut set = JoinSet::new();
    for (_, group) in groups {
        let (worker, ctx, rules, stop, slots) = (
            worker.clone(),
            ctx.clone(),
            rules.clone(),
            stop.clone(),
            slots.clone(),
        );
        set.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let mut tally = Tally::default();
            for batch in group.chunks(BATCH) {
                anyhow::ensure!(
                    !stop.load(Ordering::Relaxed),
                    "another worker took the run over"
                );
                apply_batch(&worker, &ctx, &rules, batch, delta, &mut tally).await?;
            }
            Ok::<Tally, anyhow::Error>(tally)
        });
    }
    let mut tally = Tally::default();
    let mut failure = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(t)) => tally.merge(t),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(anyhow::anyhow!("a lane of the run stopped: {e}")),
        }
    }
    renew.abort();
    match failure {
        Some(e) => Err(e),
        None => Ok(tally),
    }
}

/// Applies a batch of a lane's users (in id order) in one transaction
/// (`runs::apply_users`), adding the outcomes to the tally. Users another transaction
/// held, and every user of a batch whose transaction failed, are then applied one by
/// one, so one user's trouble stays that user's.
async fn apply_batch(
    worker: &Arc<Worker>,
    ctx: &Arc<RunContext>,
    rules: &Arc<Vec<domain::rules::Rule>>,
    batch: &[runs::Act],
    count_matched: bool,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let users: Vec<(String, Option<i64>)> =
        batch.iter().map(|a| (a.user.clone(), a.stamp)).collect();
    let (c2, r2, u2) = (ctx.clone(), rules.clone(), users.clone());
    let alone: Vec<(String, Option<i64>)> = match worker
        .db(move |db| db.write(|c| runs::apply_users(c, &c2, &r2, &u2)))
        .await
    {
        Ok(outcomes) => users
            .into_iter()
            .zip(outcomes)
            .filter_map(|(user, outcome)| {
                if outcome.busy {
                    Some(user)
                } else {
                    tally.add(outcome, count_matched);
                    None
                }
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), users = users.len(), "applying rules to a batch of users failed; applying them one by one");
            users
        }
    };
    for (user, stamp) in alone {
        apply(worker, ctx, rules, user, stamp, count_matched, tally).await?;
    }
    Ok(())
}

/// Applies one user's decision in a transaction of its own, adding the outcome (or the
/// failure) to the tally.
async fn apply(
    worker: &Arc<Worker>,
    ctx: &Arc<RunContext>,
    rules: &Arc<Vec<domain::rules::Rule>>,
    user: String,
    stamp: Option<i64>,
    count_matched: bool,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let (c2, r2, u2) = (ctx.clone(), rules.clone(), user.clone());
    match worker
        .db(move |db| db.write(|c| runs::apply_user(c, &c2, &r2, &u2, stamp)))
        .await
    {
        Ok(outcome) => tally.add(outcome, count_matched),
        Err(e) => {
            tracing::warn!(user.id = %user, error = %format!("{e:#}"), "applying rules to a user failed");
            tally.failed(&user, &format!("{e:#}"));
        }
    }
    Ok(())
}

/// Writes a run's end: its report, or the error that stopped it.
async fn finish(
    worker: &Arc<Worker>,
    run: &RuleRun,
    outcome: anyhow::Result<(Vec<domain::rules::Rule>, Tally)>,
) -> anyhow::Result<()> {
    let holder = worker.config().holder.clone();
    let id = run.id;
    let (rules, tally, error) = match outcome {
        Ok((rules, tally)) => (rules, tally, None),
        Err(e) => (Vec::new(), Tally::default(), Some(format!("{e:#}"))),
    };
    let err = error.clone();
    let (r2, t2) = (rules, tally.clone());
    let kept = worker
        .db(move |db| db.write(|c| runs::finish(c, id, &holder, &r2, &t2, err.as_deref())))
        .await?;
    let took = run
        .started_at
        .map(|at| (store::now() - at).to_std().unwrap_or_default())
        .unwrap_or_default();
    worker
        .metrics()
        .rule_run_finished(run.trigger.as_str(), error.is_none(), took, tally.totals);
    if !kept {
        tracing::warn!(
            rule_run.id = id,
            "a rule run was taken over by another worker; its report here is dropped"
        );
    }
    match error {
        None => tracing::info!(
            rule_run.id = id,
            rule_run.trigger = run.trigger.as_str(),
            rule_run.users = tally.users_evaluated,
            rule_run.assigned = tally.totals[0],
            rule_run.unassigned = tally.totals[1],
            rule_run.skipped = tally.totals[2],
            rule_run.errors = tally.totals[3],
            "rule run finished"
        ),
        Some(e) => tracing::warn!(rule_run.id = id, error = %e, "rule run failed"),
    }
    Ok(())
}

/// Queues a scheduled full run when the schedule setting says one is due.
async fn schedule(worker: &Arc<Worker>) -> anyhow::Result<()> {
    let Some(minutes) = worker
        .db(|db| db.read(|c| Ok(store::settings::lifecycle(c)?.rules_evaluation_minutes)))
        .await?
    else {
        return Ok(());
    };
    let holder = worker.config().holder.clone();
    let interval = Duration::from_secs(minutes.max(1) as u64 * 60);
    worker
        .db(move |db| db.write(|c| runs::enqueue_scheduled(c, &holder, interval)))
        .await?;
    Ok(())
}

async fn claim(worker: &Arc<Worker>) -> anyhow::Result<Option<RuleRun>> {
    let (holder, ttl) = (worker.config().holder.clone(), lease(worker));
    worker
        .db(move |db| db.write(|c| runs::claim(c, &holder, ttl)))
        .await
}

/// Carries out a claimed full run: everyone is read and decided, and each user with
/// something to do is applied.
pub async fn full(worker: &Arc<Worker>, run: RuleRun) -> anyhow::Result<()> {
    let outcome: anyhow::Result<(Vec<domain::rules::Rule>, Tally)> = async {
        let (rules, plan) = worker
            .db(|db| {
                db.read(|c| {
                    let rules = store::rules::load(c)?;
                    let plan = runs::plan_full(c, &rules)?;
                    Ok((rules, plan))
                })
            })
            .await?;
        let mut tally = Tally {
            users_evaluated: plan.users_evaluated,
            ..Tally::default()
        };
        for (rule, n) in &plan.matched {
            tally.per_rule.entry(*rule).or_default()[0] += n;
        }
        let ctx = Arc::new(RunContext::new(&run, &rules));
        let rules = Arc::new(rules);
        tally.merge(apply_all(worker, &run, ctx, rules.clone(), plan.act_on, false).await?);
        Ok((Arc::unwrap_or_clone(rules), tally))
    }
    .await;
    finish(worker, &run, outcome).await
}
