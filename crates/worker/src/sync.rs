//! Directory sync and the Teams number listing, per Teams platform.
//!
//! A run reads users, then groups (memberships name users, so users come first), from
//! the delta links of the last finished run — or everything, when there are none or
//! Graph says they expired — and finally lists Teams' number assignments into the drift
//! snapshot. Writes go in batches, each its own transaction; the delta links are stored
//! only when the whole run finished, so a run that dies is repeated from the old links
//! (delta rounds are idempotent: an object is stored as Entra reports it).

use std::{sync::Arc, time::Instant};

use anyhow::Context;
use domain::{Permit, Source};
use store::{
    directory::{DirectoryUserInput, GroupInput},
    sync::{Outcome, TeamsNumber},
};
use tokio::sync::watch;

use crate::Worker;

/// Users written per transaction.
const USERS_PER_WRITE: usize = 5000;

/// Looks for due platforms every few seconds and syncs them, one at a time.
pub async fn run(worker: Arc<Worker>, mut shutdown: watch::Receiver<bool>) {
    let every = worker
        .config()
        .poll
        .max(std::time::Duration::from_millis(200))
        * 4;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(e) = sync_due(&worker).await {
            tracing::warn!(error = %format!("{e:#}"), "looking for due syncs failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Syncs every platform that is due and whose lease this worker gets.
pub async fn sync_due(worker: &Arc<Worker>) -> anyhow::Result<()> {
    let due = worker
        .db(|db| db.read(|c| store::sync::due(c, store::now())))
        .await?;
    for platform in due {
        let (holder, id) = (worker.config().holder.clone(), platform.platform_id);
        // Renewed between the run's steps (keep_lease).
        let ttl = sync_lease(worker);
        let ours = worker
            .db(move |db| db.write(|c| store::sync::take_lease(c, id, &holder, ttl)))
            .await?;
        if !ours {
            continue;
        }
        let outcome = sync_platform(worker, id, &platform.name).await;
        // The users it changed are pending in the database: evaluate them now.
        worker.wake_rules();
        let holder = worker.config().holder.clone();
        worker
            .db(move |db| db.write(|c| store::sync::release_lease(c, id, &holder)))
            .await?;
        outcome?;
    }
    Ok(())
}

/// One run for one platform; the outcome is stored on the platform either way.
pub async fn sync_platform(
    worker: &Arc<Worker>,
    platform_id: i64,
    name: &str,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let start = worker
        .db(move |db| db.write(|c| store::sync::begin(c, platform_id)))
        .await?;
    let permit = Permit::system(&format!("platform:{name}"), Source::Sync);
    let result = run_steps(worker, platform_id, &permit, start).await;
    let mut outcome = match result {
        Ok(o) => o,
        Err(e) => Outcome {
            error: Some(format!("{e:#}")),
            ..Outcome::default()
        },
    };
    outcome.duration_ms = started.elapsed().as_millis() as i64;
    let stored = outcome.clone();
    let holder = worker.config().holder.clone();
    worker
        .db(move |db| {
            db.write(|c| {
                store::sync::finish(c, platform_id, &stored)?;
                // The run is over: another worker may take the next one at once.
                store::sync::release_lease(c, platform_id, &holder)
            })
        })
        .await?;
    let objects = (outcome.users_changed + outcome.users_removed + outcome.groups_changed) as u64;
    worker
        .metrics()
        .sync_finished(outcome.error.is_none(), started.elapsed(), objects);
    match &outcome.error {
        None => tracing::info!(
            platform.id = platform_id,
            sync.full = outcome.full,
            sync.users_changed = outcome.users_changed,
            sync.users_removed = outcome.users_removed,
            sync.groups_changed = outcome.groups_changed,
            duration_ms = outcome.duration_ms,
            "directory sync finished"
        ),
        Some(e) => tracing::warn!(platform.id = platform_id, error = %e, "directory sync failed"),
    }
    Ok(outcome)
}

async fn run_steps(
    worker: &Arc<Worker>,
    platform_id: i64,
    permit: &Permit,
    start: store::sync::Start,
) -> anyhow::Result<Outcome> {
    let client = worker.graph(platform_id).await?;
    let mut outcome = Outcome::default();

    // Users: from the last link, or everything when it expired.
    let (users, full) = match client.users_delta(start.users_delta_link.as_deref()).await {
        Err(graph::GraphError::DeltaExpired) if start.users_delta_link.is_some() => {
            tracing::info!(
                platform.id = platform_id,
                "users delta link expired: full sync"
            );
            (
                client.users_delta(None).await.context("reading users")?,
                true,
            )
        }
        other => (
            other.context("reading users")?,
            start.users_delta_link.is_none(),
        ),
    };
    // Groups: a full user sync re-reads all groups too (memberships are replaced).
    let groups_link = if full {
        None
    } else {
        start.groups_delta_link.clone()
    };
    let (groups, groups_full) = match client.groups_delta(groups_link.as_deref()).await {
        Err(graph::GraphError::DeltaExpired) if groups_link.is_some() => (
            client.groups_delta(None).await.context("reading groups")?,
            true,
        ),
        other => (other.context("reading groups")?, groups_link.is_none()),
    };
    outcome.full = full || groups_full;

    let mut upserts = Vec::new();
    let mut removed = Vec::new();
    for change in users.changes {
        match change {
            graph::UserChange::Upsert(u) => {
                if let Some(input) = user_input(u) {
                    upserts.push(input);
                }
            }
            graph::UserChange::Removed { id, .. } => removed.push(id),
        }
    }
    while !upserts.is_empty() {
        keep_lease(worker, platform_id).await?;
        let rest = upserts.split_off(upserts.len().min(USERS_PER_WRITE));
        let batch = std::mem::replace(&mut upserts, rest);
        let p = permit.clone();
        outcome.users_changed += worker
            .db(move |db| db.write(|c| store::sync::upsert_users(c, &p, platform_id, batch)))
            .await?;
    }
    let p = permit.clone();
    outcome.users_removed += worker
        .db(move |db| db.write(|c| store::sync::remove_users(c, &p, &removed)))
        .await?;

    let p = permit.clone();
    keep_lease(worker, platform_id).await?;
    let (changed, members) = worker
        .db(move |db| {
            db.write(|c| {
                let mut changed = 0;
                let mut members = 0;
                let mut removed_groups = Vec::new();
                for change in groups.changes {
                    match change {
                        graph::GroupChange::Upsert {
                            group,
                            members_added,
                            members_removed,
                        } => {
                            let id = group.id.clone();
                            changed += store::sync::upsert_groups(
                                c,
                                &p,
                                platform_id,
                                vec![GroupInput {
                                    display_name: group
                                        .display_name
                                        .clone()
                                        .filter(|d| !d.trim().is_empty())
                                        .unwrap_or_else(|| id.clone()),
                                    id: group.id,
                                    mail: group.mail,
                                    description: group.description,
                                }],
                            )?;
                            members += if groups_full {
                                // A full read lists every member: replace the set.
                                store::directory::set_group_members(c, &p, &id, &members_added)?
                                    as i64
                            } else {
                                store::sync::change_members(
                                    c,
                                    &p,
                                    &id,
                                    &members_added,
                                    &members_removed,
                                )?
                            };
                        }
                        graph::GroupChange::Removed { id, .. } => removed_groups.push(id),
                    }
                }
                changed += store::sync::remove_groups(c, &p, &removed_groups)?;
                Ok((changed, members))
            })
        })
        .await?;
    outcome.groups_changed = changed;
    outcome.memberships = members;

    if full {
        let (p, since) = (permit.clone(), start.started_at);
        let (users_flagged, groups_flagged) = worker
            .db(move |db| db.write(|c| store::sync::sweep(c, &p, platform_id, since)))
            .await?;
        outcome.users_removed += users_flagged;
        outcome.groups_changed += groups_flagged;
    }

    keep_lease(worker, platform_id).await?;
    // Teams' numbers, for drift.
    let listed = client
        .number_assignments()
        .await
        .context("listing Teams number assignments")?;
    let numbers: Vec<TeamsNumber> = listed.into_iter().map(teams_number).collect();
    worker
        .db(move |db| db.write(|c| store::sync::replace_teams_numbers(c, platform_id, &numbers)))
        .await?;

    outcome.users_delta_link = Some(users.delta_link);
    outcome.groups_delta_link = Some(groups.delta_link);
    Ok(outcome)
}

/// The sync lease's length: long enough for a large first sync's longest step.
fn sync_lease(worker: &Worker) -> std::time::Duration {
    worker.config().lease * 10
}

/// Renews this worker's sync lease between steps; an error when another worker has it
/// (this one stalled past the lease), so two never write one platform's directory at once.
async fn keep_lease(worker: &Arc<Worker>, platform_id: i64) -> anyhow::Result<()> {
    let (holder, ttl) = (worker.config().holder.clone(), sync_lease(worker));
    let ours = worker
        .db(move |db| db.write(|c| store::sync::take_lease(c, platform_id, &holder, ttl)))
        .await?;
    anyhow::ensure!(ours, "another worker took this platform's sync over");
    Ok(())
}

/// A Graph user in the directory's words; `None` for a user without a UPN (Graph always
/// sends one for a full object; a partial one cannot be stored).
fn user_input(u: graph::User) -> Option<DirectoryUserInput> {
    let upn = u.user_principal_name.filter(|x| !x.trim().is_empty())?;
    Some(DirectoryUserInput {
        display_name: u.display_name.unwrap_or_else(|| upn.clone()),
        id: u.id,
        upn,
        mail: u.mail,
        department: u.department,
        job_title: u.job_title,
        office_location: u.office_location,
        usage_location: u.usage_location,
        city: u.city,
        country: u.country,
        // Graph returns accountEnabled only when selected; absent means it was not sent.
        account_enabled: u.account_enabled.unwrap_or(true),
    })
}

fn teams_number(n: graph::NumberAssignment) -> TeamsNumber {
    TeamsNumber {
        e164: n.telephone_number,
        number_type: n.number_type.map(|t| {
            match t {
                graph::NumberType::DirectRouting => "direct_routing",
                graph::NumberType::CallingPlan => "calling_plan",
                graph::NumberType::OperatorConnect => "operator_connect",
            }
            .to_string()
        }),
        assignment_target_id: n.assignment_target_id.filter(|t| !t.is_empty()),
        assignment_status: n.assignment_status,
        activation_state: n.activation_state,
        location_id: n.location_id,
        iso_country_code: n.iso_country_code,
    }
}
