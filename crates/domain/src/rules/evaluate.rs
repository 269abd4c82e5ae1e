//! The decision: rule set + one user's facts + the numbers they hold → what to do.
//!
//! See the module above for the rules it keeps; this file is only how.

use std::{borrow::Cow, cell::OnceCell};

use serde::{Deserialize, Serialize};

use super::{AssignmentCategory, Attribute, LeaverPolicy, Pool, Rule};
use crate::status::vocabulary;

/// What the directory says about one user, as the sync stored it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFacts {
    /// The Entra object id.
    pub id: String,
    /// The user principal name.
    pub upn: String,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Office location.
    pub office_location: Option<String>,
    /// Usage location.
    pub usage_location: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Whether the account may sign in.
    pub account_enabled: bool,
    /// Whether the user was deleted from the directory (kept, flagged).
    pub deleted: bool,
    /// The groups the user is a member of (deleted groups left out).
    pub groups: Vec<GroupRef>,
}

/// A group a user is a member of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupRef {
    /// The Entra object id.
    pub id: String,
    /// The display name.
    pub display_name: String,
}

/// A number assigned to the user now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    /// The number's id in the store.
    pub number_id: i64,
    /// The number, for previews and logs.
    pub e164: String,
    /// The rule that assigned it; `None` when a person (or an import, or the sync) did,
    /// and then no rule ever takes it back.
    pub rule_id: Option<i64>,
}

/// What to do for one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allocate one number from the rule's pool to the user.
    Assign(Assignment),
    /// Unassign these numbers into quarantine (sorted by number); then, for a mover who is
    /// left with nothing and matches a rule, allocate as `then` says.
    Unassign {
        /// The numbers to take back, each with its rule and why.
        numbers: Vec<Unassignment>,
        /// The allocation to make once they are gone.
        then: Option<Assignment>,
    },
    /// Nothing to do, and why.
    Nothing(Idle),
}

/// An allocation a rule asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The rule; its changes are audited as `rule:<name>`.
    pub rule_id: i64,
    /// Where the number comes from.
    pub pool: Pool,
    /// The Teams assignment category.
    pub assignment_category: Option<AssignmentCategory>,
}

/// A number a rule's leaver policy takes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unassignment {
    /// The number's id in the store.
    pub number_id: i64,
    /// The number.
    pub e164: String,
    /// The rule that gave it.
    pub rule_id: i64,
    /// Why it goes.
    pub reason: LeaveReason,
}

/// Why a rule's leaver policy takes a number back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LeaveReason {
    /// The user no longer matches the rule's condition.
    StoppedMatching,
    /// The user's account is disabled.
    Disabled,
    /// The user was deleted from the directory.
    Deleted,
}

vocabulary!(LeaveReason {
    StoppedMatching => "stopped_matching",
    Disabled => "disabled",
    Deleted => "deleted",
});

/// Why there is nothing to do for a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Idle {
    /// The user holds a number already, and no leaver policy takes it.
    HoldsNumber,
    /// No enabled rule matches the user.
    NoRuleMatches,
    /// The account is disabled: it gets no number.
    AccountDisabled,
    /// The user was deleted: they get no number.
    UserDeleted,
}

vocabulary!(Idle {
    HoldsNumber => "holds_number",
    NoRuleMatches => "no_rule_matches",
    AccountDisabled => "account_disabled",
    UserDeleted => "user_deleted",
});

/// Decides what the rules do for one user who holds `holdings` now.
///
/// `rules` may come in any order and hold disabled rules; passing them sorted by priority
/// (as the store loads them) lets the search stop at the first match.
pub fn evaluate(rules: &[Rule], user: &UserFacts, holdings: &[Holding]) -> Decision {
    let facts = Facts::new(user);
    let gone = if user.deleted {
        Some(LeaveReason::Deleted)
    } else if !user.account_enabled {
        Some(LeaveReason::Disabled)
    } else {
        None
    };

    let mut numbers: Vec<Unassignment> = holdings
        .iter()
        .filter_map(|h| {
            let rule = rules.iter().find(|r| Some(r.id) == h.rule_id)?;
            if !rule.enabled || rule.leaver_policy != LeaverPolicy::Unassign {
                return None;
            }
            let reason = match gone {
                Some(reason) => reason,
                None if !rule.condition.matches_facts(&facts) => LeaveReason::StoppedMatching,
                None => return None,
            };
            Some(Unassignment {
                number_id: h.number_id,
                e164: h.e164.clone(),
                rule_id: rule.id,
                reason,
            })
        })
        .collect();
    numbers.sort_by(|a, b| (&a.e164, a.number_id).cmp(&(&b.e164, b.number_id)));
    numbers.dedup_by_key(|u| u.number_id);

    let keeps_one = holdings
        .iter()
        .any(|h| !numbers.iter().any(|u| u.number_id == h.number_id));
    let then = match gone {
        None if !keeps_one => first_match(rules, &facts).map(|r| Assignment {
            rule_id: r.id,
            pool: r.action.pool.clone(),
            assignment_category: r.action.assignment_category,
        }),
        _ => None,
    };

    if !numbers.is_empty() {
        return Decision::Unassign { numbers, then };
    }
    match (then, gone) {
        (Some(a), _) => Decision::Assign(a),
        (None, Some(LeaveReason::Deleted)) => Decision::Nothing(Idle::UserDeleted),
        (None, Some(_)) => Decision::Nothing(Idle::AccountDisabled),
        (None, None) if keeps_one => Decision::Nothing(Idle::HoldsNumber),
        (None, None) => Decision::Nothing(Idle::NoRuleMatches),
    }
}

