//! Rule runs: queued by a person or the schedule, or started right after a delta sync;
//! carried out by a worker in batches of users, a transaction each; reported per rule
//! with their lines.
//!
//! **Invariants:**
//! - **A user's decision is made under their lock.** [`apply_users`] locks the batch's
//!   users' rows, reads their facts and numbers again, decides with
//!   `domain::rules::evaluate` and writes, all in the caller's one transaction. Two
//!   workers (or a full run and a delta run) reaching the same user queue on the lock,
//!   and the second finds the first's number and does nothing: no user gets two numbers.
//!   No number goes to two users because every allocation is a conditional update on an
//!   available number (`lifecycle::allocate_many`, the bulk form of
//!   `lifecycle::allocate`, giving the same numbers a walk in user order would).
//! - **A batch never waits while holding locks.** On PostgreSQL it skips users another
//!   transaction holds and reports them busy; the worker applies those alone with
//!   [`apply_user`], which waits. A run and a sync therefore never wait on each other in
//!   a cycle.
//! - **Idempotent.** Applying a decision and deciding again gives nothing to do (the
//!   domain's table test), so a run over an unchanged directory writes nothing.
//! - **One change set per run**, every record as actor `rule:<name>` with source `rule`:
//!   the existing change-set revert undoes a run.
//! - **A pending user is forgotten only at the stamp evaluated**, in the transaction that
//!   applied their decision: a change that lands meanwhile leaves them pending.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use domain::{
    Permit, Scope, Source,
    rules::{Assignment, Decision, Rule, RunItemKind, RunStatus, RunTrigger, evaluate, winner},
};

use super::{facts, pool_of};
use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    dialect,
    lifecycle::{self, Allocated, Allocation, Request, Target},
    page::{self, Page},
    schema::{rule_pending as p, rule_run_items as i, rule_run_rules as rr, rule_runs as rn},
};

/// Lines a run keeps (assigned, unassigned, skipped, errors); the rest are counted.
pub const RUN_ITEMS_KEPT: usize = 1000;

/// The lease that lets one worker at a time turn pending users into a delta run.
const DELTA_LEASE: &str = "rules:delta";
/// The lease under which a worker checks whether a scheduled run is due.
const SCHEDULE_LEASE: &str = "rules:schedule";

/// A rule run and its totals.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rn)]
pub struct RuleRun {
    /// Its id.
    pub id: i64,
    /// What started it.
    #[diesel(column_name = run_trigger, deserialize_as = String)]
    pub trigger: RunTrigger,
    /// Where it is.
    #[diesel(deserialize_as = String)]
    pub status: RunStatus,
    /// Who asked for it (a person's name, `schedule` or `sync`).
    pub requested_by: String,
    /// The worker carrying it out.
    pub holder: Option<String>,
    /// Until when the worker holds it unless renewed.
    pub lease_until: Option<NaiveDateTime>,
    /// When it was asked for.
    pub created_at: NaiveDateTime,
    /// When a worker started it.
    pub started_at: Option<NaiveDateTime>,
    /// When it ended.
    pub finished_at: Option<NaiveDateTime>,
    /// Users whose decision was made.
    pub users_evaluated: i64,
    /// Numbers assigned.
    pub assigned: i64,
    /// Numbers unassigned into quarantine.
    pub unassigned: i64,
    /// Users who matched but got nothing.
    pub skipped: i64,
    /// Users for whom something failed.
    pub errors: i64,
    /// Lines beyond [`RUN_ITEMS_KEPT`], counted but not kept.
    pub items_not_shown: i64,
    /// The change set its changes are recorded under.
    pub change_set_id: String,
    /// Why it stopped, when it failed.
    pub error: Option<String>,
}

/// What a run did for one rule.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = rr)]
pub struct RunRuleCounts {
    /// The rule.
    pub rule_id: i64,
    /// Its name at the time.
    pub rule_name: String,
    /// Users it was the first match for.
    pub matched: i64,
    /// Numbers it assigned.
    pub assigned: i64,
    /// Its numbers its leaver policy took back.
    pub unassigned: i64,
    /// Users it matched who got nothing.
    pub skipped: i64,
    /// Users it matched for whom something failed.
    pub errors: i64,
}

/// One line of a run's report.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = i)]
pub struct RunItem {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// The rule concerned.
    pub rule_id: Option<i64>,
    /// What happened.
    #[diesel(deserialize_as = String)]
    pub kind: RunItemKind,
    /// The number concerned.
    pub number: Option<String>,
    /// Why (skipped: the reason; unassigned: why the user left; error: the error).
    pub reason: Option<String>,
}

/// A run with what it did per rule and its lines.
#[derive(Debug, Clone)]
pub struct RunDetail {
    /// The run.
    pub run: RuleRun,
    /// Per rule, in priority order of the rules evaluated.
    pub rules: Vec<RunRuleCounts>,
    /// The lines kept, in the order they happened.
    pub items: Vec<RunItem>,
}

