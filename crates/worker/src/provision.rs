//! Carrying out provisioning jobs.
//!
//! A claimed job is this worker's until its lease ends; a renewal task extends the lease
//! while the job waits on Teams, and every write back is conditional on still holding it
//! (`store::jobs`), so a worker that stalled past its lease cannot overwrite the outcome
//! of the worker that took the job over. Teams' operation location is stored on the job
//! before it is polled: a worker that takes over a job polls that operation instead of
//! asking Teams a second time.
//!
//! Failures are sorted once, here: throttling, timeouts, 5xx and failed operations are
//! transient (the job is retried with backoff, up to `store::jobs::MAX_ATTEMPTS`); a 4xx
//! answer or a job that cannot be expressed (no number type, no Teams object id for the
//! target) fails for good and waits for a person's retry.

use std::{sync::Arc, time::Instant};

use store::jobs::{Claimed, Finish, JobAction, JobState};
use tokio::sync::Semaphore;

use crate::Worker;

/// What an attempt came to.
pub(crate) enum Outcome {
    /// The platform did it.
    Done,
    /// It did not; `transient` when trying again may help.
    Failed { error: String, transient: bool },
}

impl Outcome {
    pub(crate) fn permanent(error: impl Into<String>) -> Outcome {
        Outcome::Failed {
            error: error.into(),
            transient: false,
        }
    }
}

/// Claims as many jobs as there are free slots and starts each on its own task; returns
/// how many were started.
pub async fn claim_and_start(
    worker: &Arc<Worker>,
    slots: &Arc<Semaphore>,
) -> anyhow::Result<usize> {
    let free = slots.available_permits();
    if free == 0 {
        return Ok(0);
    }
    let holder = worker.config().holder.clone();
    let lease = worker.config().lease;
    let claimed = worker
        .db(move |db| db.write(|c| store::jobs::claim(c, &holder, lease, free as i64)))
        .await?;
    let started = claimed.len();
    for job in claimed {
        let permit = slots.clone().acquire_owned().await?;
        let worker = worker.clone();
        tokio::spawn(async move {
            run_one(&worker, job).await;
            drop(permit);
            // A slot is free: claim the next job now rather than after the poll interval
            // (without this, a worker ran at most concurrency / poll jobs a second).
            worker.wake();
        });
    }
    Ok(started)
}

/// Carries out one claimed job and records its outcome.
pub async fn run_one(worker: &Arc<Worker>, claimed: Claimed) {
    let started = Instant::now();
    let id = claimed.job.id;
    let holder = worker.config().holder.clone();
    // Keep the lease while the job waits on the platform.
    let renew = {
        let worker = worker.clone();
        let holder = holder.clone();
        tokio::spawn(async move {
            let every = worker.config().lease / 3;
            loop {
                tokio::time::sleep(every).await;
                let (h, lease) = (holder.clone(), worker.config().lease);
                match worker
                    .db(move |db| db.write(|c| store::jobs::renew(c, id, &h, lease)))
                    .await
                {
                    Ok(true) => {}
                    _ => break,
                }
            }
        })
    };
    let outcome = match claimed.platform_kind.as_str() {
        "teams" => teams(worker, &claimed).await,
        "webhook" => crate::webhook::deliver(worker, &claimed).await,
        "deleted" => Outcome::permanent(format!(
            "platform {} was deleted; nothing carries this job out",
            claimed.job.platform_id
        )),
        other => Outcome::permanent(format!("platform kind {other:?} provisions nothing")),
    };
    renew.abort();
    let finish = match outcome {
        Outcome::Done => {
            let h = holder.clone();
            worker
                .db(move |db| db.write(|c| store::jobs::succeed(c, id, &h)))
                .await
        }
        Outcome::Failed { error, transient } => {
            tracing::info!(job.id = id, job.transient = transient, error = %error, "provisioning attempt failed");
            let h = holder.clone();
            worker
                .db(move |db| db.write(|c| store::jobs::fail(c, id, &h, &error, transient)))
                .await
        }
    };
    match finish {
        Ok(Finish::Done(state)) => {
            worker.metrics().job_finished(state, started.elapsed());
            if state != JobState::Queued {
                tracing::debug!(
                    job.id = id,
                    job.state = state.as_str(),
                    "provisioning job finished"
                );
            }
        }
        Ok(Finish::LostLease) => {
            tracing::warn!(
                job.id = id,
                "provisioning job was taken over by another worker; its outcome here is dropped"
            );
        }
        Err(e) => {
            tracing::warn!(job.id = id, error = %format!("{e:#}"), "recording a provisioning outcome failed")
        }
    }
}