/// [`evaluate`] for many users (a preview, a full run), ordered by user id.
pub fn evaluate_all<'u>(
    rules: &[Rule],
    users: &'u [(UserFacts, Vec<Holding>)],
) -> Vec<(&'u str, Decision)> {
    let mut out: Vec<(&'u str, Decision)> = users
        .iter()
        .map(|(user, holdings)| (user.id.as_str(), evaluate(rules, user, holdings)))
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out
}

/// The rule that would assign to `user` if they held nothing: the enabled rule with the
/// lowest (priority, id) whose condition matches (a preview's and a run's "matched" count).
pub fn winner<'r>(rules: &'r [Rule], user: &UserFacts) -> Option<&'r Rule> {
    first_match(rules, &Facts::new(user))
}

/// The enabled rule with the lowest (priority, id) whose condition matches.
fn first_match<'r>(rules: &'r [Rule], facts: &Facts<'_>) -> Option<&'r Rule> {
    let mut best: Option<&Rule> = None;
    for rule in rules.iter().filter(|r| r.enabled) {
        // A rule behind the best match so far cannot win: skip its condition.
        if best.is_some_and(|b| b.order() <= rule.order()) {
            continue;
        }
        if rule.condition.matches_facts(facts) {
            best = Some(rule);
        }
    }
    best
}

/// A user's facts, trimmed and lower-cased on first use, so each is folded once however
/// many predicates test it.
pub(super) struct Facts<'u> {
    user: &'u UserFacts,
    text: [OnceCell<Option<Cow<'u, str>>>; Attribute::ALL.len()],
    groups: OnceCell<Vec<(Cow<'u, str>, Cow<'u, str>)>>,
}

impl<'u> Facts<'u> {
    pub(super) fn new(user: &'u UserFacts) -> Self {
        Facts {
            user,
            text: Default::default(),
            groups: OnceCell::new(),
        }
    }

    pub(super) fn user(&self) -> &'u UserFacts {
        self.user
    }

    /// A text attribute, folded; `None` when the user has none (or for `group` and
    /// `account_enabled`, which are not text).
    pub(super) fn text(&self, attribute: Attribute) -> Option<&str> {
        let u = self.user;
        self.text[attribute as usize]
            .get_or_init(|| {
                let raw = match attribute {
                    Attribute::Department => u.department.as_deref(),
                    Attribute::JobTitle => u.job_title.as_deref(),
                    Attribute::OfficeLocation => u.office_location.as_deref(),
                    Attribute::UsageLocation => u.usage_location.as_deref(),
                    Attribute::City => u.city.as_deref(),
                    Attribute::Country => u.country.as_deref(),
                    Attribute::UpnDomain => u.upn.rsplit_once('@').map(|(_, domain)| domain),
                    Attribute::Group | Attribute::AccountEnabled => None,
                };
                raw.map(fold)
            })
            .as_deref()
    }

    /// The user's groups as (id, display name), folded.
    pub(super) fn groups(&self) -> &[(Cow<'u, str>, Cow<'u, str>)] {
        self.groups.get_or_init(|| {
            self.user
                .groups
                .iter()
                .map(|g| (fold(&g.id), fold(&g.display_name)))
                .collect()
        })
    }
}

/// The comparison key of a value or fact: trimmed, lower case. Borrows when it already is
/// (most Entra ids and many values), so folding a directory costs few allocations.
pub(super) fn fold(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.is_ascii() && !t.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Borrowed(t)
    } else {
        Cow::Owned(t.to_lowercase())
    }
}
