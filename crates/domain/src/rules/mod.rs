//! Automatic assignment rules (SPEC §5 "Rules"): what a rule is, and the one pure decision
//! the worker, the API's preview and the web app all make with it.
//!
//! A rule is a condition over a directory user, a pool to allocate from and a leaver
//! policy. [`evaluate`] takes the rule set, one user's facts and the numbers the user holds
//! now, and answers: assign one number from a pool, unassign numbers a rule handed out
//! (into quarantine, like any unassign), or nothing. It reads no clock and no database, so
//! the same directory state always gives the same answer, and applying an answer and
//! asking again gives [`Decision::Nothing`] (the table test checks that for every case).
//! Which number a pool yields is the store's business (the lowest available E.164).
//!
//! The rules a newcomer would otherwise break:
//! - **First match wins.** Enabled rules are tried by `priority`, lowest first (the store
//!   keeps priorities unique; a tie would go to the lower id), and only the first whose
//!   condition matches may assign. A user who holds any number, from a rule or from a
//!   person, gets no second one.
//! - **A rule takes back only its own numbers, and only by its leaver policy.** A holding
//!   records the rule that gave it ([`Holding::rule_id`]); a number assigned by a person is
//!   never unassigned here. With [`LeaverPolicy::Unassign`] the number goes when the user
//!   is deleted, is disabled, or no longer matches *that rule's* condition; matching a
//!   higher-priority rule as well is not "stopping matching".
//! - **A disabled rule neither assigns nor unassigns.** The numbers it gave stay where they
//!   are until it is enabled again, when its leaver policy applies at the next run:
//!   pausing a rule must never strip people of their numbers. A holding whose rule no
//!   longer exists is treated like a person's assignment: kept.
//! - **A mover is one decision.** When a rule's leaver policy takes a user's number and,
//!   with it gone, the user holds nothing and matches a rule, the answer is
//!   [`Decision::Unassign`] with `then` set: the worker unassigns and allocates in the
//!   same run, so a mover is not left without a number until the next one. Should the
//!   allocation fail (an exhausted pool), the next evaluation sees no holding and answers
//!   [`Decision::Assign`]: the two paths converge. Under a `keep` policy the mover keeps
//!   the old number and gets nothing new.
//! - **Disabled and deleted users never get a number**, whatever the rules say.
//! - **Case.** Every comparison trims and lower-cases both sides with `str::to_lowercase`
//!   (Unicode, as tags do). There is no normalisation or full case folding (`ß` ≠ `SS`),
//!   which Entra's mostly-ASCII values do not need. A group predicate matches a group's
//!   id or its display name; the UPN domain is what follows the last `@`. A fact the user
//!   does not have (no department, a UPN without `@`) matches no predicate.
//!
//! [`RuleDraft`] is the stored and wire shape (words and ids as text); [`Rule::parse`] is
//! the only way to a [`Rule`], and reports every problem with the field it is in
//! (`condition.all[2].op`).

use serde::{Deserialize, Serialize};

use crate::{NumberType, Tag, status::vocabulary};

mod evaluate;
mod parse;

pub use evaluate::{
    Assignment, Decision, GroupRef, Holding, Idle, LeaveReason, Unassignment, UserFacts, evaluate,
    evaluate_all, winner,
};
pub use parse::{
    ActionDraft, ConditionDraft, MAX_IN_VALUES, MAX_NAME_CHARS, MAX_PREDICATES, MAX_PRIORITY,
    MAX_VALUE_CHARS, PoolDraft, PredicateDraft, RuleDraft, RuleError, RuleProblem,
};

/// One automatic assignment rule, checked: the only way to get one is [`Rule::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    id: i64,
    name: String,
    priority: i64,
    enabled: bool,
    condition: Condition,
    action: Action,
    leaver_policy: LeaverPolicy,
}

impl Rule {
    /// The rule's id in the store.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Its name (trimmed); the audit names its changes `rule:<name>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its place in the order: lower goes first.
    pub fn priority(&self) -> i64 {
        self.priority
    }

