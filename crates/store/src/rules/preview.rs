//! A rule's preview: what a full run started now would do for it, changing nothing.
//!
//! The preview walks the directory exactly as a run does — users by id, each decided by
//! `domain::rules::evaluate` against the whole rule set, each allocation taking the
//! lowest available number of its pool that no earlier allocation of the walk took — so
//! a run started right after it, over the same state, assigns the same numbers to the
//! same people. Every rule's allocations are simulated (pools may overlap); only the
//! previewed rule's are reported. The one place the two can differ: a number unassigned
//! into a zero-day quarantine is available again at once, and a run may hand it out in
//! the same run where the preview does not.

use std::collections::{HashMap, HashSet, VecDeque};

use domain::rules::{Assignment, Decision, LeaveReason, Rule, evaluate, winner};

use super::{facts, pool_of};
use crate::{Conn, StoreResult, lifecycle};

/// How many lines each list of a preview shows; the rest are counted.
pub const PREVIEW_LIST_CAP: usize = 1000;

/// How many numbers a pool walk reads at a time.
const PAGE: i64 = 1000;

/// A list of a preview: the first [`PREVIEW_LIST_CAP`] lines and how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped<T> {
    /// The first lines, in user-id order.
    pub items: Vec<T>,
    /// How many lines there are in all.
    pub total: i64,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Capped {
            items: Vec::new(),
            total: 0,
        }
    }
}

impl<T> Capped<T> {
    fn push(&mut self, item: T) {
        self.total += 1;
        if self.items.len() < PREVIEW_LIST_CAP {
            self.items.push(item);
        }
    }
}

/// A number the rule would assign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WouldAssign {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// The number they would get.
    pub number: String,
}

/// A number the rule's leaver policy would take back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WouldUnassign {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// The number they would lose.
    pub number: String,
    /// Why.
    pub reason: LeaveReason,
}

/// A user the rule would assign to but cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WouldSkip {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// Why (`pool_exhausted`).
    pub reason: String,
}

/// What a run started now would do for one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// Directory users looked at.
    pub users_evaluated: i64,
    /// Users this rule is the first match for (holding a number or not).
    pub matched: i64,
    /// Who would get which number.
    pub assign: Capped<WouldAssign>,
    /// Who would lose which number.
    pub unassign: Capped<WouldUnassign>,
    /// Who matches but would get nothing.
    pub skipped: Capped<WouldSkip>,
    /// How many more available numbers the pool would need to serve everyone.
    pub short: i64,
}

/// A pool read in E.164 order, a page at a time.
struct Walk {
    buffered: VecDeque<(i64, String)>,
    after: String,
    done: bool,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            buffered: VecDeque::new(),
            after: String::new(),
            done: false,
        }
    }

    /// The lowest number of the pool that no earlier step took.
    fn next(
        &mut self,
        conn: &mut Conn,
        pool: &lifecycle::Pool,
        taken: &HashSet<i64>,
    ) -> StoreResult<Option<(i64, String)>> {
        loop {
            while let Some((id, e164)) = self.buffered.pop_front() {
                if !taken.contains(&id) {
                    return Ok(Some((id, e164)));
                }
            }
            if self.done {
                return Ok(None);
            }
            let page = lifecycle::available_in_pool(conn, pool, &self.after, PAGE)?;
            self.done = (page.len() as i64) < PAGE;
            if let Some((_, last)) = page.last() {
                self.after = last.clone();
            }
            self.buffered.extend(page);
        }
    }
}