fn insert_run(
    conn: &mut Conn,
    trigger: RunTrigger,
    status: RunStatus,
    requested_by: &str,
    holder: Option<(&str, NaiveDateTime)>,
) -> StoreResult<RuleRun> {
    let now = crate::now();
    let change_set = audit::new_change_set_id();
    diesel::insert_into(rn::table)
        .values((
            rn::run_trigger.eq(trigger.as_str()),
            rn::status.eq(status.as_str()),
            rn::requested_by.eq(requested_by),
            rn::holder.eq(holder.map(|h| h.0)),
            rn::lease_until.eq(holder.map(|h| h.1)),
            rn::created_at.eq(now),
            rn::started_at.eq(holder.map(|_| now)),
            rn::change_set_id.eq(&change_set),
        ))
        .execute(conn)?;
    // The change set id is random and unique to this insert.
    Ok(rn::table
        .filter(rn::change_set_id.eq(&change_set))
        .select(RuleRun::as_select())
        .first(conn)?)
}

fn run_row(conn: &mut Conn, id: i64) -> StoreResult<RuleRun> {
    rn::table
        .find(id)
        .select(RuleRun::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("rule run", id))
}

/// Queues a full evaluation of everyone (`POST /api/v1/rules/evaluate`). A full run
/// spans every rule, so it needs an unscoped grant. When a full run is queued already,
/// that one is answered and nothing is added. Audited as `rule_run.request`.
pub fn request(conn: &mut Conn, permit: &Permit) -> StoreResult<RuleRun> {
    if !permit.scope().is_unrestricted() {
        return Err(StoreError::Forbidden {
            code: "out_of_scope",
            message: "a full evaluation applies every rule, across the whole estate; a grant limited to locations or tags cannot start one".into(),
        });
    }
    let queued: Option<RuleRun> = rn::table
        .filter(rn::status.eq(RunStatus::Queued.as_str()))
        .filter(rn::run_trigger.ne(RunTrigger::Delta.as_str()))
        .order(rn::id.asc())
        .select(RuleRun::as_select())
        .first(conn)
        .optional()?;
    if let Some(run) = queued {
        return Ok(run);
    }
    let run = insert_run(
        conn,
        RunTrigger::Manual,
        RunStatus::Queued,
        &permit.actor().name,
        None,
    )?;
    audit::record(
        conn,
        permit,
        Change {
            action: "rule_run.request",
            entity_kind: "rule_run",
            entity_id: &run.id.to_string(),
            before: None,
            after: Some(serde_json::json!({
                "trigger": RunTrigger::Manual.as_str(),
                "change_set_id": run.change_set_id,
            })),
        },
    )?;
    Ok(run)
}

/// For the worker: queues a scheduled full run when `interval` has passed since the last
/// one was queued (one worker checks at a time, under a lease). `None` when not due.
pub fn enqueue_scheduled(
    conn: &mut Conn,
    holder: &str,
    interval: std::time::Duration,
) -> StoreResult<Option<RuleRun>> {
    let now = crate::now();
    if !dialect::take_lease(
        conn,
        SCHEDULE_LEASE,
        holder,
        now,
        now + Duration::seconds(30),
    )? {
        return Ok(None);
    }
    let since = now - Duration::milliseconds(interval.as_millis() as i64);
    let recent: i64 = rn::table
        .filter(rn::run_trigger.eq(RunTrigger::Schedule.as_str()))
        .filter(rn::created_at.gt(since))
        .count()
        .get_result(conn)?;
    if recent > 0 {
        return Ok(None);
    }
    insert_run(
        conn,
        RunTrigger::Schedule,
        RunStatus::Queued,
        "schedule",
        None,
    )
    .map(Some)
}

/// For the worker: claims the oldest queued full run, or a running one whose worker's
/// lease ran out (it starts again from the beginning: runs are idempotent).
pub fn claim(
    conn: &mut Conn,
    holder: &str,
    lease: std::time::Duration,
) -> StoreResult<Option<RuleRun>> {
    let now = crate::now();
    let until = now + Duration::milliseconds(lease.as_millis() as i64);
    let candidates: Vec<i64> = rn::table
        .filter(
            rn::status.eq(RunStatus::Queued.as_str()).or(rn::status
                .eq(RunStatus::Running.as_str())
                .and(rn::lease_until.lt(now))
                .and(rn::run_trigger.ne(RunTrigger::Delta.as_str()))),
        )
        .order(rn::id.asc())
        .select(rn::id)
        .limit(5)
        .load(conn)?;
    for id in candidates {
        let taken = diesel::update(
            rn::table.filter(rn::id.eq(id)).filter(
                rn::status.eq(RunStatus::Queued.as_str()).or(rn::status
                    .eq(RunStatus::Running.as_str())
                    .and(rn::lease_until.lt(now))),
            ),
        )
        .set((
            rn::status.eq(RunStatus::Running.as_str()),
            rn::holder.eq(holder),
            rn::lease_until.eq(until),
            rn::started_at.eq(now),
        ))
        .execute(conn)?;
        if taken == 1 {
            return run_row(conn, id).map(Some);
        }
    }
    Ok(None)
}

