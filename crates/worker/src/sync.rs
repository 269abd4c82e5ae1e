//! Directory sync and the Teams number listing, per Teams platform.
//!
//! A run reads users, then groups (memberships name users, so users come first), from
//! the delta links of the last finished run — or everything, when there are none or
//! Graph says they expired — and finally lists Teams' number assignments into the drift
//! snapshot. A round is written as its pages arrive, in batches that are each their own
//! transaction, so the worker holds a few thousand users, not the tenant. The delta links
//! are stored only when the whole run finished, so a run that dies (a Graph error, a
//! hostile endpoint's endless paging, a crash) is repeated from the old links: delta
//! rounds are idempotent, an object is stored as Entra reports it.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    sync::Arc,
    time::Instant,
};

use anyhow::Context;
use domain::{Permit, Source};
use store::{
    directory::{DirectoryUserInput, GroupInput},
    sync::{Outcome, TeamsNumber},
};
use tokio::sync::watch;

use crate::Worker;

/// Users gathered from a round's pages before they are written, in one transaction: the
/// most the worker holds of a round (plus one page).
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
    let run = Run {
        worker,
        client: &client,
        platform_id,
        permit,
    };

    // Users: from the last link, or everything when it expired.
    let stored = start.users_delta_link.as_deref();
    let (users_link, full) = match run.users(stored, &mut outcome).await {
        Err(e) if stored.is_some() && delta_expired(&e) => {
            tracing::info!(
                platform.id = platform_id,
                "users delta link expired: full sync"
            );
            (run.users(None, &mut outcome).await?, true)
        }
        other => (other?, stored.is_none()),
    };
    // Groups: a full user sync re-reads all groups too (memberships are replaced).
    let stored = if full {
        None
    } else {
        start.groups_delta_link.as_deref()
    };
    let (groups_link, groups_full) = match run.groups(stored, stored.is_none(), &mut outcome).await
    {
        Err(e) if stored.is_some() && delta_expired(&e) => {
            (run.groups(None, true, &mut outcome).await?, true)
        }
        other => (other?, stored.is_none()),
    };
    outcome.full = full || groups_full;

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

    // Only now: a run that failed on the way keeps the links it started from, and the
    // next one reads the rounds again (writing an object Entra reports is idempotent).
    outcome.users_delta_link = Some(users_link);
    outcome.groups_delta_link = Some(groups_link);
    Ok(outcome)
}

/// Whether a round failed because its delta link expired (a full round is needed).
fn delta_expired(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<graph::GraphError>(),
        Some(graph::GraphError::DeltaExpired)
    )
}

/// One run's view of its platform: what reading and writing a delta round needs.
struct Run<'a> {
    worker: &'a Arc<Worker>,
    client: &'a graph::Client,
    platform_id: i64,
    permit: &'a Permit,
}

