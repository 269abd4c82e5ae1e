//! Rule drafts, the shape a rule is sent and stored in, and the checks that make one a
//! [`Rule`].
//!
//! A draft holds words and ids as text so that a bad one is an error naming its field,
//! never a serde failure. Checking reports every problem at once (the web app's form shows
//! them all), but a bounded number of them: a list over its limit is one error and its
//! items are not read, and only the first bad item of a list is reported.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{
    Action, AssignmentCategory, Attribute, Condition, Op, Pool, Predicate, PredicateValue, Rule,
    evaluate::fold,
};
use crate::{NumberType, ParseEnumError, Tag, TagError, phone::is_known_country};

/// Longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Most predicates in one condition.
pub const MAX_PREDICATES: usize = 50;

/// Most values in one `in` list.
pub const MAX_IN_VALUES: usize = 1000;

/// Longest predicate value, in characters.
pub const MAX_VALUE_CHARS: usize = 256;

/// Highest priority; priorities run from 0 (tried first) to this.
pub const MAX_PRIORITY: i64 = 1_000_000;

/// A rule as sent and stored: `{name, priority, enabled, condition, action, leaver_policy}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleDraft {
    /// 1–100 characters.
    pub name: String,
    /// 0 to [`MAX_PRIORITY`]; lower goes first.
    pub priority: i64,
    /// Whether the rule runs.
    pub enabled: bool,
    /// Whom it applies to.
    pub condition: ConditionDraft,
    /// What it gives them.
    pub action: ActionDraft,
    /// `keep` or `unassign`.
    pub leaver_policy: String,
}

/// `{"all": [...]}` or `{"any": [...]}`: exactly one of the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConditionDraft {
    /// Every predicate must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<PredicateDraft>>,
    /// At least one predicate must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<PredicateDraft>>,
}

/// `{attribute, op, value}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PredicateDraft {
    /// An [`Attribute`] word.
    pub attribute: String,
    /// An [`Op`] word.
    pub op: String,
    /// One string, or a list for `in`.
    pub value: PredicateValue,
}

/// `{pool, assignment_category?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActionDraft {
    /// Where the number comes from.
    pub pool: PoolDraft,
    /// `primary`, `private` or `alternate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_category: Option<String>,
}

/// `{tags?, location_id?, range_id?, platform_id?, number_type?, country?}`, ids as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PoolDraft {
    /// Tags a number must all carry (at most 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Site id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    /// Range id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_id: Option<String>,
    /// Platform id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_id: Option<String>,
    /// A [`NumberType`] word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_type: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// One problem with a rule draft, and the field it is in, e.g. `condition.all[2].op`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RuleError {
    /// The path of the field, dotted, with list indexes in brackets.
    pub field: String,
    /// What is wrong with it.
    pub problem: RuleProblem,
}