/// For the worker: renews its lease on a run; `false` when another worker took it over.
pub fn renew(
    conn: &mut Conn,
    id: i64,
    holder: &str,
    lease: std::time::Duration,
) -> StoreResult<bool> {
    let until = crate::now() + Duration::milliseconds(lease.as_millis() as i64);
    Ok(diesel::update(
        rn::table
            .filter(rn::id.eq(id))
            .filter(rn::holder.eq(holder))
            .filter(rn::status.eq(RunStatus::Running.as_str())),
    )
    .set(rn::lease_until.eq(until))
    .execute(conn)?
        == 1)
}

/// For the worker: takes the delta lease and, when users are pending, starts a delta run
/// for up to `limit` of them (sorted by id, each with the stamp to forget them at).
/// `None` when another worker holds the lease or nobody is pending.
pub fn start_delta(
    conn: &mut Conn,
    holder: &str,
    lease: std::time::Duration,
    limit: i64,
) -> StoreResult<Option<(RuleRun, Vec<Pending>)>> {
    let now = crate::now();
    let until = now + Duration::milliseconds(lease.as_millis() as i64);
    if !dialect::take_lease(conn, DELTA_LEASE, holder, now, until)? {
        return Ok(None);
    }
    // A delta run whose worker stopped is not taken over (its users are still pending,
    // and this run takes them): it is closed as failed.
    diesel::update(
        rn::table
            .filter(rn::run_trigger.eq(RunTrigger::Delta.as_str()))
            .filter(rn::status.eq(RunStatus::Running.as_str()))
            .filter(rn::lease_until.lt(now)),
    )
    .set((
        rn::status.eq(RunStatus::Failed.as_str()),
        rn::finished_at.eq(Some(now)),
        rn::error.eq(Some(
            "the worker stopped before the run ended; its users were evaluated by a later run",
        )),
    ))
    .execute(conn)?;
    // Without rules there is nothing to decide: the pending users are simply forgotten.
    let rules: i64 = crate::schema::rules::table.count().get_result(conn)?;
    if rules == 0 {
        diesel::delete(p::table).execute(conn)?;
        release_delta(conn, holder)?;
        return Ok(None);
    }
    let mut pending: Vec<(String, i64)> = p::table
        .select((p::user_id, p::stamp))
        .order(p::user_id.asc())
        .limit(limit)
        .load(conn)?;
    if pending.is_empty() {
        release_delta(conn, holder)?;
        return Ok(None);
    }
    pending.sort();
    let run = insert_run(
        conn,
        RunTrigger::Delta,
        RunStatus::Running,
        "sync",
        Some((holder, until)),
    )?;
    Ok(Some((run, pending)))
}

/// A pending user: their object id and the stamp to forget them at.
pub type Pending = (String, i64);

/// Gives the delta lease back, if `holder` has it.
pub fn release_delta(conn: &mut Conn, holder: &str) -> StoreResult<()> {
    use crate::schema::leases;
    diesel::update(
        leases::table
            .filter(leases::name.eq(DELTA_LEASE))
            .filter(leases::holder.eq(holder)),
    )
    .set(leases::expires_at.eq(crate::now() - Duration::seconds(1)))
    .execute(conn)?;
    Ok(())
}

/// Renews the delta lease, and delta run `id`'s, between batches; `false` when another
/// worker has the lease.
pub fn renew_delta(
    conn: &mut Conn,
    id: i64,
    holder: &str,
    lease: std::time::Duration,
) -> StoreResult<bool> {
    let now = crate::now();
    let until = now + Duration::milliseconds(lease.as_millis() as i64);
    if !dialect::take_lease(conn, DELTA_LEASE, holder, now, until)? {
        return Ok(false);
    }
    renew(conn, id, holder, lease)
}

/// How long finished runs are kept: their reports answer "what did the rules do last
/// month"; the audit trail keeps their changes for ever.
pub const RUNS_KEPT_DAYS: i64 = 30;

/// Forgets finished and failed runs that ended more than [`RUNS_KEPT_DAYS`] before
/// `now`, at most `limit` of them; how many (the scheduler calls it).
pub(crate) fn purge(conn: &mut Conn, now: NaiveDateTime, limit: i64) -> StoreResult<usize> {
    let old: Vec<i64> = rn::table
        .filter(rn::status.eq_any([RunStatus::Finished.as_str(), RunStatus::Failed.as_str()]))
        .filter(rn::finished_at.lt(now - Duration::days(RUNS_KEPT_DAYS)))
        .order(rn::id.asc())
        .select(rn::id)
        .limit(limit)
        .load(conn)?;
    if old.is_empty() {
        return Ok(0);
    }
    diesel::delete(i::table.filter(i::run_id.eq_any(&old))).execute(conn)?;
    diesel::delete(rr::table.filter(rr::run_id.eq_any(&old))).execute(conn)?;
    Ok(diesel::delete(rn::table.filter(rn::id.eq_any(&old))).execute(conn)?)
}

/// How many users wait for a delta run.
pub fn pending_count(conn: &mut Conn) -> StoreResult<i64> {
    Ok(p::table.count().get_result(conn)?)
}