/// Teams: assignNumber (an assign or a reassign: one call to the new target, no gap) or
/// unassignNumber, then the operation polled to its end.
async fn teams(worker: &Arc<Worker>, claimed: &Claimed) -> Outcome {
    let job = &claimed.job;
    let client = match worker.graph(job.platform_id).await {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Failed {
                error: format!("{e:#}"),
                transient: true,
            };
        }
    };
    let Some(number_type) = claimed.number_type.map(teams_type) else {
        return Outcome::permanent(format!(
            "{} has no number type; Teams needs direct_routing, calling_plan or operator_connect",
            job.number
        ));
    };
    let location = match &job.operation {
        // Taken over mid-job: poll what the previous worker started.
        Some(op) => graph::OperationLocation(op.clone()),
        None => {
            let started = match job.action {
                JobAction::Assign => {
                    let Some(target) = claimed.platform_target_id.clone() else {
                        return Outcome::permanent(format!(
                            "{} has no Teams object id (a service needs its resource account's object id as external_id)",
                            job.target_name.as_deref().unwrap_or("the target")
                        ));
                    };
                    client
                        .assign_number(&graph::AssignNumber {
                            telephone_number: job.number.clone(),
                            assignment_target_id: target,
                            number_type,
                            assignment_category: claimed
                                .assignment_category
                                .map(|c| c.as_str().to_string()),
                            location_id: claimed.emergency_location_id.clone(),
                        })
                        .await
                }
                JobAction::Unassign => client.unassign_number(&job.number, number_type).await,
            };
            match started {
                Ok(location) => {
                    let (h, id, op) = (worker.config().holder.clone(), job.id, location.0.clone());
                    let kept = worker
                        .db(move |db| {
                            db.write(|c| store::jobs::record_operation(c, id, &h, Some(&op)))
                        })
                        .await;
                    if !matches!(kept, Ok(true)) {
                        return Outcome::Failed {
                            error: "lost the job's lease while starting the operation".into(),
                            transient: true,
                        };
                    }
                    location
                }
                Err(e) => return graph_failure(e),
            }
        }
    };
    match client.wait_for(&location).await {
        Ok(op) => match op.status {
            graph::OperationStatus::Succeeded | graph::OperationStatus::Skipped => Outcome::Done,
            _ => {
                let detail = op
                    .failure_detail()
                    .unwrap_or_else(|| "Teams reported the operation failed".into());
                // A failed operation is retried with a fresh call (fail() clears it).
                Outcome::Failed {
                    error: detail,
                    transient: true,
                }
            }
        },
        Err(e) => graph_failure(e),
    }
}

fn graph_failure(e: graph::GraphError) -> Outcome {
    let transient = e.is_transient()
        || matches!(e, graph::GraphError::OperationTimedOut { .. })
        || matches!(e, graph::GraphError::Auth { .. });
    Outcome::Failed {
        error: e.to_string(),
        transient,
    }
}

fn teams_type(t: domain::NumberType) -> graph::NumberType {
    match t {
        domain::NumberType::DirectRouting => graph::NumberType::DirectRouting,
        domain::NumberType::CallingPlan => graph::NumberType::CallingPlan,
        domain::NumberType::OperatorConnect => graph::NumberType::OperatorConnect,
    }
}