/// What can be wrong with a field of a rule draft.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    /// A blank string or an empty list.
    #[error("must not be empty")]
    Empty,
    /// A string over its limit.
    #[error("is longer than {limit} characters")]
    TooLong {
        /// The limit, in characters.
        limit: usize,
    },
    /// A list over its limit.
    #[error("holds more than {limit} entries")]
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// A control character (a line break, a tab, …) in a name or value.
    #[error("contains a control character")]
    ControlCharacter,
    /// A word outside its vocabulary.
    #[error(transparent)]
    UnknownWord(#[from] ParseEnumError),
    /// `in` with a single string.
    #[error("must be a list of values for 'in'")]
    ListRequired,
    /// A list with an operator other than `in`.
    #[error("must be a single value for '{op}'; only 'in' takes a list")]
    ListNotAllowed {
        /// The operator.
        op: Op,
    },
    /// An operator the attribute does not allow.
    #[error("'{op}' cannot test '{attribute}'")]
    OpNotAllowed {
        /// The attribute.
        attribute: Attribute,
        /// The operator.
        op: Op,
    },
    /// Not `true` or `false` (for `account_enabled`).
    #[error("must be 'true' or 'false'")]
    NotABoolean,
    /// Not a positive integer id.
    #[error("'{0}' is not an id")]
    NotAnId(String),
    /// Not an ISO 3166-1 alpha-2 country libphonenumber knows.
    #[error("'{0}' is not an ISO 3166-1 alpha-2 country code")]
    UnknownCountry(String),
    /// A priority outside 0 to [`MAX_PRIORITY`].
    #[error("must be between 0 and {max}")]
    OutOfRange {
        /// The highest allowed.
        max: i64,
    },
    /// A condition with both `all` and `any`, or neither.
    #[error("must hold exactly one of 'all' and 'any'")]
    AllOrAny,
    /// A pool that names none of tags, location, range and platform.
    #[error("must name at least one of tags, location_id, range_id and platform_id")]
    Unanchored,
    /// A bad tag.
    #[error(transparent)]
    Tag(#[from] TagError),
}

/// Problems found so far.
#[derive(Default)]
struct Errors(Vec<RuleError>);

impl Errors {
    fn push(&mut self, field: impl Into<String>, problem: RuleProblem) {
        self.0.push(RuleError {
            field: field.into(),
            problem,
        });
    }

    /// The value, or `None` with the problem recorded against `field`.
    fn take<T>(&mut self, field: impl Into<String>, r: Result<T, RuleProblem>) -> Option<T> {
        r.map_err(|p| self.push(field, p)).ok()
    }

    /// Moves errors from a part checked on its own.
    fn take_all<T>(&mut self, r: Result<T, Vec<RuleError>>) -> Option<T> {
        r.map_err(|e| self.0.extend(e)).ok()
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Vec<RuleError>> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(self.0),
        }
    }
}

impl Rule {
    /// Checks a draft and gives it the store's `id` (any id will do for a preview of an
    /// unsaved rule); on failure, every problem found, in field order.
    pub fn parse(id: i64, draft: &RuleDraft) -> Result<Rule, Vec<RuleError>> {
        let mut e = Errors::default();
        let name = e.take("name", text(&draft.name, MAX_NAME_CHARS));
        let priority = e.take(
            "priority",
            if (0..=MAX_PRIORITY).contains(&draft.priority) {
                Ok(draft.priority)
            } else {
                Err(RuleProblem::OutOfRange { max: MAX_PRIORITY })
            },
        );
        let condition = e.take_all(Condition::parse(&draft.condition));
        let action = e.take_all(Action::parse(&draft.action));
        let leaver_policy = e.take(
            "leaver_policy",
            draft.leaver_policy.parse().map_err(RuleProblem::from),
        );
        let rule = (|| {
            Some(Rule {
                id,
                name: name?,
                priority: priority?,
                enabled: draft.enabled,
                condition: condition?,
                action: action?,
                leaver_policy: leaver_policy?,
            })
        })();
        e.finish(rule)
    }

    /// The rule as a draft again, for storing and showing; parsing it gives the same rule.
    pub fn to_draft(&self) -> RuleDraft {
        let predicates = |ps: &[Predicate]| {
            Some(
                ps.iter()
                    .map(|p| PredicateDraft {
                        attribute: p.attribute.as_str().to_string(),
                        op: p.op.as_str().to_string(),
                        value: p.value.clone(),
                    })
                    .collect(),
            )
        };
        let condition = match &self.condition {
            Condition::All(ps) => ConditionDraft {
                all: predicates(ps),
                any: None,
            },
            Condition::Any(ps) => ConditionDraft {
                all: None,
                any: predicates(ps),
            },
        };
        let pool = &self.action.pool;
        RuleDraft {
            name: self.name.clone(),
            priority: self.priority,
            enabled: self.enabled,
            condition,
            action: ActionDraft {
                pool: PoolDraft {
                    tags: pool.tags.iter().map(|t| t.name().to_string()).collect(),
                    location_id: pool.location_id.map(|v| v.to_string()),
                    range_id: pool.range_id.map(|v| v.to_string()),
                    platform_id: pool.platform_id.map(|v| v.to_string()),
                    number_type: pool.number_type.map(|v| v.as_str().to_string()),
                    country: pool.country.clone(),
                },
                assignment_category: self
                    .action
                    .assignment_category
                    .map(|c| c.as_str().to_string()),
            },
            leaver_policy: self.leaver_policy.as_str().to_string(),
        }
    }
}