/// Who a full run must act on, read in one pass: every user's decision now, with the
/// users evaluated and each rule's first matches. The run then applies each user's
/// decision afresh under their lock ([`apply_users`]).
#[derive(Debug, Clone, Default)]
pub struct FullPlan {
    /// Users looked at.
    pub users_evaluated: i64,
    /// Users each rule is the first match for.
    pub matched: HashMap<i64, i64>,
    /// Users whose decision is not "nothing", by id.
    pub act_on: Vec<Act>,
}

/// A user a run must apply a decision to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Act {
    /// The user's object id.
    pub user: String,
    /// For a delta run, the pending stamp to forget the user at.
    pub stamp: Option<i64>,
    /// The rule whose pool the decision allocates from, if it allocates.
    pub allocates_from: Option<i64>,
}

/// The rule a decision allocates from, if any.
fn allocation(d: &Decision) -> Option<i64> {
    match d {
        Decision::Assign(a) => Some(a.rule_id),
        Decision::Unassign { then: Some(a), .. } => Some(a.rule_id),
        _ => None,
    }
}

/// Which rules' users a run may apply side by side. Users whose numbers come from
/// pools that may share a number are applied one after another in user-id order, as a
/// preview walks them, so each gets the number the preview showed; rules whose pools
/// cannot share one (they name different ranges, sites, platforms, number types or
/// countries) get lanes of their own. Returns each rule's lane (the lowest rule id of
/// its group).
pub fn lanes(rules: &[Rule]) -> HashMap<i64, i64> {
    fn differ<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
        matches!((a, b), (Some(x), Some(y)) if x != y)
    }
    let disjoint = |a: &domain::rules::Pool, b: &domain::rules::Pool| {
        differ(a.range_id(), b.range_id())
            || differ(a.location_id(), b.location_id())
            || differ(a.platform_id(), b.platform_id())
            || differ(a.number_type(), b.number_type())
            || differ(a.country(), b.country())
    };
    let mut lane: Vec<usize> = (0..rules.len()).collect();
    fn root(lane: &mut [usize], mut i: usize) -> usize {
        while lane[i] != i {
            lane[i] = lane[lane[i]];
            i = lane[i];
        }
        i
    }
    for i in 0..rules.len() {
        for j in i + 1..rules.len() {
            if !disjoint(&rules[i].action().pool, &rules[j].action().pool) {
                let (a, b) = (root(&mut lane, i), root(&mut lane, j));
                lane[a.max(b)] = a.min(b);
            }
        }
    }
    let roots: Vec<usize> = (0..rules.len()).map(|i| root(&mut lane, i)).collect();
    let mut lowest: HashMap<usize, i64> = HashMap::new();
    for (rule, r) in rules.iter().zip(&roots) {
        lowest
            .entry(*r)
            .and_modify(|l| *l = (*l).min(rule.id()))
            .or_insert(rule.id());
    }
    rules
        .iter()
        .zip(&roots)
        .map(|(rule, r)| (rule.id(), lowest[r]))
        .collect()
}

/// Reads everyone and decides (see [`FullPlan`]). Reads only.
pub fn plan_full(conn: &mut Conn, rules: &[Rule]) -> StoreResult<FullPlan> {
    let subjects = facts::everyone(conn)?;
    let mut plan = FullPlan {
        users_evaluated: subjects.len() as i64,
        ..FullPlan::default()
    };
    for s in &subjects {
        if let Some(r) = winner(rules, &s.facts) {
            *plan.matched.entry(r.id()).or_default() += 1;
        }
        let decision = evaluate(rules, &s.facts, &s.holdings);
        if !matches!(decision, Decision::Nothing(_)) {
            plan.act_on.push(Act {
                user: s.facts.id.clone(),
                stamp: None,
                allocates_from: allocation(&decision),
            });
        }
    }
    Ok(plan)
}

/// What happened to one user: a line each.
#[derive(Debug, Clone, Default)]
pub struct UserOutcome {
    /// The rule the user first matches, if any.
    pub matched: Option<i64>,
    /// The lines.
    pub items: Vec<RunItem>,
    /// Left untouched because another transaction held the user ([`apply_users`]).
    pub busy: bool,
}

/// What a run applies with: its change set, and the rules' names for the audit actor.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The run's change set.
    pub change_set_id: String,
    /// Rule names by id.
    pub names: HashMap<i64, String>,
}

impl RunContext {
    /// The context of `run` for `rules`.
    pub fn new(run: &RuleRun, rules: &[Rule]) -> RunContext {
        RunContext {
            change_set_id: run.change_set_id.clone(),
            names: rules
                .iter()
                .map(|r| (r.id(), r.name().to_string()))
                .collect(),
        }
    }

    fn permit(&self, rule_id: i64) -> Permit {
        let name = self
            .names
            .get(&rule_id)
            .cloned()
            .unwrap_or_else(|| rule_id.to_string());
        Permit::system(&format!("rule:{name}"), Source::Rule)
            .with_change_set(self.change_set_id.clone())
    }
}

