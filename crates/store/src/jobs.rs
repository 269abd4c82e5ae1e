//! Provisioning jobs: what a platform (Teams, a webhook) must be told after an assign,
//! reassign or unassign of one of its numbers.
//!
//! A job row is written by [`enqueue`] in the transaction of the change that caused it
//! (`lifecycle` calls it for every transition, whatever started it: the API, an import,
//! a revert, an allocation, a rule), so a committed change always has its job and a
//! rolled-back one never does. Workers [`claim`] jobs under a lease and finish them with
//! [`succeed`] or [`fail`]; every one of those is a conditional update on `state` and
//! `lease_holder`, so:
//! - a job runs on one worker at a time: a claim flips `queued` (or a `running` job whose
//!   lease ran out) to `running` for one holder, and a second claim finds nothing to flip;
//! - a completed job never runs again: nothing flips `succeeded` or `superseded` back;
//! - a worker that lost its lease (it stalled and another took the job over) cannot
//!   finish the job or touch the number: its conditional update matches nothing.
//!
//! A number's jobs run in order: a new job supersedes the number's jobs not yet started
//! (the inventory, not the history, is what the platform must end up with), and a job is
//! not claimed while another job of its number is running.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use domain::{NumberType, Permit, ProvisioningState, Scope, Source, TargetKind};
use serde_json::json;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    dialect,
    numbers::{self, Number},
    page::{self, Page},
    schema::{locations, numbers as n, platforms, provisioning_jobs as j, services},
    scope::ScopeFilter,
};

/// Attempts before a job stops retrying by itself and waits for a person's retry.
pub const MAX_ATTEMPTS: i32 = 6;
/// Longest error text kept on a job or a number.
const MAX_ERROR_CHARS: usize = 2000;

/// What a job asks of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// Put the number on its (new) target: an assign, or a reassign (one call, no gap).
    Assign,
    /// Take the number off its target.
    Unassign,
}

impl JobAction {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Assign => "assign",
            JobAction::Unassign => "unassign",
        }
    }

    fn parse(s: &str) -> StoreResult<JobAction> {
        match s {
            "assign" => Ok(JobAction::Assign),
            "unassign" => Ok(JobAction::Unassign),
            other => Err(StoreError::Internal(format!(
                "provisioning_jobs.action holds {other:?}"
            ))),
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker (after `run_after`), possibly after failed attempts.
    Queued,
    /// A worker holds it (until its lease runs out).
    Running,
    /// The platform carried it out.
    Succeeded,
    /// It failed `MAX_ATTEMPTS` times (or for good); a person may retry it.
    Failed,
    /// A later change of its number replaced it before it ran.
    Superseded,
}

impl JobState {
    /// The stored and wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Superseded => "superseded",
        }
    }

    /// Every state, for filters and metrics.
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Superseded,
    ];
}

impl std::str::FromStr for JobState {
    type Err = StoreError;

    fn from_str(s: &str) -> StoreResult<JobState> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                StoreError::invalid(
                    "invalid_field",
                    "state",
                    format!("{s:?} is not one of queued, running, succeeded, failed, superseded"),
                )
            })
    }
}

/// A provisioning job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// The platform that must carry it out.
    pub platform_id: i64,
    /// The number, E.164.
    pub number: String,
    /// Assign or unassign.
    pub action: JobAction,
    /// The target it puts the number on (assign), as of the change.
    pub target_kind: Option<TargetKind>,
    /// The target's id in Telestate (a directory user's object id, or a service's id).
    pub target_id: Option<String>,
    /// The target's UPN or name, for people reading the job.
    pub target_name: Option<String>,
    /// Whom the number was taken from (reassign and unassign), for people reading the job.
    pub previous_target_id: Option<String>,
    /// Where it is in its life.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i32,
    /// Not before this time.
    pub run_after: NaiveDateTime,
    /// The platform's operation being waited on (Teams' `Location`), so a worker that
    /// takes a job over polls it instead of asking again.
    pub operation: Option<String>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Who made the change that caused it.
    pub created_by: String,
    /// The change set of that change, if any.
    pub change_set_id: Option<String>,
    /// When it was written.
    pub created_at: NaiveDateTime,
    /// When its first attempt started.
    pub started_at: Option<NaiveDateTime>,
    /// When it succeeded, failed for good or was superseded.
    pub finished_at: Option<NaiveDateTime>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = j)]