impl Condition {
    /// Checks `condition.all` or `condition.any` and each of its predicates.
    pub fn parse(draft: &ConditionDraft) -> Result<Condition, Vec<RuleError>> {
        let mut e = Errors::default();
        let (key, list, make): (_, _, fn(Vec<Predicate>) -> Condition) =
            match (&draft.all, &draft.any) {
                (Some(list), None) => ("all", list, Condition::All),
                (None, Some(list)) => ("any", list, Condition::Any),
                _ => {
                    e.push("condition", RuleProblem::AllOrAny);
                    return e.finish(None);
                }
            };
        let field = format!("condition.{key}");
        if list.is_empty() {
            e.push(field, RuleProblem::Empty);
            return e.finish(None);
        }
        if list.len() > MAX_PREDICATES {
            e.push(
                field,
                RuleProblem::TooMany {
                    limit: MAX_PREDICATES,
                },
            );
            return e.finish(None);
        }
        let predicates: Vec<Option<Predicate>> = list
            .iter()
            .enumerate()
            .map(|(i, p)| e.take_all(Predicate::parse(p, &format!("{field}[{i}]"))))
            .collect();
        let predicates: Option<Vec<Predicate>> = predicates.into_iter().collect();
        e.finish(predicates.map(make))
    }
}

impl Predicate {
    /// Checks one predicate; `field` is its path (`condition.all[2]`), which the errors
    /// extend with `.attribute`, `.op` or `.value`.
    pub fn parse(draft: &PredicateDraft, field: &str) -> Result<Predicate, Vec<RuleError>> {
        let mut e = Errors::default();
        let attribute: Option<Attribute> = e.take(
            format!("{field}.attribute"),
            draft.attribute.parse().map_err(RuleProblem::from),
        );
        let mut op: Option<Op> = e.take(
            format!("{field}.op"),
            draft.op.parse().map_err(RuleProblem::from),
        );
        if let (Some(a), Some(o)) = (attribute, op)
            && !a.allows(o)
        {
            e.push(
                format!("{field}.op"),
                RuleProblem::OpNotAllowed {
                    attribute: a,
                    op: o,
                },
            );
            op = None;
        }
        let value = e.take_all(values(&draft.value, op, &format!("{field}.value")));
        let predicate = (|| {
            let (attribute, op, mut value) = (attribute?, op?, value?);
            if attribute == Attribute::AccountEnabled {
                let word = match &value {
                    PredicateValue::One(v) if v.eq_ignore_ascii_case("true") => "true",
                    PredicateValue::One(v) if v.eq_ignore_ascii_case("false") => "false",
                    _ => {
                        e.push(format!("{field}.value"), RuleProblem::NotABoolean);
                        return None;
                    }
                };
                value = PredicateValue::One(word.to_string());
            }
            let mut keys: Vec<String> = match &value {
                PredicateValue::One(v) => vec![fold(v).into_owned()],
                PredicateValue::List(vs) => vs.iter().map(|v| fold(v).into_owned()).collect(),
            };
            keys.sort_unstable();
            keys.dedup();
            Some(Predicate {
                attribute,
                op,
                value,
                keys,
            })
        })();
        e.finish(predicate)
    }
}

