//! Assignment rules (SPEC §5 "Rules"): the rules themselves, the directory facts they are
//! evaluated over, previews, and the runs that apply them.
//!
//! The decision is `domain::rules::evaluate`; this module stores rules, loads what the
//! decision needs, and writes its outcome through the same audited, race-free writes the
//! API uses (`lifecycle::allocate`, `lifecycle::apply`).
//!
//! Rules a newcomer would otherwise break:
//! - **A rule is checked against the estate when written.** Beyond the domain's checks,
//!   every group a predicate names with `equals`/`in` must exist (400 `unknown_group`),
//!   and the pool's location, range, platform and tags must exist (400 `unknown_*`); a
//!   platform (or a range's platform) must be a Teams platform (400 `platform_not_teams`).
//! - **Scope.** A rule belongs to the part of the estate its pool draws from: a scoped
//!   grant sees, previews and writes only rules whose pool lies inside it (its location
//!   is one of the grant's, and it requires one of the grant's tags, as for a number);
//!   other rules are absent (404), and writing a pool outside is 403 `out_of_scope` —
//!   decided before the estate checks, so it cannot tell whether an id exists. Names and
//!   priorities are unique installation-wide: a conflict with a rule outside the scope
//!   says the name or priority is taken (the caller must pick another) but never which
//!   rule holds it. A full evaluation spans every rule: only an unscoped admin may start one.
//! - **A rule's numbers are marked** (`numbers.assigned_rule_id`), written by
//!   [`runs`] right after its allocation and cleared by every other assign, reassign and
//!   unassign, whoever makes it. A leaver policy only ever takes back marked numbers.
//! - **Runs write only through a worker** (`crates/worker/src/rules.rs`), one change set
//!   per run, as actor `rule:<name>`; the API only queues a run ([`runs::request`]).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use domain::{
    PlatformKind, Scope,
    rules::{
        ActionDraft, Attribute, ConditionDraft, Op, PredicateValue, Rule, RuleDraft, RuleError,
    },
};
use serde_json::json;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    error::stored,
    page::{self, Page},
    schema::{directory_groups, locations, platforms, ranges, rules as r, tags},
};

mod facts;
pub mod preview;
pub mod runs;

/// Most rules an installation may hold: every evaluation tries them all, so the set
/// stays small enough to read at once (and a run's report names each).
pub const MAX_RULES: i64 = 200;

/// A stored rule: its checked definition as a draft, and its bookkeeping.
#[derive(Debug, Clone)]
pub struct StoredRule {
    /// Row id.
    pub id: i64,
    /// The definition, as [`Rule::to_draft`] writes it (normalised).
    pub draft: RuleDraft,
    /// Increases on every change (`If-Match`).
    pub version: i64,
    /// When it was created.
    pub created_at: NaiveDateTime,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
}