fn item(
    user_id: &str,
    upn: &str,
    rule_id: Option<i64>,
    kind: RunItemKind,
    number: Option<String>,
    reason: Option<String>,
) -> RunItem {
    RunItem {
        user_id: user_id.to_string(),
        upn: upn.to_string(),
        rule_id,
        kind,
        number,
        reason,
    }
}

/// Decides and applies the rules for one user, in the caller's transaction, under the
/// user's lock: [`apply_users`] for one.
pub fn apply_user(
    conn: &mut Conn,
    ctx: &RunContext,
    rules: &[Rule],
    user_id: &str,
    stamp: Option<i64>,
) -> StoreResult<UserOutcome> {
    let mut out = apply_with(conn, ctx, rules, &[(user_id.to_string(), stamp)], true)?;
    Ok(out.pop().unwrap_or_default())
}

/// Decides and applies the rules for `users` (in id order, each with the pending stamp
/// to forget them at, for a delta run), in the caller's transaction, under the users'
/// locks (see the module docs); an outcome per user, in order. Leavers' numbers are
/// taken back one by one; the allocations are made together
/// (`lifecycle::allocate_many`), each user getting the number a walk in id order would
/// give them. A refusal for one number (an exhausted pool, a number changed meanwhile)
/// is a line of the outcome, not an error; a database error is (the caller's
/// transaction rolls back and the users stay pending).
///
/// On PostgreSQL a user another transaction holds (a sync writing them) is not waited
/// for — holding many users' locks while waiting for one could close a cycle — but left
/// untouched and marked [`UserOutcome::busy`], for the caller to apply alone with
/// [`apply_user`], which waits.
pub fn apply_users(
    conn: &mut Conn,
    ctx: &RunContext,
    rules: &[Rule],
    users: &[(String, Option<i64>)],
) -> StoreResult<Vec<UserOutcome>> {
    apply_with(conn, ctx, rules, users, false)
}

fn apply_with(
    conn: &mut Conn,
    ctx: &RunContext,
    rules: &[Rule],
    users: &[(String, Option<i64>)],
    wait: bool,
) -> StoreResult<Vec<UserOutcome>> {
    let ids: Vec<String> = users.iter().map(|(id, _)| id.clone()).collect();
    let (stored, busy) = dialect::lock_users(conn, &ids, wait)?;
    let mut outcomes = vec![UserOutcome::default(); users.len()];
    let stamps: Vec<(String, i64)> = users
        .iter()
        .zip(&mut outcomes)
        .filter_map(|((id, stamp), out)| {
            out.busy = busy.contains(id);
            stamp.filter(|_| !out.busy).map(|s| (id.clone(), s))
        })
        .collect();
    forget(conn, &stamps)?;
    let subjects: HashMap<String, facts::Subject> = facts::many(conn, &stored)?
        .into_iter()
        .map(|s| (s.facts.id.clone(), s))
        .collect();
    let mut wants: Vec<(usize, Assignment)> = Vec::new();
    for (k, (id, _)) in users.iter().enumerate() {
        let Some(s) = subjects.get(id) else {
            continue;
        };
        let out = &mut outcomes[k];
        let (uid, upn) = (s.facts.id.as_str(), s.facts.upn.as_str());
        out.matched = winner(rules, &s.facts).map(Rule::id);
        let allocation = match evaluate(rules, &s.facts, &s.holdings) {
            Decision::Nothing(_) => None,
            Decision::Assign(a) => Some(a),
            Decision::Unassign { numbers, then } => {
                for u in numbers {
                    let permit = ctx.permit(u.rule_id);
                    let request = Request::Unassign {
                        quarantine_days: None,
                        reason: Some(format!(
                            "rule {}: {}",
                            ctx.names.get(&u.rule_id).map(String::as_str).unwrap_or("?"),
                            u.reason.as_str().replace('_', " ")
                        )),
                    };
                    let version = s.versions.get(&u.number_id).copied();
                    match lifecycle::apply(conn, &permit, &u.e164, request, version) {
                        Ok(_) => out.items.push(item(
                            uid,
                            upn,
                            Some(u.rule_id),
                            RunItemKind::Unassigned,
                            Some(u.e164),
                            Some(u.reason.as_str().to_string()),
                        )),
                        Err(e @ (StoreError::Conflict { .. } | StoreError::Stale { .. })) => {
                            out.items.push(item(
                                uid,
                                upn,
                                Some(u.rule_id),
                                RunItemKind::Failed,
                                Some(u.e164),
                                Some(e.to_string()),
                            ))
                        }
                        Err(e) => return Err(e),
                    }
                }
                then
            }
        };
        if let Some(a) = allocation {
            wants.push((k, a));
        }
    }
    if wants.is_empty() {
        return Ok(outcomes);
    }
    let mut permits: HashMap<i64, Permit> = HashMap::new();
    let mut pools: HashMap<i64, lifecycle::Pool> = HashMap::new();
    for (_, a) in &wants {
        permits
            .entry(a.rule_id)
            .or_insert_with(|| ctx.permit(a.rule_id));
        pools.entry(a.rule_id).or_insert_with(|| pool_of(&a.pool));
    }
    let allocations: Vec<Allocation> = wants
        .iter()
        .map(|(k, a)| {
            let s = &subjects[&users[*k].0];
            Allocation {
                permit: &permits[&a.rule_id],
                rule_id: a.rule_id,
                pool: &pools[&a.rule_id],
                target: Target {
                    kind: domain::TargetKind::User,
                    id: s.facts.id.clone(),
                    name: s.facts.upn.clone(),
                },
            }
        })
        .collect();
    let results = lifecycle::allocate_many(conn, &allocations)?;
    for ((k, a), result) in wants.iter().zip(results) {
        let s = &subjects[&users[*k].0];
        let (uid, upn) = (s.facts.id.as_str(), s.facts.upn.as_str());
        let line = match result {
            Allocated::Number(n) => item(
                uid,
                upn,
                Some(a.rule_id),
                RunItemKind::Assigned,
                Some(n.number),
                None,
            ),
            Allocated::Exhausted => item(
                uid,
                upn,
                Some(a.rule_id),
                RunItemKind::Skipped,
                None,
                Some("pool_exhausted".into()),
            ),
            Allocated::Refused(e) => item(
                uid,
                upn,
                Some(a.rule_id),
                RunItemKind::Failed,
                None,
                Some(e.to_string()),
            ),
        };
        outcomes[*k].items.push(line);
    }
    Ok(outcomes)
}