/// Checks a predicate's value(s) and its shape for `op` (when `op` is known); an `in`
/// list loses duplicates by key, the first spelling staying.
fn values(
    value: &PredicateValue,
    op: Option<Op>,
    field: &str,
) -> Result<PredicateValue, Vec<RuleError>> {
    let mut e = Errors::default();
    let checked = match (value, op) {
        (PredicateValue::One(_), Some(Op::In)) => {
            e.push(field, RuleProblem::ListRequired);
            None
        }
        (PredicateValue::List(_), Some(op)) if op != Op::In => {
            e.push(field, RuleProblem::ListNotAllowed { op });
            None
        }
        (PredicateValue::One(v), _) => e
            .take(field, text(v, MAX_VALUE_CHARS))
            .map(PredicateValue::One),
        (PredicateValue::List(vs), _) if vs.is_empty() => {
            e.push(field, RuleProblem::Empty);
            None
        }
        (PredicateValue::List(vs), _) if vs.len() > MAX_IN_VALUES => {
            e.push(
                field,
                RuleProblem::TooMany {
                    limit: MAX_IN_VALUES,
                },
            );
            None
        }
        (PredicateValue::List(vs), _) => {
            let mut out = Vec::with_capacity(vs.len());
            let mut seen = HashSet::with_capacity(vs.len());
            for (i, v) in vs.iter().enumerate() {
                match text(v, MAX_VALUE_CHARS) {
                    Ok(v) => {
                        if seen.insert(fold(&v).into_owned()) {
                            out.push(v);
                        }
                    }
                    Err(p) => {
                        e.push(format!("{field}[{i}]"), p);
                        break;
                    }
                }
            }
            Some(PredicateValue::List(out))
        }
    };
    e.finish(checked)
}

impl Action {
    /// Checks `action.pool` and `action.assignment_category`.
    pub fn parse(draft: &ActionDraft) -> Result<Action, Vec<RuleError>> {
        let mut e = Errors::default();
        let pool = e.take_all(Pool::parse(&draft.pool, "action.pool"));
        let assignment_category = e.take(
            "action.assignment_category",
            draft
                .assignment_category
                .as_deref()
                .map(str::parse::<AssignmentCategory>)
                .transpose()
                .map_err(RuleProblem::from),
        );
        let action = (|| {
            Some(Action {
                pool: pool?,
                assignment_category: assignment_category?,
            })
        })();
        e.finish(action)
    }
}

impl Pool {
    /// Checks a pool; `field` is its path (`action.pool`). It must name at least one of
    /// tags, location, range and platform (see [`Pool`]).
    pub fn parse(draft: &PoolDraft, field: &str) -> Result<Pool, Vec<RuleError>> {
        let mut e = Errors::default();
        let tags = e.take(
            format!("{field}.tags"),
            Tag::parse_set(&draft.tags).map_err(RuleProblem::from),
        );
        let mut id = |name: &str, v: &Option<String>| {
            e.take(
                format!("{field}.{name}"),
                v.as_deref().map(parse_id).transpose(),
            )
        };
        let location_id = id("location_id", &draft.location_id);
        let range_id = id("range_id", &draft.range_id);
        let platform_id = id("platform_id", &draft.platform_id);
        let number_type = e.take(
            format!("{field}.number_type"),
            draft
                .number_type
                .as_deref()
                .map(str::parse::<NumberType>)
                .transpose()
                .map_err(RuleProblem::from),
        );
        let country = e.take(
            format!("{field}.country"),
            draft
                .country
                .as_deref()
                .map(|c| {
                    let c = c.trim().to_ascii_uppercase();
                    if is_known_country(&c) {
                        Ok(c)
                    } else {
                        Err(RuleProblem::UnknownCountry(c))
                    }
                })
                .transpose(),
        );
        let pool = (|| {
            Some(Pool {
                tags: tags?,
                location_id: location_id?,
                range_id: range_id?,
                platform_id: platform_id?,
                number_type: number_type?,
                country: country?,
            })
        })();
        if let Some(p) = &pool
            && p.tags.is_empty()
            && p.location_id.is_none()
            && p.range_id.is_none()
            && p.platform_id.is_none()
        {
            e.push(field, RuleProblem::Unanchored);
        }
        e.finish(pool)
    }
}

/// A trimmed name or value: not blank, at most `limit` characters, no control characters.
fn text(input: &str, limit: usize) -> Result<String, RuleProblem> {
    let t = input.trim();
    if t.is_empty() {
        Err(RuleProblem::Empty)
    } else if t.chars().count() > limit {
        Err(RuleProblem::TooLong { limit })
    } else if t.chars().any(char::is_control) {
        Err(RuleProblem::ControlCharacter)
    } else {
        Ok(t.to_string())
    }
}

/// A positive integer id, as the store hands them out.
fn parse_id(v: &str) -> Result<i64, RuleProblem> {
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| RuleProblem::NotAnId(v.to_string()))
}