impl StoredRule {
    /// The checked rule. A stored definition that no longer parses (the database was
    /// edited by hand) is an internal error, never a guess.
    pub fn rule(&self) -> StoreResult<Rule> {
        Rule::parse(self.id, &self.draft).map_err(|e| {
            StoreError::Internal(format!(
                "rule {} holds a definition that does not parse: {}",
                self.id,
                first_problem(&e)
            ))
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = r)]
struct Row {
    id: i64,
    name: String,
    priority: i64,
    enabled: bool,
    condition_json: String,
    action_json: String,
    leaver_policy: String,
    version: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Row {
    fn into_stored(self) -> StoreResult<StoredRule> {
        let bad = |what: &str, e: serde_json::Error| {
            StoreError::Internal(format!("rule {} holds an unreadable {what}: {e}", self.id))
        };
        let condition: ConditionDraft =
            serde_json::from_str(&self.condition_json).map_err(|e| bad("condition", e))?;
        let action: ActionDraft =
            serde_json::from_str(&self.action_json).map_err(|e| bad("action", e))?;
        Ok(StoredRule {
            id: self.id,
            draft: RuleDraft {
                name: self.name,
                priority: self.priority,
                enabled: self.enabled,
                condition,
                action,
                leaver_policy: self.leaver_policy,
            },
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Every rule, by priority.
pub(crate) fn all(conn: &mut Conn) -> StoreResult<Vec<StoredRule>> {
    r::table
        .select(Row::as_select())
        .order(r::priority.asc())
        .load::<Row>(conn)?
        .into_iter()
        .map(Row::into_stored)
        .collect()
}

/// Every rule, checked, by priority: what an evaluation runs.
pub fn load(conn: &mut Conn) -> StoreResult<Vec<Rule>> {
    all(conn)?.iter().map(StoredRule::rule).collect()
}

/// The names of rules by id, for run reports and audit actors.
pub fn names(conn: &mut Conn) -> StoreResult<std::collections::HashMap<i64, String>> {
    Ok(r::table
        .select((r::id, r::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

/// True when a rule whose pool is `rule`'s lies inside `scope` (see the module docs).
pub fn in_scope(scope: &Scope, rule: &Rule) -> bool {
    if scope.is_unrestricted() {
        return true;
    }
    let pool = &rule.action().pool;
    let location = pool.location_id().map(|l| l.to_string());
    let keys: Vec<&str> = pool.tags().iter().map(|t| t.key()).collect();
    scope.admits(location.as_deref(), &keys)
}

fn visible(scope: &Scope, stored: &StoredRule) -> StoreResult<bool> {
    Ok(in_scope(scope, &stored.rule()?))
}

/// One rule, if it exists and lies in `scope` (404 otherwise).
pub fn get(conn: &mut Conn, scope: &Scope, id: i64) -> StoreResult<StoredRule> {
    let row: Option<Row> = r::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    let stored = row
        .ok_or_else(|| StoreError::not_found("rule", id))?
        .into_stored()?;
    if !visible(scope, &stored)? {
        return Err(StoreError::not_found("rule", id));
    }
    Ok(stored)
}

/// The rules in `scope`, by priority (the order they are tried in); the cursor is the
/// last priority of the page.
pub fn list(
    conn: &mut Conn,
    scope: &Scope,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<StoredRule>> {
    let limit = page::limit(limit)?;
    let after = cursor.map(page::decode_id).transpose()?;
    let mut items = Vec::new();
    // At most MAX_RULES rows: filtering by scope in Rust keeps the check in one place.
    for stored in all(conn)? {
        if after.is_some_and(|a| stored.draft.priority <= a) || !visible(scope, &stored)? {
            continue;
        }
        items.push(stored);
        if items.len() as i64 > limit {
            break;
        }
    }
    Ok(page::finish(items, limit, |s| s.draft.priority.to_string()))
}

/// The first problem of a draft as one line (`field: problem`), all of them after it.
fn first_problem(errors: &[RuleError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks a draft: the domain's rules, then that its pool lies in `scope` (403
/// `out_of_scope`), then the estate's (see the module docs). Returns the rule with `id`.
///
/// Scope comes before the estate: a pool naming a site, range or tag outside the caller's
/// scope is refused the same way whether it exists or not, so a scoped admin cannot probe
/// for ids it may not see.
pub fn check(conn: &mut Conn, scope: &Scope, id: i64, draft: &RuleDraft) -> StoreResult<Rule> {
    let rule = Rule::parse(id, draft).map_err(|errors| StoreError::Invalid {
        code: "invalid_field",
        field: errors
            .first()
            .map(|e| e.field.clone())
            .unwrap_or_else(|| "rule".into()),
        message: first_problem(&errors),
    })?;
    require_scope(scope, &rule)?;
    check_groups(conn, &rule)?;
    check_pool(conn, &rule)?;
    Ok(rule)
}

/// Every group an `equals` or `in` predicate names exists (by id or display name, as a
/// rule matches them), so a typo is a 400 rather than a rule that never matches.
fn check_groups(conn: &mut Conn, rule: &Rule) -> StoreResult<()> {
    let key = match rule.condition() {
        domain::rules::Condition::All(_) => "all",
        domain::rules::Condition::Any(_) => "any",
    };
    let named: Vec<(usize, &domain::rules::Predicate)> = rule
        .condition()
        .predicates()
        .iter()
        .enumerate()
        .filter(|(_, p)| p.attribute() == Attribute::Group && matches!(p.op(), Op::Equals | Op::In))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let fold = |s: &str| s.trim().to_lowercase();
    let mut known = std::collections::HashSet::new();
    let groups: Vec<(String, String)> = directory_groups::table
        .filter(directory_groups::deleted.eq(false))
        .select((directory_groups::id, directory_groups::display_name))
        .load(conn)?;
    for (id, name) in groups {
        known.insert(fold(&id));
        known.insert(fold(&name));
    }
    for (i, p) in named {
        let field = format!("condition.{key}[{i}].value");
        let missing = match p.value() {
            PredicateValue::One(v) => (!known.contains(&fold(v))).then(|| (field.clone(), v)),
            PredicateValue::List(vs) => vs
                .iter()
                .enumerate()
                .find(|(_, v)| !known.contains(&fold(v)))
                .map(|(j, v)| (format!("{field}[{j}]"), v)),
        };
        if let Some((field, value)) = missing {
            return Err(StoreError::invalid(
                "unknown_group",
                field,
                format!("no group in the directory has the id or display name '{value}'"),
            ));
        }
    }
    Ok(())
}

/// The pool's location, range, platform and tags exist; its platform, and its range's,
/// is a Teams platform.
fn check_pool(conn: &mut Conn, rule: &Rule) -> StoreResult<()> {
    let pool = &rule.action().pool;
    let not_teams = |field: &str, id: i64, kind: PlatformKind| {
        StoreError::invalid(
            "platform_not_teams",
            field,
            format!(
                "platform {id} is a {kind} platform; rules assign Teams numbers, so a pool's platform must be a teams platform"
            ),
        )
    };
    let platform_kind = |conn: &mut Conn, id: i64| -> StoreResult<Option<PlatformKind>> {
        platforms::table
            .find(id)
            .select(platforms::kind)
            .first::<String>(conn)
            .optional()?
            .map(|k| stored("platforms.kind", &k))
            .transpose()
    };
    if let Some(id) = pool.location_id() {
        let found: Option<i64> = locations::table
            .find(id)
            .select(locations::id)
            .first(conn)
            .optional()?;
        if found.is_none() {
            return Err(StoreError::invalid(
                "unknown_location",
                "action.pool.location_id",
                format!("location {id} does not exist"),
            ));
        }
    }
    if let Some(id) = pool.range_id() {
        let range: Option<Option<i64>> = ranges::table
            .find(id)
            .select(ranges::platform_id)
            .first(conn)
            .optional()?;
        match range {
            None => {
                return Err(StoreError::invalid(
                    "unknown_range",
                    "action.pool.range_id",
                    format!("range {id} does not exist"),
                ));
            }
            Some(Some(platform)) => match platform_kind(conn, platform)? {
                Some(kind) if kind != PlatformKind::Teams => {
                    return Err(not_teams("action.pool.range_id", platform, kind));
                }
                _ => {}
            },
            Some(None) => {}
        }
    }
    if let Some(id) = pool.platform_id() {
        match platform_kind(conn, id)? {
            None => {
                return Err(StoreError::invalid(
                    "unknown_platform",
                    "action.pool.platform_id",
                    format!("platform {id} does not exist"),
                ));
            }
            Some(kind) if kind != PlatformKind::Teams => {
                return Err(not_teams("action.pool.platform_id", id, kind));
            }
            Some(_) => {}
        }
    }
    for (i, tag) in pool.tags().iter().enumerate() {
        let found: Option<i64> = tags::table
            .filter(tags::key.eq(tag.key()))
            .select(tags::id)
            .first(conn)
            .optional()?;
        if found.is_none() {
            return Err(StoreError::invalid(
                "unknown_tag",
                format!("action.pool.tags[{i}]"),
                format!("no number or range carries the tag '{}'", tag.name()),
            ));
        }
    }
    Ok(())
}

fn require_scope(scope: &Scope, rule: &Rule) -> StoreResult<()> {
    if in_scope(scope, rule) {
        Ok(())
    } else {
        Err(StoreError::Forbidden {
            code: "out_of_scope",
            message: "the rule's pool lies outside your scope: it must name one of your locations and require one of your tags".into(),
        })
    }
}

/// Name and priority are unique installation-wide: a 409 naming the field. The holder of
/// a taken priority is named only when it lies in `scope`: a scoped admin learns that a
/// name or priority is taken (it must pick another), never which rule outside its scope
/// holds it.
pub(crate) fn check_unique(
    conn: &mut Conn,
    scope: &Scope,
    draft: &RuleDraft,
    except: Option<i64>,
) -> StoreResult<()> {
    let name_key = draft.name.trim().to_lowercase();
    let mut q = r::table
        .filter(r::name_key.eq(&name_key))
        .select(r::id)
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(r::id.ne(id));
    }
    if q.first::<i64>(conn).optional()?.is_some() {
        return Err(StoreError::Conflict {
            code: "rule_exists",
            message: format!("a rule named '{}' already exists", draft.name.trim()),
            details: json!({ "field": "name" }),
        });
    }
    let mut q = r::table
        .filter(r::priority.eq(draft.priority))
        .select((r::id, r::name))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(r::id.ne(id));
    }
    if let Some((other, name)) = q.first::<(i64, String)>(conn).optional()? {
        if !visible(scope, &get(conn, &Scope::unrestricted(), other)?)? {
            return Err(StoreError::Conflict {
                code: "priority_taken",
                message: format!(
                    "another rule has priority {} already; priorities are unique, so the order of rules is never a tie",
                    draft.priority
                ),
                details: json!({ "field": "priority" }),
            });
        }
        return Err(StoreError::Conflict {
            code: "priority_taken",
            message: format!(
                "rule '{name}' has priority {} already; priorities are unique, so the order of rules is never a tie",
                draft.priority
            ),
            details: json!({ "field": "priority", "rule_id": other.to_string() }),
        });
    }
    Ok(())
}

fn audit_view(stored: &StoredRule) -> Option<serde_json::Value> {
    let mut v = audit::snapshot(&stored.draft)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), json!(stored.id.to_string()));
        o.insert("version".into(), json!(stored.version));
    }
    Some(v)
}

/// Adds a rule (admin within scope; audited as `rule.create`).
pub fn create(
    conn: &mut Conn,
    permit: &domain::Permit,
    draft: &RuleDraft,
) -> StoreResult<StoredRule> {
    let rule = check(conn, permit.scope(), 0, draft)?;
    let count: i64 = r::table.count().get_result(conn)?;
    if count >= MAX_RULES {
        return Err(StoreError::conflict(
            "too_many_rules",
            format!("an installation holds at most {MAX_RULES} rules; delete one first"),
        ));
    }
    let normal = rule.to_draft();
    check_unique(conn, permit.scope(), &normal, None)?;
    let now = crate::now();
    diesel::insert_into(r::table)
        .values((
            r::name.eq(&normal.name),
            r::name_key.eq(normal.name.to_lowercase()),
            r::priority.eq(normal.priority),
            r::enabled.eq(normal.enabled),
            r::condition_json.eq(json_text(&normal.condition)?),
            r::action_json.eq(json_text(&normal.action)?),
            r::leaver_policy.eq(&normal.leaver_policy),
            r::version.eq(1),
            r::created_at.eq(now),
            r::updated_at.eq(now),
        ))
        .execute(conn)?;
    // The priority is unique: it finds the row just added.
    let id: i64 = r::table
        .filter(r::priority.eq(normal.priority))
        .select(r::id)
        .first(conn)?;
    let created = get(conn, &Scope::unrestricted(), id)?;
    audit::record(
        conn,
        permit,
        Change {
            action: "rule.create",
            entity_kind: "rule",
            entity_id: &id.to_string(),
            before: None,
            after: audit_view(&created),
        },
    )?;
    Ok(created)
}

fn json_text<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(format!("serialising a rule: {e}")))
}

/// Changes to a rule: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct RulePatch {
    /// New name.
    pub name: Option<String>,
    /// New priority.
    pub priority: Option<i64>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New condition.
    pub condition: Option<ConditionDraft>,
    /// New action.
    pub action: Option<ActionDraft>,
    /// New leaver policy.
    pub leaver_policy: Option<String>,
}

/// Edits a rule in scope, version-guarded (`if_match`: 412 when stale); the new pool
/// must lie in scope too. Audited as `rule.update`.
pub fn update(
    conn: &mut Conn,
    permit: &domain::Permit,
    id: i64,
    patch: RulePatch,
    if_match: Option<i64>,
) -> StoreResult<StoredRule> {
    let before = get(conn, permit.scope(), id)?;
    if let Some(v) = if_match.filter(|v| *v != before.version) {
        return Err(StoreError::Stale {
            expected: v,
            current: before.version,
        });
    }
    let mut draft = before.draft.clone();
    if let Some(v) = patch.name {
        draft.name = v;
    }
    if let Some(v) = patch.priority {
        draft.priority = v;
    }
    if let Some(v) = patch.enabled {
        draft.enabled = v;
    }
    if let Some(v) = patch.condition {
        draft.condition = v;
    }
    if let Some(v) = patch.action {
        draft.action = v;
    }
    if let Some(v) = patch.leaver_policy {
        draft.leaver_policy = v;
    }
    let rule = check(conn, permit.scope(), id, &draft)?;
    let normal = rule.to_draft();
    check_unique(conn, permit.scope(), &normal, Some(id))?;
    let n = diesel::update(
        r::table
            .filter(r::id.eq(id))
            .filter(r::version.eq(before.version)),
    )
    .set((
        r::name.eq(&normal.name),
        r::name_key.eq(normal.name.to_lowercase()),
        r::priority.eq(normal.priority),
        r::enabled.eq(normal.enabled),
        r::condition_json.eq(json_text(&normal.condition)?),
        r::action_json.eq(json_text(&normal.action)?),
        r::leaver_policy.eq(&normal.leaver_policy),
        r::version.eq(before.version + 1),
        r::updated_at.eq(crate::now()),
    ))
    .execute(conn)?;
    if n == 0 {
        let current = get(conn, &Scope::unrestricted(), id)?;
        return Err(StoreError::Stale {
            expected: before.version,
            current: current.version,
        });
    }
    let after = get(conn, &Scope::unrestricted(), id)?;
    audit::record(
        conn,
        permit,
        Change {
            action: "rule.update",
            entity_kind: "rule",
            entity_id: &id.to_string(),
            before: audit_view(&before),
            after: audit_view(&after),
        },
    )?;
    Ok(after)
}

/// Removes a rule in scope (version-guarded). The numbers it gave stay assigned, and
/// from now on are kept like a person's (no rule takes them back). Audited as
/// `rule.delete`.
pub fn delete(
    conn: &mut Conn,
    permit: &domain::Permit,
    id: i64,
    if_match: Option<i64>,
) -> StoreResult<()> {
    let before = get(conn, permit.scope(), id)?;
    if let Some(v) = if_match.filter(|v| *v != before.version) {
        return Err(StoreError::Stale {
            expected: v,
            current: before.version,
        });
    }
    let n = diesel::delete(
        r::table
            .filter(r::id.eq(id))
            .filter(r::version.eq(before.version)),
    )
    .execute(conn)?;
    if n == 0 {
        return Err(StoreError::conflict(
            "concurrent_change",
            format!("rule {id} changed while it was being deleted; retry"),
        ));
    }
    audit::record(
        conn,
        permit,
        Change {
            action: "rule.delete",
            entity_kind: "rule",
            entity_id: &id.to_string(),
            before: audit_view(&before),
            after: None,
        },
    )
}

/// A rule's pool in the allocation's terms.
pub(crate) fn pool_of(p: &domain::rules::Pool) -> crate::lifecycle::Pool {
    crate::lifecycle::Pool {
        tags: p.tags().iter().map(|t| t.key().to_string()).collect(),
        location_id: p.location_id(),
        range_id: p.range_id(),
        platform_id: p.platform_id(),
        number_type: p.number_type(),
        country: p.country().map(str::to_string),
    }
}