/// A run's totals as a worker adds them up, written by [`finish`].
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Users whose decision was made.
    pub users_evaluated: i64,
    /// Per rule: matched, assigned, unassigned, skipped, errors.
    pub per_rule: HashMap<i64, [i64; 5]>,
    /// Lines kept (the first [`RUN_ITEMS_KEPT`]).
    pub items: Vec<RunItem>,
    /// Totals of the lines, kept or not: assigned, unassigned, skipped, errors.
    pub totals: [i64; 4],
    /// Lines not kept.
    pub items_not_shown: i64,
}

impl Tally {
    /// Adds one user's outcome; `count_matched` when the run did not count first matches
    /// beforehand (a delta run).
    pub fn add(&mut self, outcome: UserOutcome, count_matched: bool) {
        if count_matched && let Some(r) = outcome.matched {
            self.per_rule.entry(r).or_default()[0] += 1;
        }
        for it in outcome.items {
            let slot = match it.kind {
                RunItemKind::Assigned => 0,
                RunItemKind::Unassigned => 1,
                RunItemKind::Skipped => 2,
                RunItemKind::Failed => 3,
            };
            self.totals[slot] += 1;
            if let Some(r) = it.rule_id {
                self.per_rule.entry(r).or_default()[slot + 1] += 1;
            }
            self.push(it);
        }
    }

    /// Records that deciding for a user failed with `error` (the user's changes rolled back).
    pub fn failed(&mut self, user_id: &str, error: &str) {
        self.totals[3] += 1;
        self.push(item(
            user_id,
            user_id,
            None,
            RunItemKind::Failed,
            None,
            Some(error.chars().take(500).collect()),
        ));
    }

    /// Adds another tally's counts and lines (a lane's, when a run applies lanes side
    /// by side).
    pub fn merge(&mut self, other: Tally) {
        self.users_evaluated += other.users_evaluated;
        for (rule, counts) in other.per_rule {
            let mine = self.per_rule.entry(rule).or_default();
            for (m, o) in mine.iter_mut().zip(counts) {
                *m += o;
            }
        }
        for (m, o) in self.totals.iter_mut().zip(other.totals) {
            *m += o;
        }
        self.items_not_shown += other.items_not_shown;
        for it in other.items {
            self.push(it);
        }
    }

    fn push(&mut self, it: RunItem) {
        if self.items.len() < RUN_ITEMS_KEPT {
            self.items.push(it);
        } else {
            self.items_not_shown += 1;
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = i)]
struct NewItem<'a> {
    run_id: i64,
    seq: i64,
    user_id: &'a str,
    upn: &'a str,
    rule_id: Option<i64>,
    kind: &'a str,
    number: Option<&'a str>,
    reason: Option<&'a str>,
}

#[derive(Insertable)]
#[diesel(table_name = rr)]
struct NewCounts<'a> {
    run_id: i64,
    rule_id: i64,
    rule_name: &'a str,
    matched: i64,
    assigned: i64,
    unassigned: i64,
    skipped: i64,
    errors: i64,
}

