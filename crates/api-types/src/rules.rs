//! Wire types of assignment rules (SPEC §6 `rule`), their previews and their runs.
//!
//! A rule is sent as `domain::rules::RuleDraft` (`{name, priority, enabled, condition,
//! action, leaver_policy}`, unknown fields refused) and checked by the domain's
//! `Rule::parse`, so the web app validates with the same code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

pub use domain::rules::{
    ActionDraft, ConditionDraft, LeaveReason, LeaverPolicy, PoolDraft, PredicateDraft,
    PredicateValue, RuleDraft, RunItemKind, RunStatus, RunTrigger,
};

/// A stored rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Rule {
    /// Id.
    pub id: String,
    /// Unique name (case-insensitive); its changes are audited as `rule:<name>`.
    pub name: String,
    /// Unique; lower is tried first (0–1000000).
    pub priority: i64,
    /// Whether it assigns and unassigns.
    pub enabled: bool,
    /// Whom it applies to: `{"all": [...]}` or `{"any": [...]}` of `{attribute, op, value}`.
    pub condition: ConditionDraft,
    /// The pool it allocates from and the Teams assignment category.
    pub action: ActionDraft,
    /// `keep`, or `unassign` into quarantine when the user stops matching, is disabled
    /// or is deleted.
    pub leaver_policy: LeaverPolicy,
    /// Increases on every change; also the `ETag`.
    pub version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a rule; absent fields stay, and none can be cleared, so `null` is refused
/// (400 naming the field) rather than read as "keep" (and a client built on this type never sends one). The
/// result is checked as a new rule is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    /// New name.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub name: Option<String>,
    /// New priority.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub priority: Option<i64>,
    /// Enable or pause it (a paused rule neither assigns nor unassigns).
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub enabled: Option<bool>,
    /// New condition.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = ConditionDraft))]
    pub condition: Option<ConditionDraft>,
    /// New action.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = ActionDraft))]
    pub action: Option<ActionDraft>,
    /// `keep` or `unassign`.
    #[serde(
        default,
        deserialize_with = "crate::not_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub leaver_policy: Option<String>,
}

/// Paging for `GET /api/v1/rules` and `GET /api/v1/rules/{id}/runs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct RuleQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 50).
    pub limit: Option<i64>,
}

/// Options of `POST /api/v1/rules/preview`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// The stored rule the draft is an edit of: the draft is previewed in its place and
    /// checked as saving the edit would check it (404 when absent or out of scope).
    /// Without it, the draft is previewed as a new rule beside every stored one.
    pub rule_id: Option<String>,
}

/// A page of rules, by priority.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RuleList {
    /// The rules.
    pub items: Vec<Rule>,
    /// The cursor of the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// A number a preview says the rule would assign.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreviewAssignment {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// The number they would get.
    pub number: String,
}

/// A number a preview says the rule's leaver policy would take back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreviewUnassignment {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// The number they would lose (into quarantine).
    pub number: String,
    /// Why.
    pub reason: LeaveReason,
}

/// A user a preview says matches the rule but would get nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreviewSkip {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// Why (`pool_exhausted`).
    pub reason: String,
}

/// The first lines of a preview's assignments and how many more there are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreviewAssignments {
    /// At most 1,000, in user-id order.
    pub items: Vec<PreviewAssignment>,
    /// Lines not shown.
    pub more: i64,
}

/// The first lines of a preview's unassignments and how many more there are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreviewUnassignments {
    /// At most 1,000, in user-id order.
    pub items: Vec<PreviewUnassignment>,
    /// Lines not shown.
    pub more: i64,
}

/// The first lines of a preview's skipped users and how many more there are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreviewSkips {
    /// At most 1,000, in user-id order.
    pub items: Vec<PreviewSkip>,
    /// Lines not shown.
    pub more: i64,
}

/// What a full run started now would do for one rule; nothing is changed. The rule is
/// previewed as if enabled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RulePreview {
    /// The rule previewed; `null` for an unsaved one.
    pub rule_id: Option<String>,
    /// Directory users evaluated.
    pub users_evaluated: i64,
    /// Users this rule is the first match for, whether they hold a number or not.
    pub matched: i64,
    /// Who would get which number.
    pub assign: PreviewAssignments,
    /// Who would lose which number.
    pub unassign: PreviewUnassignments,
    /// Who matches but would get nothing.
    pub skipped: PreviewSkips,
    /// How many more available numbers the pool needs to serve everyone it matches.
    pub short: i64,
}

/// A rule run: its trigger, state and totals.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RuleRun {
    /// Id.
    pub id: String,
    /// `delta` (after a sync), `manual` or `schedule`.
    pub trigger: RunTrigger,
    /// `queued`, `running`, `finished` or `failed`.
    pub status: RunStatus,
    /// Who asked: a person's name, `sync` or `schedule`.
    pub requested_by: String,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Users evaluated.
    pub users_evaluated: i64,
    /// Numbers assigned.
    pub assigned: i64,
    /// Numbers unassigned into quarantine.
    pub unassigned: i64,
    /// Users who matched but got nothing.
    pub skipped: i64,
    /// Users for whom something failed.
    pub errors: i64,
    /// Its change set: `GET /api/v1/change-sets/{id}`, and `POST …/revert` undoes it.
    pub change_set_id: String,
    /// Why it stopped, when it failed.
    pub error: Option<String>,
}

/// What a run did for one rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RuleRunRule {
    /// The rule.
    pub rule_id: String,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RuleRunItem {
    /// The user's object id.
    pub user_id: String,
    /// Their UPN.
    pub upn: String,
    /// The rule concerned.
    pub rule_id: Option<String>,
    /// `assigned`, `unassigned`, `skipped` or `error`.
    pub kind: RunItemKind,
    /// The number concerned.
    pub number: Option<String>,
    /// Why: the skip's reason (`pool_exhausted`), the leaver's (`stopped_matching`,
    /// `disabled`, `deleted`), or the error.
    pub reason: Option<String>,
}

/// A run with what it did per rule and its first 1,000 lines.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RuleRunDetail {
    /// The run.
    pub run: RuleRun,
    /// Per rule evaluated (a scoped caller sees its rules only).
    pub rules: Vec<RuleRunRule>,
    /// The lines, in the order they happened (a scoped caller sees its rules' only).
    pub items: Vec<RuleRunItem>,
    /// Lines the run counted but did not keep.
    pub items_not_shown: i64,
}

/// A run as one rule's history shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RuleRunOfRule {
    /// The run.
    pub run: RuleRun,
    /// What it did for this rule.
    pub rule: RuleRunRule,
}

/// A page of a rule's runs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RuleRunList {
    /// The runs.
    pub items: Vec<RuleRunOfRule>,
    /// The cursor of the next page; `null` at the end.
    pub next_cursor: Option<String>,
}