impl Run<'_> {
    /// Reads a users round from `link` (`None`: every user) and writes it as it comes, at
    /// most [`USERS_PER_WRITE`] users a transaction; returns the round's delta link.
    async fn users(&self, link: Option<&str>, outcome: &mut Outcome) -> anyhow::Result<String> {
        let mut round = self.client.users_delta(link).context("reading users")?;
        let mut upserts = Vec::new();
        let mut removed = Vec::new();
        loop {
            let page = round.next_page().await.context("reading users")?;
            for change in page.changes {
                match change {
                    graph::UserChange::Upsert(u) => upserts.extend(user_input(u)),
                    graph::UserChange::Removed { id, .. } => removed.push(id),
                }
            }
            if upserts.len() + removed.len() >= USERS_PER_WRITE || page.delta_link.is_some() {
                let (batch, gone) = (std::mem::take(&mut upserts), std::mem::take(&mut removed));
                self.write_users(batch, gone, outcome).await?;
            }
            if let Some(link) = page.delta_link {
                return Ok(link);
            }
        }
    }

    async fn write_users(
        &self,
        upserts: Vec<DirectoryUserInput>,
        removed: Vec<String>,
        outcome: &mut Outcome,
    ) -> anyhow::Result<()> {
        if upserts.is_empty() && removed.is_empty() {
            return Ok(());
        }
        keep_lease(self.worker, self.platform_id).await?;
        let (p, platform_id) = (self.permit.clone(), self.platform_id);
        let (changed, flagged) = self
            .worker
            .db(move |db| {
                db.write(|c| {
                    Ok((
                        store::sync::upsert_users(c, &p, platform_id, upserts)?,
                        store::sync::remove_users(c, &p, &removed)?,
                    ))
                })
            })
            .await?;
        outcome.users_changed += changed;
        outcome.users_removed += flagged;
        Ok(())
    }

    /// Reads a groups round from `link` (`None`: every group, `full`) and writes each page
    /// in one transaction; returns the round's delta link.
    ///
    /// A full round lists every member, so members it does not list must go. They are
    /// removed at the end of the round, not on a group's first sighting: a large group's
    /// members come in chunks over several pages, and removing all but the first chunk's
    /// would empty the group for the rest of the round (and fill the audit with churn).
    async fn groups(
        &self,
        link: Option<&str>,
        full: bool,
        outcome: &mut Outcome,
    ) -> anyhow::Result<String> {
        let mut round = self.client.groups_delta(link).context("reading groups")?;
        let mut unlisted = full.then(Unlisted::new);
        loop {
            let page = round.next_page().await.context("reading groups")?;
            if !page.changes.is_empty() {
                keep_lease(self.worker, self.platform_id).await?;
                let (p, platform_id, changes) =
                    (self.permit.clone(), self.platform_id, page.changes);
                let state = unlisted.take();
                let (state, (changed, members)) = self
                    .worker
                    .db(move |db| {
                        let mut state = state;
                        let counts = db
                            .write(|c| write_groups(c, &p, platform_id, changes, state.as_mut()))?;
                        Ok((state, counts))
                    })
                    .await?;
                unlisted = state;
                outcome.groups_changed += changed;
                outcome.memberships += members;
            }
            if let Some(link) = page.delta_link {
                if let Some(unlisted) = unlisted {
                    outcome.memberships += self.remove_unlisted(unlisted).await?;
                }
                return Ok(link);
            }
        }
    }

    /// After a full groups round: removes the members each group had and the round did
    /// not list.
    async fn remove_unlisted(&self, unlisted: Unlisted) -> anyhow::Result<i64> {
        let gone: Vec<(String, Vec<String>)> = unlisted
            .into_iter()
            .filter(|(_, users)| !users.is_empty())
            .map(|(group, users)| (group, users.into_iter().collect()))
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        keep_lease(self.worker, self.platform_id).await?;
        let p = self.permit.clone();
        self.worker
            .db(move |db| {
                db.write(|c| {
                    let mut removed = 0;
                    for (group, users) in &gone {
                        removed += store::sync::change_members(c, &p, group, &[], users)?;
                    }
                    Ok(removed)
                })
            })
            .await
    }
}

/// In a full groups round, per group seen so far: the members it held before the round
/// that the round has not listed yet. A group's entry is made at its first sighting, so
/// the members the round adds are never taken for old ones.
type Unlisted = HashMap<String, HashSet<String>>;

/// Writes one page of group changes; returns groups changed and membership rows changed.
fn write_groups(
    c: &mut store::Conn,
    p: &Permit,
    platform_id: i64,
    changes: Vec<graph::GroupChange>,
    mut unlisted: Option<&mut Unlisted>,
) -> store::StoreResult<(i64, i64)> {
    let (mut changed, mut members) = (0, 0);
    let mut removed_groups = Vec::new();
    for change in changes {
        let (id, added, removed) = match change {
            graph::GroupChange::Upsert {
                group,
                members_added,
                members_removed,
            } => {
                let id = group.id.clone();
                changed += store::sync::upsert_groups(c, p, platform_id, vec![group_input(group)])?;
                (id, members_added, members_removed)
            }
            graph::GroupChange::Members {
                id,
                members_added,
                members_removed,
            } => {
                changed += store::sync::touch_group(c, p, platform_id, &id)?;
                (id, members_added, members_removed)
            }
            graph::GroupChange::Removed { id, .. } => {
                if let Some(unlisted) = unlisted.as_deref_mut() {
                    unlisted.remove(&id);
                }
                removed_groups.push(id);
                continue;
            }
        };
        if let Some(unlisted) = unlisted.as_deref_mut() {
            let left = match unlisted.entry(id.clone()) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(store::sync::member_ids(c, &id)?),
            };
            for user in &added {
                left.remove(user);
            }
        }
        members += store::sync::change_members(c, p, &id, &added, &removed)?;
    }
    changed += store::sync::remove_groups(c, p, &removed_groups)?;
    Ok((changed, members))
}

/// A Graph group in the directory's words (a group without a name is shown by its id).
fn group_input(group: graph::Group) -> GroupInput {
    GroupInput {
        display_name: group
            .display_name
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| group.id.clone()),
        id: group.id,
        mail: group.mail,
        description: group.description,
    }
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