/// Ends a run: its totals, a row per rule of `rules` (the set it evaluated), its lines,
/// and `finished` — or `failed` with `error`. Only while `holder` still holds it.
pub fn finish(
    conn: &mut Conn,
    id: i64,
    holder: &str,
    rules: &[Rule],
    tally: &Tally,
    error: Option<&str>,
) -> StoreResult<bool> {
    let status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Finished
    };
    let n = diesel::update(
        rn::table
            .filter(rn::id.eq(id))
            .filter(rn::holder.eq(holder))
            .filter(rn::status.eq(RunStatus::Running.as_str())),
    )
    .set((
        rn::status.eq(status.as_str()),
        rn::finished_at.eq(Some(crate::now())),
        rn::users_evaluated.eq(tally.users_evaluated),
        rn::assigned.eq(tally.totals[0]),
        rn::unassigned.eq(tally.totals[1]),
        rn::skipped.eq(tally.totals[2]),
        rn::errors.eq(tally.totals[3]),
        rn::items_not_shown.eq(tally.items_not_shown),
        rn::error.eq(error),
        rn::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(false);
    }
    // A run taken over from a dead worker starts again: its earlier lines go.
    diesel::delete(rr::table.filter(rr::run_id.eq(id))).execute(conn)?;
    diesel::delete(i::table.filter(i::run_id.eq(id))).execute(conn)?;
    let counts: Vec<NewCounts> = rules
        .iter()
        .map(|r| {
            let c = tally.per_rule.get(&r.id()).copied().unwrap_or_default();
            NewCounts {
                run_id: id,
                rule_id: r.id(),
                rule_name: r.name(),
                matched: c[0],
                assigned: c[1],
                unassigned: c[2],
                skipped: c[3],
                errors: c[4],
            }
        })
        .collect();
    for chunk in counts.chunks(500) {
        dialect::insert_batch!(conn, rr::table, chunk);
    }
    let items: Vec<NewItem> = tally
        .items
        .iter()
        .enumerate()
        .map(|(seq, it)| NewItem {
            run_id: id,
            seq: seq as i64,
            user_id: &it.user_id,
            upn: &it.upn,
            rule_id: it.rule_id,
            kind: it.kind.as_str(),
            number: it.number.as_deref(),
            reason: it.reason.as_deref(),
        })
        .collect();
    for chunk in items.chunks(500) {
        dialect::insert_batch!(conn, i::table, chunk);
    }
    Ok(true)
}

/// The rule ids a caller may read about: every rule for an unscoped one, else the rules
/// in its scope.
fn readable_rules(conn: &mut Conn, scope: &Scope) -> StoreResult<Option<Vec<i64>>> {
    if scope.is_unrestricted() {
        return Ok(None);
    }
    let mut ids = Vec::new();
    for stored in super::all(conn)? {
        if super::in_scope(scope, &stored.rule()?) {
            ids.push(stored.id);
        }
    }
    Ok(Some(ids))
}

/// `run`'s totals as a scoped caller may see them: the sums of `counts`, the rules in
/// its scope. (What other rules did is not its business, not even as a count; the users
/// evaluated are the directory's, which every reader sees.)
fn scope_totals<'a>(run: &mut RuleRun, counts: impl IntoIterator<Item = &'a RunRuleCounts>) {
    (run.assigned, run.unassigned, run.skipped, run.errors) = (0, 0, 0, 0);
    for c in counts {
        run.assigned += c.assigned;
        run.unassigned += c.unassigned;
        run.skipped += c.skipped;
        run.errors += c.errors;
    }
}

/// One run, its per-rule counts and its lines. A scoped caller sees only the counts and
/// lines of rules in its scope, totals that are their sums, and how many of those
/// rules' lines it is not shown.
pub fn get(conn: &mut Conn, scope: &Scope, id: i64) -> StoreResult<RunDetail> {
    let mut run = run_row(conn, id)?;
    let readable = readable_rules(conn, scope)?;
    let mut rules: Vec<RunRuleCounts> = rr::table
        .filter(rr::run_id.eq(id))
        .select(RunRuleCounts::as_select())
        .load(conn)?;
    let mut items: Vec<RunItem> = i::table
        .filter(i::run_id.eq(id))
        .order(i::seq.asc())
        .select(RunItem::as_select())
        .load(conn)?;
    if let Some(ids) = &readable {
        rules.retain(|c| ids.contains(&c.rule_id));
        items.retain(|it| it.rule_id.is_some_and(|r| ids.contains(&r)));
        // A rule's line may name a number outside the scope (assigned before its pool
        // moved): the line stays out of sight.
        let numbers: Vec<&str> = items.iter().filter_map(|it| it.number.as_deref()).collect();
        let seen = crate::scope::visible_numbers(conn, scope, &numbers)?;
        items.retain(|it| it.number.as_ref().is_none_or(|n| seen.contains(n)));
        scope_totals(&mut run, &rules);
        // Its rules' lines not shown (past the kept ones, or naming a number outside
        // the scope), not the whole run's.
        let lines = run.assigned + run.unassigned + run.skipped + run.errors;
        run.items_not_shown = (lines - items.len() as i64).max(0);
    }
    let order = super::names(conn)?;
    rules.sort_by_key(|c| (!order.contains_key(&c.rule_id), c.rule_id));
    Ok(RunDetail { run, rules, items })
}