struct JobRow {
    id: i64,
    platform_id: i64,
    number_id: i64,
    e164: String,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    target_name: Option<String>,
    previous_target_id: Option<String>,
    state: String,
    attempts: i32,
    run_after: NaiveDateTime,
    operation: Option<String>,
    last_error: Option<String>,
    created_by: String,
    change_set_id: Option<String>,
    created_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
}

impl JobRow {
    fn into_job(self) -> StoreResult<Job> {
        Ok(Job {
            id: self.id,
            platform_id: self.platform_id,
            number: self.e164,
            action: JobAction::parse(&self.action)?,
            target_kind: match self.target_kind.as_deref() {
                None => None,
                Some(k) => Some(k.parse().map_err(|_| {
                    StoreError::Internal(format!("provisioning_jobs.target_kind holds {k:?}"))
                })?),
            },
            target_id: self.target_id,
            target_name: self.target_name,
            previous_target_id: self.previous_target_id,
            state: self.state.parse().map_err(|_| {
                StoreError::Internal(format!("provisioning_jobs.state holds {:?}", self.state))
            })?,
            attempts: self.attempts,
            run_after: self.run_after,
            operation: self.operation,
            last_error: self.last_error,
            created_by: self.created_by,
            change_set_id: self.change_set_id,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

/// Job `id` while it is running under `holder`'s lease: the condition of every write a
/// worker makes to its job.
macro_rules! held {
    ($id:expr, $holder:expr) => {
        j::table
            .filter(j::id.eq($id))
            .filter(j::state.eq(JobState::Running.as_str()))
            .filter(j::lease_holder.eq($holder.to_string()))
    };
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// Whether numbers on this platform are provisioned, and so get jobs.
pub(crate) fn platform_provisions(conn: &mut Conn, platform_id: Option<i64>) -> StoreResult<bool> {
    let Some(id) = platform_id else {
        return Ok(false);
    };
    let kind: Option<String> = platforms::table
        .find(id)
        .select(platforms::kind)
        .first(conn)
        .optional()?;
    Ok(matches!(kind.as_deref(), Some("teams" | "webhook")))
}

/// Writes the job a transition from `before` to `after` needs, if any; called by
/// `lifecycle` in the transition's transaction. Assign and reassign make an `assign` job
/// to the new target, unassign an `unassign` job; other transitions need none.
pub(crate) fn enqueue(
    conn: &mut Conn,
    permit: &Permit,
    before: &Number,
    after: &Number,
) -> StoreResult<()> {
    let holder_before = before.assignment.as_ref().map(|b| (b.kind, &b.id));
    let action = match &after.assignment {
        Some(a) if holder_before != Some((a.kind, &a.id)) => JobAction::Assign,
        None if holder_before.is_some() => JobAction::Unassign,
        _ => return Ok(()),
    };
    // A number moved off a platform keeps nothing to provision there; `before`'s platform
    // is the one that carries the unassign.
    let platform_id = match action {
        JobAction::Assign => after.platform_id,
        JobAction::Unassign => before.platform_id,
    };
    if !platform_provisions(conn, platform_id)? {
        return Ok(());
    }
    let Some(platform_id) = platform_id else {
        return Ok(());
    };
    insert(
        conn,
        permit,
        after,
        before.assignment.as_ref().map(|t| t.id.clone()),
        action,
        platform_id,
    )
}

/// Writes a job that tells `platform_id` the number's current state (assign to its
/// assignee, or unassign when it has none): drift's push.
pub(crate) fn enqueue_current(
    conn: &mut Conn,
    permit: &Permit,
    number: &Number,
    platform_id: i64,
) -> StoreResult<()> {
    let action = if number.assignment.is_some() {
        JobAction::Assign
    } else {
        JobAction::Unassign
    };
    insert(conn, permit, number, None, action, platform_id)
}

#[derive(Insertable)]
#[diesel(table_name = j)]
struct NewJob<'a> {
    platform_id: i64,
    number_id: i64,
    e164: &'a str,
    action: &'static str,
    target_kind: Option<&'static str>,
    target_id: Option<&'a str>,
    target_name: Option<&'a str>,
    previous_target_id: Option<String>,
    state: &'static str,
    attempts: i32,
    run_after: NaiveDateTime,
    created_by: &'a str,
    change_set_id: Option<&'a str>,
    created_at: NaiveDateTime,
}

impl<'a> NewJob<'a> {
    fn new(
        permit: &'a Permit,
        after: &'a Number,
        previous_target_id: Option<String>,
        action: JobAction,
        platform_id: i64,
        now: NaiveDateTime,
    ) -> NewJob<'a> {
        let target = after.assignment.as_ref();
        NewJob {
            platform_id,
            number_id: after.id,
            e164: &after.number,
            action: action.as_str(),
            target_kind: target.map(|t| t.kind.as_str()),
            target_id: target.map(|t| t.id.as_str()),
            target_name: target.map(|t| t.name.as_str()),
            previous_target_id,
            state: JobState::Queued.as_str(),
            attempts: 0,
            run_after: now,
            created_by: &permit.actor().name,
            change_set_id: permit.change_set_id(),
            created_at: now,
        }
    }
}

fn insert(
    conn: &mut Conn,
    permit: &Permit,
    after: &Number,
    previous_target_id: Option<String>,
    action: JobAction,
    platform_id: i64,
) -> StoreResult<()> {
    let now = crate::now();
    supersede_waiting(conn, after.id, now)?;
    let row = NewJob::new(permit, after, previous_target_id, action, platform_id, now);
    dialect::insert_batch!(conn, j::table, &row);
    Ok(())
}

/// [`enqueue`] for many numbers a transition took from available to assigned (a rule
/// run's allocations): an `assign` job for each on a platform that provisions, written
/// in a few statements per 500 numbers instead of three per number.
pub(crate) fn enqueue_assigned(
    conn: &mut Conn,
    permit: &Permit,
    assigned: &[&Number],
) -> StoreResult<()> {
    let now = crate::now();
    let mut provisions: HashMap<i64, bool> = HashMap::new();
    let mut rows = Vec::with_capacity(assigned.len());
    for after in assigned {
        let Some(platform_id) = after.platform_id else {
            continue;
        };
        let yes = match provisions.get(&platform_id) {
            Some(yes) => *yes,
            None => {
                let yes = platform_provisions(conn, Some(platform_id))?;
                provisions.insert(platform_id, yes);
                yes
            }
        };
        if yes && after.assignment.is_some() {
            rows.push(NewJob::new(
                permit,
                after,
                None,
                JobAction::Assign,
                platform_id,
                now,
            ));
        }
    }
    // 14 columns × 500 rows stays below SQLite's bound-parameter cap.
    for chunk in rows.chunks(500) {
        let ids: Vec<i64> = chunk.iter().map(|r| r.number_id).collect();
        diesel::update(
            j::table
                .filter(j::number_id.eq_any(&ids))
                .filter(j::state.eq_any([JobState::Queued.as_str(), JobState::Failed.as_str()])),
        )
        .set((
            j::state.eq(JobState::Superseded.as_str()),
            j::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
        dialect::insert_batch!(conn, j::table, chunk);
    }
    Ok(())
}

/// How many of a platform's jobs are still to be carried out (queued or running).
pub(crate) fn unfinished(conn: &mut Conn, platform_id: i64) -> StoreResult<i64> {
    Ok(j::table
        .filter(j::platform_id.eq(platform_id))
        .filter(j::state.eq_any([JobState::Queued.as_str(), JobState::Running.as_str()]))
        .count()
        .get_result(conn)?)
}

/// Marks the number's jobs that have not started (or wait for a person) as superseded.
fn supersede_waiting(conn: &mut Conn, number_id: i64, now: NaiveDateTime) -> StoreResult<usize> {
    Ok(diesel::update(
        j::table
            .filter(j::number_id.eq(number_id))
            .filter(j::state.eq_any([JobState::Queued.as_str(), JobState::Failed.as_str()])),
    )
    .set((
        j::state.eq(JobState::Superseded.as_str()),
        j::finished_at.eq(Some(now)),
    ))
    .execute(conn)?)
}

/// A job claimed by a worker, with what it needs to carry it out, read at claim time
/// (the inventory as it is now, not as it was when the job was written).
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The job.
    pub job: Job,
    /// The platform's kind (`teams` or `webhook`; `deleted` when the platform is gone).
    pub platform_kind: String,
    /// The platform's name (the actor of what the worker writes is `platform:<name>`).
    pub platform_name: String,
    /// How the number is carried (Teams needs it on every call).
    pub number_type: Option<NumberType>,
    /// The emergency location id of the number's site, for Teams' `locationId`.
    pub emergency_location_id: Option<String>,
    /// The target's object id in the platform: a user's Entra object id, or a service's
    /// external id (a Teams resource account); `None` when the service has none.
    pub platform_target_id: Option<String>,
    /// Teams' assignment category, when a rule gave the number and names one.
    pub assignment_category: Option<domain::rules::AssignmentCategory>,
    /// When the lease ends unless renewed.
    pub lease_until: NaiveDateTime,
}

/// Claims up to `limit` runnable jobs for `holder` until `now + lease`: queued jobs that
/// are due, and running jobs whose lease ran out (their worker died). A job is not
/// claimed while another job of its number runs. On PostgreSQL candidates are locked
/// with `SKIP LOCKED`, so workers do not queue behind each other; the conditional update
/// is what makes a claim exclusive on both backends.
pub fn claim(
    conn: &mut Conn,
    holder: &str,
    lease: std::time::Duration,
    limit: i64,
) -> StoreResult<Vec<Claimed>> {
    let now = crate::now();
    let until = now + Duration::milliseconds(lease.as_millis() as i64);
    let candidates = dialect::runnable_jobs(conn, now, limit)?;
    let mut claimed = Vec::with_capacity(candidates.len());
    for id in candidates {
        let taken = diesel::update(
            j::table.filter(j::id.eq(id)).filter(
                j::state
                    .eq(JobState::Queued.as_str())
                    .and(j::run_after.le(now))
                    .or(j::state
                        .eq(JobState::Running.as_str())
                        .and(j::lease_until.lt(now))),
            ),
        )
        .set((
            j::state.eq(JobState::Running.as_str()),
            j::lease_holder.eq(holder),
            j::lease_until.eq(until),
            j::attempts.eq(j::attempts + 1),
        ))
        .execute(conn)?;
        if taken == 1 {
            diesel::update(
                j::table
                    .filter(j::id.eq(id))
                    .filter(j::started_at.is_null()),
            )
            .set(j::started_at.eq(Some(now)))
            .execute(conn)?;
            claimed.push(claimed_job(conn, id, until)?);
        }
    }
    Ok(claimed)
}

fn claimed_job(conn: &mut Conn, id: i64, lease_until: NaiveDateTime) -> StoreResult<Claimed> {
    let row: JobRow = j::table.find(id).select(JobRow::as_select()).first(conn)?;
    // A platform deleted under its job: the job is handed out (the worker fails it for
    // good, naming why) rather than failing the claim, which would stop every job.
    let (platform_kind, platform_name): (String, String) = platforms::table
        .find(row.platform_id)
        .select((platforms::kind, platforms::name))
        .first(conn)
        .optional()?
        .unwrap_or_else(|| ("deleted".into(), format!("platform {}", row.platform_id)));
    type NumberFacts = (Option<String>, Option<i64>, Option<i64>, Option<String>);
    let number: Option<NumberFacts> = n::table
        .find(row.number_id)
        .select((
            n::number_type,
            n::location_id,
            n::assigned_rule_id,
            n::assigned_id,
        ))
        .first(conn)
        .optional()?;
    let (number_type, location_id, rule_id, holder) = number.unwrap_or((None, None, None, None));
    // A rule's number goes to Teams in the rule's assignment category, while the number
    // is still the rule's and this job puts it on the same holder.
    let assignment_category = match rule_id {
        Some(rule) if row.action == "assign" && holder.is_some() && holder == row.target_id => {
            crate::schema::rules::table
                .find(rule)
                .select(crate::schema::rules::action_json)
                .first::<String>(conn)
                .optional()?
                .and_then(|a| serde_json::from_str::<domain::rules::ActionDraft>(&a).ok())
                .and_then(|a| a.assignment_category)
                .and_then(|c| c.parse::<domain::rules::AssignmentCategory>().ok())
        }
        _ => None,
    };
    let emergency_location_id = match location_id {
        Some(l) => locations::table
            .find(l)
            .select(locations::emergency_location_id)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten(),
        None => None,
    };
    let platform_target_id = match (row.target_kind.as_deref(), &row.target_id) {
        (Some("user"), Some(id)) => Some(id.clone()),
        (Some("service"), Some(id)) => match id.parse::<i64>() {
            Ok(sid) => services::table
                .find(sid)
                .select(services::external_id)
                .first::<Option<String>>(conn)
                .optional()?
                .flatten(),
            Err(_) => None,
        },
        _ => None,
    };
    Ok(Claimed {
        job: row.into_job()?,
        platform_kind,
        platform_name,
        number_type: number_type.and_then(|t| t.parse().ok()),
        emergency_location_id,
        platform_target_id,
        assignment_category,
        lease_until,
    })
}

/// Extends `holder`'s lease on a running job; `false` when it is no longer `holder`'s.
pub fn renew(
    conn: &mut Conn,
    id: i64,
    holder: &str,
    lease: std::time::Duration,
) -> StoreResult<bool> {
    let until = crate::now() + Duration::milliseconds(lease.as_millis() as i64);
    Ok(diesel::update(held!(id, holder))
        .set(j::lease_until.eq(until))
        .execute(conn)?
        == 1)
}

/// Remembers the platform operation a running job waits on; `false` when the job is no
/// longer `holder`'s.
pub fn record_operation(
    conn: &mut Conn,
    id: i64,
    holder: &str,
    operation: Option<&str>,
) -> StoreResult<bool> {
    Ok(diesel::update(held!(id, holder))
        .set(j::operation.eq(operation.map(clip)))
        .execute(conn)?
        == 1)
}

/// How a finished attempt left its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The job reached the given state (`succeeded`, `queued` for a retry, or `failed`).
    Done(JobState),
    /// The job was no longer this worker's (its lease ran out and another took it over):
    /// nothing was written.
    LostLease,
}

/// Marks `holder`'s running job succeeded and, when it is its number's latest job, the
/// number's assignment provisioned (audited as `number.provisioned` by `platform:<name>`).
pub fn succeed(conn: &mut Conn, id: i64, holder: &str) -> StoreResult<Finish> {
    let now = crate::now();
    let done = diesel::update(held!(id, holder))
        .set((
            j::state.eq(JobState::Succeeded.as_str()),
            j::finished_at.eq(Some(now)),
            j::lease_holder.eq(None::<String>),
            j::lease_until.eq(None::<NaiveDateTime>),
            j::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    if done == 0 {
        return Ok(Finish::LostLease);
    }
    mark_number(conn, id, ProvisioningState::Provisioned, None)?;
    Ok(Finish::Done(JobState::Succeeded))
}

/// Records a failed attempt of `holder`'s running job: back to `queued` after a backoff
/// (30 s doubling, at most an hour) while attempts remain and the error is `transient`,
/// else `failed` for good — the number's provisioning then shows `failed` with the error.
/// A job overtaken by a later change of its number (written while it ran) is
/// `superseded` instead: the newer job carries what the platform must end up with.
pub fn fail(
    conn: &mut Conn,
    id: i64,
    holder: &str,
    error: &str,
    transient: bool,
) -> StoreResult<Finish> {
    let now = crate::now();
    let attempts: Option<i32> = held!(id, holder)
        .select(j::attempts)
        .first(conn)
        .optional()?;
    let Some(attempts) = attempts else {
        return Ok(Finish::LostLease);
    };
    let error = clip(error);
    // A later change of the number wrote a newer job while this one ran (a running job
    // is not superseded then): trying this one again would run after the newer job and
    // put the old state back on the platform. Nothing of it is left to do.
    if overtaken(conn, id)? {
        let done = diesel::update(held!(id, holder))
            .set((
                j::state.eq(JobState::Superseded.as_str()),
                j::finished_at.eq(Some(now)),
                j::lease_holder.eq(None::<String>),
                j::lease_until.eq(None::<NaiveDateTime>),
                j::last_error.eq(Some(&error)),
                j::operation.eq(None::<String>),
            ))
            .execute(conn)?;
        return Ok(if done == 0 {
            Finish::LostLease
        } else {
            Finish::Done(JobState::Superseded)
        });
    }
    let retry = transient && attempts < MAX_ATTEMPTS;
    let state = if retry {
        JobState::Queued
    } else {
        JobState::Failed
    };
    let backoff = Duration::seconds((30i64 << (attempts.clamp(1, 8) - 1)).min(3600));
    let done = diesel::update(held!(id, holder))
        .set((
            j::state.eq(state.as_str()),
            j::run_after.eq(if retry { now + backoff } else { now }),
            j::finished_at.eq(if retry { None } else { Some(now) }),
            j::lease_holder.eq(None::<String>),
            j::lease_until.eq(None::<NaiveDateTime>),
            j::last_error.eq(Some(&error)),
            // A retry asks the platform again rather than polling an operation that failed.
            j::operation.eq(None::<String>),
        ))
        .execute(conn)?;
    if done == 0 {
        return Ok(Finish::LostLease);
    }
    let number_state = if retry {
        ProvisioningState::Pending
    } else {
        ProvisioningState::Failed
    };
    mark_number(conn, id, number_state, Some(&error))?;
    Ok(Finish::Done(state))
}

/// Whether a later job of the same number exists.
fn overtaken(conn: &mut Conn, id: i64) -> StoreResult<bool> {
    let number_id: i64 = j::table.find(id).select(j::number_id).first(conn)?;
    Ok(j::table
        .filter(j::number_id.eq(number_id))
        .filter(j::id.gt(id))
        .select(j::id)
        .first::<i64>(conn)
        .optional()?
        .is_some())
}

/// Sets the provisioning state of job `id`'s number, if the job is its number's latest
/// and the number still holds what the job provisioned (an unassign job leaves nothing
/// to mark). Audited when the state or error changes; the number's version is not
/// raised, since its inventory did not change (a plan made before stays applicable).
fn mark_number(
    conn: &mut Conn,
    id: i64,
    state: ProvisioningState,
    error: Option<&str>,
) -> StoreResult<()> {
    let row: JobRow = j::table.find(id).select(JobRow::as_select()).first(conn)?;
    let latest: Option<i64> = j::table
        .filter(j::number_id.eq(row.number_id))
        .select(diesel::dsl::max(j::id))
        .first(conn)?;
    if latest != Some(id) || row.action != JobAction::Assign.as_str() {
        return Ok(());
    }
    let Some(before) = numbers::by_id(conn, row.number_id)? else {
        return Ok(());
    };
    let Some(a) = &before.assignment else {
        return Ok(());
    };
    if Some(a.kind.as_str()) != row.target_kind.as_deref() || Some(&a.id) != row.target_id.as_ref()
    {
        return Ok(());
    }
    if a.provisioning_state == state && a.provisioning_error.as_deref() == error {
        return Ok(());
    }
    let changed = diesel::update(
        n::table
            .filter(n::id.eq(row.number_id))
            .filter(n::assigned_id.eq(&a.id)),
    )
    .set((
        n::provisioning_state.eq(state.as_str()),
        n::provisioning_error.eq(error),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(());
    }
    let after = numbers::reload_row(conn, &before)?;
    let name: String = platforms::table
        .find(row.platform_id)
        .select(platforms::name)
        .first(conn)
        .optional()?
        .unwrap_or_else(|| row.platform_id.to_string());
    let permit = Permit::system(&format!("platform:{name}"), Source::Sync);
    let action = match state {
        ProvisioningState::Provisioned => "number.provisioned",
        ProvisioningState::Failed => "number.provisioning_failed",
        _ => "number.provisioning_retry",
    };
    audit::record(
        conn,
        &permit,
        Change {
            action,
            entity_kind: "number",
            entity_id: &before.number,
            before: Some(before.snapshot().to_json()),
            after: Some(after.snapshot().to_json()),
        },
    )
}

/// A person's retry of a job that failed for good: queued again now, with a fresh count
/// of attempts, and its number's provisioning back to `pending`. Only the number's latest
/// job may be retried (an older one was overtaken by a later change: 409). Audited as
/// `provisioning_job.retry`. A job whose number is outside `permit`'s scope is absent (404).
pub fn retry(conn: &mut Conn, permit: &Permit, id: i64) -> StoreResult<Job> {
    let before = get(conn, permit.scope(), id)?;
    if before.state != JobState::Failed {
        return Err(StoreError::Conflict {
            code: "job_not_failed",
            message: format!(
                "job {id} is {}; only a failed job can be retried",
                before.state.as_str()
            ),
            details: json!({ "state": before.state.as_str() }),
        });
    }
    if overtaken(conn, id)? {
        return Err(StoreError::Conflict {
            code: "job_not_failed",
            message: format!(
                "job {id} was overtaken by a later change of {}; retry that change's job instead",
                before.number
            ),
            details: json!({ "state": before.state.as_str(), "superseded": true }),
        });
    }
    let now = crate::now();
    let changed = diesel::update(
        j::table
            .filter(j::id.eq(id))
            .filter(j::state.eq(JobState::Failed.as_str())),
    )
    .set((
        j::state.eq(JobState::Queued.as_str()),
        j::attempts.eq(0),
        j::run_after.eq(now),
        j::finished_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(StoreError::conflict(
            "concurrent_change",
            format!("job {id} changed under this request; retry"),
        ));
    }
    let number_id: i64 = j::table.find(id).select(j::number_id).first(conn)?;
    diesel::update(
        n::table
            .filter(n::id.eq(number_id))
            .filter(n::provisioning_state.eq(ProvisioningState::Failed.as_str())),
    )
    .set(n::provisioning_state.eq(ProvisioningState::Pending.as_str()))
    .execute(conn)?;
    let after = get(conn, permit.scope(), id)?;
    audit::record(
        conn,
        permit,
        Change {
            action: "provisioning_job.retry",
            entity_kind: "provisioning_job",
            entity_id: &id.to_string(),
            before: Some(
                json!({ "state": before.state.as_str(), "attempts": before.attempts, "last_error": before.last_error }),
            ),
            after: Some(json!({ "state": after.state.as_str(), "attempts": after.attempts })),
        },
    )?;
    Ok(after)
}

fn scope_condition(conn: &mut Conn, scope: &Scope) -> StoreResult<Option<String>> {
    let filter = ScopeFilter::resolve(conn, scope)?;
    Ok(filter.exists_condition("id", "provisioning_jobs.number_id"))
}

/// One job; 404 when it does not exist or its number is outside `scope`.
pub fn get(conn: &mut Conn, scope: &Scope, id: i64) -> StoreResult<Job> {
    let mut q = j::table
        .filter(j::id.eq(id))
        .select(JobRow::as_select())
        .into_boxed();
    if let Some(c) = scope_condition(conn, scope)? {
        q = q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&c));
    }
    q.first::<JobRow>(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("provisioning job", id.to_string()))?
        .into_job()
}

/// What a job listing is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this number (E.164).
    pub number: Option<String>,
    /// Only jobs of this platform.
    pub platform_id: Option<i64>,
}

/// Jobs, newest first, keyset-paged by id; only those whose number is in `scope`.
pub fn list(
    conn: &mut Conn,
    scope: &Scope,
    filter: &JobFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<Job>> {
    let limit = page::limit(limit)?;
    let mut q = j::table.select(JobRow::as_select()).into_boxed();
    if let Some(s) = filter.state {
        q = q.filter(j::state.eq(s.as_str()));
    }
    if let Some(e164) = &filter.number {
        q = q.filter(j::e164.eq(e164.clone()));
    }
    if let Some(p) = filter.platform_id {
        q = q.filter(j::platform_id.eq(p));
    }
    if let Some(c) = cursor {
        q = q.filter(j::id.lt(page::decode_id(c)?));
    }
    if let Some(c) = scope_condition(conn, scope)? {
        q = q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&c));
    }
    let rows: Vec<JobRow> = q.order(j::id.desc()).limit(limit + 1).load(conn)?;
    let page = page::finish(rows, limit, |r| r.id.to_string());
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(JobRow::into_job)
            .collect::<StoreResult<_>>()?,
        next_cursor: page.next_cursor,
    })
}

/// Jobs per state, for metrics.
pub fn counts(conn: &mut Conn) -> StoreResult<Vec<(String, i64)>> {
    Ok(j::table
        .group_by(j::state)
        .select((j::state, diesel::dsl::count_star()))
        .load(conn)?)
}

/// When the next queued job falls due (a worker sleeps until then), if any.
pub fn next_due(conn: &mut Conn) -> StoreResult<Option<NaiveDateTime>> {
    Ok(j::table
        .filter(j::state.eq(JobState::Queued.as_str()))
        .select(diesel::dsl::min(j::run_after))
        .first(conn)?)
}

/// Forgets a lease holder's claims at shutdown, so another worker may take its jobs at
/// once instead of after the lease; the jobs go back to `queued` as they were.
pub fn release_claims(conn: &mut Conn, holder: &str) -> StoreResult<usize> {
    Ok(diesel::update(
        j::table
            .filter(j::state.eq(JobState::Running.as_str()))
            .filter(j::lease_holder.eq(holder.to_string())),
    )
    .set((
        j::state.eq(JobState::Queued.as_str()),
        j::lease_holder.eq(None::<String>),
        j::lease_until.eq(None::<NaiveDateTime>),
        j::attempts.eq(j::attempts - 1),
    ))
    .execute(conn)?)
}