/// What a full run would do for rule `focus` among `rules` (which must hold it), over
/// the directory and inventory as they are now, as `scope` may see it: a number the
/// leaver policy would take back that lies outside the scope (the rule assigned it
/// before its pool was moved) is left out, line and count. Reads only.
pub fn preview(
    conn: &mut Conn,
    scope: &domain::Scope,
    rules: &[Rule],
    focus: i64,
) -> StoreResult<Preview> {
    let subjects = facts::everyone(conn)?;
    let mut out = Preview {
        users_evaluated: subjects.len() as i64,
        ..Preview::default()
    };
    let mut unassign = Vec::new();
    let mut taken: HashSet<i64> = HashSet::new();
    let mut walks: HashMap<i64, Walk> = HashMap::new();
    let pools: HashMap<i64, lifecycle::Pool> = rules
        .iter()
        .map(|r| (r.id(), pool_of(&r.action().pool)))
        .collect();
    for s in &subjects {
        if winner(rules, &s.facts).is_some_and(|r| r.id() == focus) {
            out.matched += 1;
        }
        let allocation = match evaluate(rules, &s.facts, &s.holdings) {
            Decision::Nothing(_) => None,
            Decision::Assign(a) => Some(a),
            Decision::Unassign { numbers, then } => {
                for u in numbers.into_iter().filter(|u| u.rule_id == focus) {
                    unassign.push(WouldUnassign {
                        user_id: s.facts.id.clone(),
                        upn: s.facts.upn.clone(),
                        number: u.e164,
                        reason: u.reason,
                    });
                }
                then
            }
        };
        let Some(Assignment { rule_id, .. }) = allocation else {
            continue;
        };
        let Some(pool) = pools.get(&rule_id) else {
            continue;
        };
        let walk = walks.entry(rule_id).or_insert_with(Walk::new);
        match walk.next(conn, pool, &taken)? {
            Some((id, e164)) => {
                taken.insert(id);
                if rule_id == focus {
                    out.assign.push(WouldAssign {
                        user_id: s.facts.id.clone(),
                        upn: s.facts.upn.clone(),
                        number: e164,
                    });
                }
            }
            None if rule_id == focus => {
                out.short += 1;
                out.skipped.push(WouldSkip {
                    user_id: s.facts.id.clone(),
                    upn: s.facts.upn.clone(),
                    reason: "pool_exhausted".into(),
                });
            }
            None => {}
        }
    }
    let shown = if scope.is_unrestricted() {
        None
    } else {
        let e164s: Vec<&str> = unassign.iter().map(|u| u.number.as_str()).collect();
        Some(crate::scope::visible_numbers(conn, scope, &e164s)?)
    };
    for u in unassign {
        if shown.as_ref().is_none_or(|s| s.contains(&u.number)) {
            out.unassign.push(u);
        }
    }
    Ok(out)
}

/// The rule set a preview of `draft` (saved as `id`, or unsaved) evaluates: the stored
/// rules with this one in its place, enabled — a preview shows what the rule does when
/// it runs, even while it is paused.
pub fn with_candidate(stored: Vec<Rule>, candidate: Rule) -> Vec<Rule> {
    let mut rules: Vec<Rule> = stored
        .into_iter()
        .filter(|r| r.id() != candidate.id())
        .collect();
    rules.push(candidate);
    rules.sort_by_key(|r| (r.priority(), r.id()));
    rules
}

/// The id an unsaved rule is previewed under: after every stored rule, so a priority
/// tie (which saving would refuse) goes to the stored one.
pub const UNSAVED_ID: i64 = i64::MAX;

/// The preview of stored rule `id` (in `scope`, else 404), as if it were enabled.
pub fn preview_saved(conn: &mut Conn, scope: &domain::Scope, id: i64) -> StoreResult<Preview> {
    let stored = super::get(conn, scope, id)?;
    let mut draft = stored.draft.clone();
    draft.enabled = true;
    let candidate = StoredRuleDraft { id, draft }.rule()?;
    let rules = with_candidate(super::load(conn)?, candidate);
    preview(conn, scope, &rules, id)
}

/// The preview of an unsaved rule, checked as saving it would check it (400 naming the
/// field; 403 when its pool lies outside `scope`; 409 when its name or priority is
/// taken), as if it were enabled: a new rule
/// beside the stored ones, or, with `replaces`, an edit of stored rule `replaces` (in
/// `scope`, else 404) in its place — its own numbers stay its own.
pub fn preview_draft(
    conn: &mut Conn,
    scope: &domain::Scope,
    draft: &domain::rules::RuleDraft,
    replaces: Option<i64>,
) -> StoreResult<Preview> {
    let mut draft = draft.clone();
    draft.enabled = true;
    let id = match replaces {
        Some(id) => super::get(conn, scope, id)?.id,
        None => UNSAVED_ID,
    };
    let candidate = super::check(conn, scope, id, &draft)?;
    // A name or priority another rule holds: 409 naming the field, as saving answers.
    super::check_unique(conn, scope, &candidate.to_draft(), replaces)?;
    let rules = with_candidate(super::load(conn)?, candidate);
    preview(conn, scope, &rules, id)
}

/// A stored definition with another `enabled`, parsed as the stored rule is.
struct StoredRuleDraft {
    id: i64,
    draft: domain::rules::RuleDraft,
}

impl StoredRuleDraft {
    fn rule(self) -> StoreResult<Rule> {
        super::StoredRule {
            id: self.id,
            draft: self.draft,
            version: 0,
            created_at: chrono::NaiveDateTime::default(),
            updated_at: chrono::NaiveDateTime::default(),
        }
        .rule()
    }
}