    /// Whether it assigns and unassigns at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whom it applies to.
    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    /// What it gives them.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// What happens to its numbers when their holder leaves it.
    pub fn leaver_policy(&self) -> LeaverPolicy {
        self.leaver_policy
    }

    /// True when the rule's condition selects `user` (whether or not the rule is enabled).
    pub fn matches(&self, user: &UserFacts) -> bool {
        self.condition.matches(user)
    }

    /// The order rules are tried in: priority, then id.
    fn order(&self) -> (i64, i64) {
        (self.priority, self.id)
    }
}

/// Whom a rule applies to: all or any of its predicates.
///
/// A parsed condition is never empty; one built by hand with no predicates matches no one
/// (rather than everyone, which would hand the pool out to the whole directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Every predicate holds.
    All(Vec<Predicate>),
    /// At least one predicate holds.
    Any(Vec<Predicate>),
}

impl Condition {
    /// Its predicates, in the order given.
    pub fn predicates(&self) -> &[Predicate] {
        match self {
            Condition::All(p) | Condition::Any(p) => p,
        }
    }

    /// True when the condition selects `user`.
    pub fn matches(&self, user: &UserFacts) -> bool {
        self.matches_facts(&evaluate::Facts::new(user))
    }

    fn matches_facts(&self, facts: &evaluate::Facts<'_>) -> bool {
        match self {
            Condition::All(ps) => !ps.is_empty() && ps.iter().all(|p| p.matches(facts)),
            Condition::Any(ps) => ps.iter().any(|p| p.matches(facts)),
        }
    }
}

/// One test of one attribute of a user, e.g. `department starts_with "Sales"`.
///
/// Built only by [`Predicate::parse`], so the operator suits the attribute and the value
/// has the shape the operator needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predicate {
    attribute: Attribute,
    op: Op,
    value: PredicateValue,
    /// The value(s) trimmed and lower-cased; for `equals` and `in` sorted and without
    /// duplicates, so membership is a binary search.
    keys: Vec<String>,
}

impl Predicate {
    /// What it tests.
    pub fn attribute(&self) -> Attribute {
        self.attribute
    }

    /// How it compares.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The value as entered (trimmed; an `in` list without duplicates, first spelling kept).
    pub fn value(&self) -> &PredicateValue {
        &self.value
    }

    fn matches(&self, facts: &evaluate::Facts<'_>) -> bool {
        match self.attribute {
            Attribute::AccountEnabled => {
                let word = if facts.user().account_enabled {
                    "true"
                } else {
                    "false"
                };
                self.test(word)
            }
            Attribute::Group => facts
                .groups()
                .iter()
                .any(|(id, name)| self.test(id) || self.test(name)),
            text => facts.text(text).is_some_and(|v| self.test(v)),
        }
    }

    /// Compares one folded fact with the folded value(s).
    fn test(&self, fact: &str) -> bool {
        match self.op {
            Op::Equals | Op::In => self.keys.binary_search_by(|k| k.as_str().cmp(fact)).is_ok(),
            Op::StartsWith => self
                .keys
                .first()
                .is_some_and(|k| fact.starts_with(k.as_str())),
            Op::Contains => self.keys.first().is_some_and(|k| fact.contains(k.as_str())),
        }
    }
}

/// A predicate's value: one string, or a list for `in`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PredicateValue {
    /// For `equals`, `starts_with` and `contains`.
    One(String),
    /// For `in`.
    List(Vec<String>),
}

/// The directory attribute a predicate tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Attribute {
    /// A group the user is a member of, by id or display name.
    Group,
    /// Department.
    Department,
    /// Job title.
    JobTitle,
    /// Office location.
    OfficeLocation,
    /// Usage location (an ISO country code in Entra).
    UsageLocation,
    /// City.
    City,
    /// Country (free text in Entra).
    Country,
    /// The part of the UPN after the last `@`.
    UpnDomain,
    /// Whether the account is enabled (`true` / `false`, with `equals` only).
    AccountEnabled,
}