/// The runs that evaluated rule `rule_id` (in scope), newest first, each with what it
/// did for that rule; a scoped caller's run totals are those of the rules in its scope.
pub fn of_rule(
    conn: &mut Conn,
    scope: &Scope,
    rule_id: i64,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<(RuleRun, RunRuleCounts)>> {
    super::get(conn, scope, rule_id)?;
    let limit = page::limit(limit)?;
    let mut q = rr::table
        .filter(rr::rule_id.eq(rule_id))
        .order(rr::run_id.desc())
        .select(RunRuleCounts::as_select())
        .into_boxed();
    let mut ids = rr::table
        .filter(rr::rule_id.eq(rule_id))
        .order(rr::run_id.desc())
        .select(rr::run_id)
        .into_boxed();
    if let Some(c) = cursor {
        let before = page::decode_id(c)?;
        q = q.filter(rr::run_id.lt(before));
        ids = ids.filter(rr::run_id.lt(before));
    }
    let counts: Vec<RunRuleCounts> = q.limit(limit + 1).load(conn)?;
    let run_ids: Vec<i64> = ids.limit(limit + 1).load(conn)?;
    let mut runs: HashMap<i64, RuleRun> = rn::table
        .filter(rn::id.eq_any(&run_ids))
        .select(RuleRun::as_select())
        .load::<RuleRun>(conn)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    if let Some(readable) = readable_rules(conn, scope)? {
        let mut counts: HashMap<i64, Vec<RunRuleCounts>> = HashMap::new();
        for c in rr::table
            .filter(rr::run_id.eq_any(&run_ids))
            .filter(rr::rule_id.eq_any(&readable))
            .select((rr::run_id, RunRuleCounts::as_select()))
            .load::<(i64, RunRuleCounts)>(conn)?
        {
            counts.entry(c.0).or_default().push(c.1);
        }
        for (id, run) in &mut runs {
            scope_totals(run, counts.get(id).into_iter().flatten());
        }
    }
    let rows: Vec<(RuleRun, RunRuleCounts)> = run_ids
        .iter()
        .zip(counts)
        .filter_map(|(id, c)| runs.get(id).cloned().map(|r| (r, c)))
        .collect();
    Ok(page::finish(rows, limit, |(r, _)| r.id.to_string()))
}

/// Runs still queued or running (for tests and the worker's metrics).
pub fn open_runs(conn: &mut Conn) -> StoreResult<Vec<RuleRun>> {
    Ok(rn::table
        .filter(rn::status.eq_any([RunStatus::Queued.as_str(), RunStatus::Running.as_str()]))
        .order(rn::id.asc())
        .select(RuleRun::as_select())
        .load(conn)?)
}

/// Every user pending now (user id, stamp), for tests.
pub fn pending(conn: &mut Conn) -> StoreResult<Vec<(String, i64)>> {
    Ok(p::table
        .select((p::user_id, p::stamp))
        .order(p::user_id.asc())
        .load(conn)?)
}

/// A delta run's first pass over its pending users (read only): those with nothing to
/// do, to forget at once, and those to apply one by one.
#[derive(Debug, Clone, Default)]
pub struct DeltaPlan {
    /// Users each rule is the first match for, among those with nothing to do.
    pub matched: HashMap<i64, i64>,
    /// Pending users (and stamps) with nothing to do, or no longer stored.
    pub forget: Vec<(String, i64)>,
    /// Pending users (with their stamps) whose decision is not "nothing".
    pub act_on: Vec<Act>,
}

/// Decides for `pending` users in one read (see [`DeltaPlan`]).
pub fn plan_delta(
    conn: &mut Conn,
    rules: &[Rule],
    pending: &[(String, i64)],
) -> StoreResult<DeltaPlan> {
    let ids: Vec<String> = pending.iter().map(|(id, _)| id.clone()).collect();
    let subjects: HashMap<String, facts::Subject> = facts::many(conn, &ids)?
        .into_iter()
        .map(|s| (s.facts.id.clone(), s))
        .collect();
    let mut plan = DeltaPlan::default();
    for (id, stamp) in pending {
        let Some(s) = subjects.get(id) else {
            plan.forget.push((id.clone(), *stamp));
            continue;
        };
        let decision = evaluate(rules, &s.facts, &s.holdings);
        if matches!(decision, Decision::Nothing(_)) {
            if let Some(r) = winner(rules, &s.facts) {
                *plan.matched.entry(r.id()).or_default() += 1;
            }
            plan.forget.push((id.clone(), *stamp));
        } else {
            plan.act_on.push(Act {
                user: id.clone(),
                stamp: Some(*stamp),
                allocates_from: allocation(&decision),
            });
        }
    }
    Ok(plan)
}

/// Forgets pending users at the stamps given (a later change keeps its user pending).
pub fn forget(conn: &mut Conn, users: &[(String, i64)]) -> StoreResult<()> {
    // 2 parameters a user: 400 a statement stays below SQLite's bound-parameter cap.
    for chunk in users.chunks(400) {
        let mut q = diesel::delete(p::table).into_boxed();
        for (id, stamp) in chunk {
            q = q.or_filter(p::user_id.eq(id).and(p::stamp.eq(stamp)));
        }
        q.execute(conn)?;
    }
    Ok(())
}