vocabulary!(Attribute {
    Group => "group",
    Department => "department",
    JobTitle => "job_title",
    OfficeLocation => "office_location",
    UsageLocation => "usage_location",
    City => "city",
    Country => "country",
    UpnDomain => "upn_domain",
    AccountEnabled => "account_enabled",
});

impl Attribute {
    /// True when `op` may test this attribute: every operator may test text, only
    /// `equals` may test `account_enabled`.
    pub fn allows(self, op: Op) -> bool {
        self != Attribute::AccountEnabled || op == Op::Equals
    }
}

/// How a predicate compares, always without regard to case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Op {
    /// The attribute is the value.
    Equals,
    /// The attribute is one of a list of values.
    In,
    /// The attribute begins with the value.
    StartsWith,
    /// The attribute holds the value somewhere.
    Contains,
}

vocabulary!(Op {
    Equals => "equals",
    In => "in",
    StartsWith => "starts_with",
    Contains => "contains",
});

/// What a rule gives a user it selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// Where the number comes from.
    pub pool: Pool,
    /// The Teams assignment category; `None` leaves Graph's default (`primary`).
    pub assignment_category: Option<AssignmentCategory>,
}

/// The numbers a rule may allocate from: every field narrows it.
///
/// Built only by [`Pool::parse`], which refuses a pool that names none of tags, location,
/// range or platform: country and number type alone would reach across every site and
/// carrier of a country, so a rule could hand out numbers nobody meant for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    tags: Vec<Tag>,
    location_id: Option<i64>,
    range_id: Option<i64>,
    platform_id: Option<i64>,
    number_type: Option<NumberType>,
    country: Option<String>,
}

impl Pool {
    /// Tags a number must all carry.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The site.
    pub fn location_id(&self) -> Option<i64> {
        self.location_id
    }

    /// The range.
    pub fn range_id(&self) -> Option<i64> {
        self.range_id
    }

    /// The platform.
    pub fn platform_id(&self) -> Option<i64> {
        self.platform_id
    }

    /// The number type.
    pub fn number_type(&self) -> Option<NumberType> {
        self.number_type
    }

    /// The ISO 3166-1 alpha-2 country, upper case.
    pub fn country(&self) -> Option<&str> {
        self.country.as_deref()
    }
}

/// Teams' `assignmentCategory` for a user's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AssignmentCategory {
    /// The user's main number (Graph's default).
    Primary,
    /// An incoming-only number that is not shown to callers.
    Private,
    /// An additional number.
    Alternate,
}

vocabulary!(AssignmentCategory {
    Primary => "primary",
    Private => "private",
    Alternate => "alternate",
});

/// What happens to a rule's number when its holder is deleted, is disabled or stops
/// matching the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LeaverPolicy {
    /// The holder keeps it; a person decides.
    Keep,
    /// It is unassigned into quarantine.
    Unassign,
}

vocabulary!(LeaverPolicy {
    Keep => "keep",
    Unassign => "unassign",
});

/// What started a rule run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunTrigger {
    /// The users a directory sync changed, right after it.
    Delta,
    /// Everyone, asked for by a person (`POST /api/v1/rules/evaluate`).
    Manual,
    /// Everyone, on the schedule setting.
    Schedule,
}

vocabulary!(RunTrigger {
    Delta => "delta",
    Manual => "manual",
    Schedule => "schedule",
});

/// Where a rule run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker is applying it.
    Running,
    /// Done (some users may have been skipped or failed: see its counts).
    Finished,
    /// Stopped by an error before every user was evaluated.
    Failed,
}

vocabulary!(RunStatus {
    Queued => "queued",
    Running => "running",
    Finished => "finished",
    Failed => "failed",
});

/// What one line of a run's report says happened to a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunItemKind {
    /// A number was assigned to the user.
    Assigned,
    /// A number was taken back from the user into quarantine.
    Unassigned,
    /// The user matched a rule but got nothing (the reason says why).
    Skipped,
    /// Something failed for this user; the reason holds the error (the word `error`).
    Failed,
}

vocabulary!(RunItemKind {
    Assigned => "assigned",
    Unassigned => "unassigned",
    Skipped => "skipped",
    Failed => "error",
});

#[cfg(test)]
mod tests;
