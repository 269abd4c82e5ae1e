use serde_json::{Value, json};

use super::*;
use crate::{ParseEnumError, TagError};

// ---- builders -------------------------------------------------------------------------

/// A rule from its JSON draft, as the API and the store hand it over.
fn rule_from(id: i64, draft: Value) -> Rule {
    let draft: RuleDraft = serde_json::from_value(draft).expect("a well-formed draft");
    Rule::parse(id, &draft).unwrap_or_else(|e| panic!("rule {id} is refused: {e:?}"))
}

/// Rule `id` at `priority` with a leaver policy and a condition; its pool is the tag
/// `pool<id>`.
fn rule(id: i64, priority: i64, leaver: &str, condition: Value) -> Rule {
    rule_from(
        id,
        json!({
            "name": format!("rule {id}"),
            "priority": priority,
            "enabled": true,
            "condition": condition,
            "action": {"pool": {"tags": [format!("pool{id}")]}},
            "leaver_policy": leaver,
        }),
    )
}

/// The same rule, switched off.
fn disabled(id: i64, priority: i64, leaver: &str, condition: Value) -> Rule {
    let mut draft = rule(id, priority, leaver, condition).to_draft();
    draft.enabled = false;
    Rule::parse(id, &draft).expect("still valid")
}

fn pred(attribute: &str, op: &str, value: Value) -> Value {
    json!({"attribute": attribute, "op": op, "value": value})
}

fn all(predicates: &[Value]) -> Value {
    json!({ "all": predicates })
}

fn any(predicates: &[Value]) -> Value {
    json!({ "any": predicates })
}

/// Members of the Sales group (by name).
fn in_sales() -> Value {
    all(&[pred("group", "equals", json!("Sales"))])
}

/// People whose department is Engineering.
fn engineers() -> Value {
    all(&[pred("department", "equals", json!("Engineering"))])
}

/// Everyone in London.
fn londoners() -> Value {
    all(&[pred("city", "equals", json!("London"))])
}

const SALES_GROUP_ID: &str = "7C1E2D3C-AAAA-4BBB-8CCC-000000000001";

/// Alice: enabled, in the Sales group and department, in London.
fn alice() -> UserFacts {
    UserFacts {
        id: "u-alice".into(),
        upn: "Alice.Smith@Contoso.com".into(),
        department: Some("Sales".into()),
        job_title: Some("Senior Account Manager".into()),
        office_location: Some("London Bridge, Floor 3".into()),
        usage_location: Some("GB".into()),
        city: Some("London".into()),
        country: Some("United Kingdom".into()),
        account_enabled: true,
        deleted: false,
        groups: vec![
            GroupRef {
                id: SALES_GROUP_ID.into(),
                display_name: "Sales".into(),
            },
            GroupRef {
                id: "7c1e2d3c-aaaa-4bbb-8ccc-000000000002".into(),
                display_name: "All Staff".into(),
            },
        ],
    }
}

/// Alice after moving to Engineering: out of the Sales group, still in London.
fn alice_in_engineering() -> UserFacts {
    UserFacts {
        department: Some("Engineering".into()),
        groups: vec![GroupRef {
            id: "7c1e2d3c-aaaa-4bbb-8ccc-000000000003".into(),
            display_name: "Engineering".into(),
        }],
        ..alice()
    }
}

/// Alice, account disabled.
fn alice_disabled() -> UserFacts {
    UserFacts {
        account_enabled: false,
        ..alice()
    }
}

/// Alice, deleted from the directory (and so disabled too).
fn alice_deleted() -> UserFacts {
    UserFacts {
        account_enabled: false,
        deleted: true,
        ..alice()
    }
}

/// Bob: an engineer in Berlin at Fabrikam, no groups, no office.
fn bob() -> UserFacts {
    UserFacts {
        id: "u-bob".into(),
        upn: "bob@fabrikam.de".into(),
        department: Some("Engineering".into()),
        job_title: None,
        office_location: None,
        usage_location: Some("DE".into()),
        city: Some("Berlin".into()),
        country: Some("Germany".into()),
        account_enabled: true,
        deleted: false,
        groups: vec![],
    }
}

fn e164(number_id: i64) -> String {
    format!("+4420712345{number_id:02}")
}

/// A number rule `rule_id` assigned.
fn from_rule(number_id: i64, rule_id: i64) -> Holding {
    Holding {
        number_id,
        e164: e164(number_id),
        rule_id: Some(rule_id),
    }
}

/// A number a person assigned.
fn from_person(number_id: i64) -> Holding {
    Holding {
        number_id,
        e164: e164(number_id),
        rule_id: None,
    }
}

/// A decision with pools left out, for a compact table.
#[derive(Debug, PartialEq)]
enum Want {
    Assign(i64),
    /// (number id, rule id, reason) in number order, then the rule that allocates.
    Unassign(Vec<(i64, i64, LeaveReason)>, Option<i64>),
    Nothing(Idle),
}

fn summary(d: &Decision) -> Want {
    match d {
        Decision::Assign(a) => Want::Assign(a.rule_id),
        Decision::Unassign { numbers, then } => Want::Unassign(
            numbers
                .iter()
                .map(|u| (u.number_id, u.rule_id, u.reason))
                .collect(),
            then.as_ref().map(|a| a.rule_id),
        ),
        Decision::Nothing(why) => Want::Nothing(*why),
    }
}

/// The holdings after the worker carried out `d` (a new number gets id 90).
fn apply(d: &Decision, holdings: &[Holding]) -> Vec<Holding> {
    let mut out = holdings.to_vec();
    let allocate = match d {
        Decision::Assign(a) => Some(a),
        Decision::Unassign { numbers, then } => {
            out.retain(|h| !numbers.iter().any(|u| u.number_id == h.number_id));
            then.as_ref()
        }
        Decision::Nothing(_) => None,
    };
    if let Some(a) = allocate {
        out.push(from_rule(90, a.rule_id));
    }
    out
}

// ---- matching -------------------------------------------------------------------------

#[test]
fn each_attribute_and_operator_matches_without_regard_to_case() {
    let no_at = UserFacts {
        upn: "legacy-account".into(),
        ..alice()
    };
    let two_ats = UserFacts {
        upn: "odd@name@Fabrikam.COM".into(),
        ..alice()
    };
    let austrian = UserFacts {
        department: Some("Vertrieb Österreich".into()),
        ..bob()
    };
    let padded = UserFacts {
        city: Some("  London ".into()),
        ..alice()
    };
    // (attribute, op, value, user, matches)
    let table: Vec<(&str, &str, Value, UserFacts, bool)> = vec![
        // Groups: by id or by display name, either in any case.
        ("group", "equals", json!("Sales"), alice(), true),
        ("group", "equals", json!("sALES"), alice(), true),
        ("group", "equals", json!(SALES_GROUP_ID), alice(), true),
        (
            "group",
            "equals",
            json!(SALES_GROUP_ID.to_lowercase()),
            alice(),
            true,
        ),
        ("group", "equals", json!("Sale"), alice(), false),
        ("group", "equals", json!("Sales"), bob(), false),
        (
            "group",
            "in",
            json!(["Marketing", "all staff"]),
            alice(),
            true,
        ),
        (
            "group",
            "in",
            json!(["Marketing", "Finance"]),
            alice(),
            false,
        ),
        ("group", "starts_with", json!("all"), alice(), true),
        ("group", "starts_with", json!("7c1e2d3c"), alice(), true),
        ("group", "contains", json!("STAFF"), alice(), true),
        ("group", "contains", json!("Staff"), bob(), false),
        // Department.
        ("department", "equals", json!("sales"), alice(), true),
        ("department", "equals", json!("Sale"), alice(), false),
        (
            "department",
            "in",
            json!(["Marketing", "SALES"]),
            alice(),
            true,
        ),
        ("department", "in", json!(["Marketing"]), alice(), false),
        ("department", "starts_with", json!("SA"), alice(), true),
        ("department", "starts_with", json!("ales"), alice(), false),
        ("department", "contains", json!("ale"), alice(), true),
        ("department", "contains", json!("x"), alice(), false),
        (
            "department",
            "contains",
            json!("ÖSTERREICH"),
            austrian.clone(),
            true,
        ),
        (
            "department",
            "equals",
            json!("vertrieb österreich"),
            austrian,
            true,
        ),
        // A fact the user does not have matches nothing.
        ("job_title", "contains", json!("a"), bob(), false),
        ("office_location", "starts_with", json!("L"), bob(), false),
        // Job title, office, usage location, city, country.
        (
            "job_title",
            "contains",
            json!("account manager"),
            alice(),
            true,
        ),
        (
            "job_title",
            "equals",
            json!("Account Manager"),
            alice(),
            false,
        ),
        (
            "office_location",
            "starts_with",
            json!("london bridge"),
            alice(),
            true,
        ),
        ("office_location", "equals", json!("London"), alice(), false),
        ("usage_location", "equals", json!("gb"), alice(), true),
        ("usage_location", "in", json!(["US", "gb"]), alice(), true),
        ("usage_location", "in", json!(["US", "DE"]), alice(), false),
        ("city", "equals", json!("LONDON"), alice(), true),
        ("city", "equals", json!("London"), padded, true),
        ("city", "equals", json!("London"), bob(), false),
        ("country", "contains", json!("kingdom"), alice(), true),
        ("country", "starts_with", json!("Ger"), bob(), true),
        ("country", "equals", json!("UK"), alice(), false),
        // The UPN domain: after the last '@'; none without one.
        ("upn_domain", "equals", json!("contoso.com"), alice(), true),
        ("upn_domain", "equals", json!("CONTOSO.COM"), alice(), true),
        ("upn_domain", "equals", json!("fabrikam.com"), two_ats, true),
        ("upn_domain", "starts_with", json!("contoso"), alice(), true),
        (
            "upn_domain",
            "in",
            json!(["fabrikam.de", "x.org"]),
            bob(),
            true,
        ),
        ("upn_domain", "contains", json!("smith"), alice(), false),
        ("upn_domain", "contains", json!("legacy"), no_at, false),
        // Account enabled: equals true / false.
        ("account_enabled", "equals", json!("true"), alice(), true),
        ("account_enabled", "equals", json!("TRUE"), alice(), true),
        (
            "account_enabled",
            "equals",
            json!("true"),
            alice_disabled(),
            false,
        ),
        (
            "account_enabled",
            "equals",
            json!("false"),
            alice_disabled(),
            true,
        ),
        ("account_enabled", "equals", json!("false"), alice(), false),
    ];
    for (attribute, op, value, user, want) in table {
        let condition = all(&[pred(attribute, op, value.clone())]);
        let draft: ConditionDraft = serde_json::from_value(condition).expect("a draft");
        let c = Condition::parse(&draft).expect("a valid condition");
        assert_eq!(
            c.matches(&user),
            want,
            "{attribute} {op} {value} for {} ({:?})",
            user.upn,
            user.department
        );
    }
}

#[test]
fn all_needs_every_predicate_and_any_needs_one() {
    let sales = pred("department", "equals", json!("Sales"));
    let berlin = pred("city", "equals", json!("Berlin"));
    let nowhere = pred("city", "equals", json!("Atlantis"));
    // (condition, alice matches, bob matches)
    let table = [
        (all(std::slice::from_ref(&sales)), true, false),
        (all(&[sales.clone(), berlin.clone()]), false, false),
        (any(&[sales.clone(), berlin.clone()]), true, true),
        (any(&[nowhere.clone(), berlin.clone()]), false, true),
        (any(std::slice::from_ref(&nowhere)), false, false),
    ];
    for (condition, for_alice, for_bob) in table {
        let draft: ConditionDraft = serde_json::from_value(condition.clone()).expect("draft");
        let c = Condition::parse(&draft).expect("valid");
        assert_eq!(c.matches(&alice()), for_alice, "alice: {condition}");
        assert_eq!(c.matches(&bob()), for_bob, "bob: {condition}");
    }
    // Built by hand without predicates, a condition selects no one, never everyone.
    assert!(!Condition::All(vec![]).matches(&alice()));
    assert!(!Condition::Any(vec![]).matches(&alice()));
}

// ---- decisions ------------------------------------------------------------------------

#[test]
fn the_seed_example_gives_a_sales_member_a_number_from_the_sales_pool() {
    let sales = rule_from(
        1,
        json!({
            "name": "Sales get a London number",
            "priority": 10,
            "enabled": true,
            "condition": {"all": [{"attribute": "group", "op": "equals", "value": "Sales"}]},
            "action": {"pool": {"tags": ["Sales"], "number_type": "direct_routing"},
                       "assignment_category": "primary"},
            "leaver_policy": "unassign",
        }),
    );
    let Decision::Assign(a) = evaluate(std::slice::from_ref(&sales), &alice(), &[]) else {
        panic!("alice should be assigned a number");
    };
    assert_eq!(a.rule_id, 1);
    assert_eq!(
        a.pool.tags().iter().map(Tag::name).collect::<Vec<_>>(),
        ["Sales"]
    );
    assert_eq!(a.pool.number_type(), Some(NumberType::DirectRouting));
    assert_eq!(a.assignment_category, Some(AssignmentCategory::Primary));
    assert_eq!(
        evaluate(&[sales], &bob(), &[]),
        Decision::Nothing(Idle::NoRuleMatches)
    );
}

/// (case, rules, user, holdings, expected decision).
type Case = (&'static str, Vec<Rule>, UserFacts, Vec<Holding>, Want);

#[test]
fn every_case_of_the_decision_table_and_its_rerun_changes_nothing() {
    use Idle::*;
    use LeaveReason::*;
    use Want::Nothing;
    let upn_and_enabled = all(&[
        pred("upn_domain", "equals", json!("contoso.com")),
        pred("account_enabled", "equals", json!("true")),
    ]);
    let table: Vec<Case> = vec![
        // Assigning: the first enabled rule by priority that matches.
        (
            "a group member gets a number",
            vec![rule(1, 10, "keep", in_sales())],
            alice(),
            vec![],
            Want::Assign(1),
        ),
        (
            "no rule matches",
            vec![rule(1, 10, "keep", in_sales())],
            bob(),
            vec![],
            Nothing(NoRuleMatches),
        ),
        (
            "no rules at all",
            vec![],
            alice(),
            vec![],
            Nothing(NoRuleMatches),
        ),
        (
            "the lower priority number wins",
            vec![
                rule(1, 20, "keep", in_sales()),
                rule(2, 10, "keep", londoners()),
            ],
            alice(),
            vec![],
            Want::Assign(2),
        ),
        (
            "priority, not id or position, decides",
            vec![
                rule(9, 5, "keep", londoners()),
                rule(1, 6, "keep", in_sales()),
            ],
            alice(),
            vec![],
            Want::Assign(9),
        ),
        (
            "a rule that does not match is passed over",
            vec![
                rule(1, 1, "keep", engineers()),
                rule(2, 2, "keep", in_sales()),
            ],
            alice(),
            vec![],
            Want::Assign(2),
        ),
        (
            "a disabled rule is skipped",
            vec![
                disabled(1, 1, "keep", in_sales()),
                rule(2, 5, "keep", londoners()),
            ],
            alice(),
            vec![],
            Want::Assign(2),
        ),
        (
            "only a disabled rule matches",
            vec![disabled(1, 1, "keep", in_sales())],
            alice(),
            vec![],
            Nothing(NoRuleMatches),
        ),
        (
            "any of the predicates is enough",
            vec![rule(
                1,
                1,
                "keep",
                any(&[
                    pred("department", "equals", json!("Engineering")),
                    pred("city", "equals", json!("london")),
                ]),
            )],
            alice(),
            vec![],
            Want::Assign(1),
        ),
        (
            "upn domain and account enabled select alice",
            vec![rule(1, 1, "keep", upn_and_enabled.clone())],
            alice(),
            vec![],
            Want::Assign(1),
        ),
        (
            "upn domain and account enabled pass bob over",
            vec![rule(1, 1, "keep", upn_and_enabled)],
            bob(),
            vec![],
            Nothing(NoRuleMatches),
        ),
        (
            "a rule for disabled accounts never assigns",
            vec![rule(
                1,
                1,
                "keep",
                all(&[pred("account_enabled", "equals", json!("false"))]),
            )],
            alice_disabled(),
            vec![],
            Nothing(AccountDisabled),
        ),
        (
            "a disabled user gets no number",
            vec![rule(1, 1, "keep", in_sales())],
            alice_disabled(),
            vec![],
            Nothing(AccountDisabled),
        ),
        (
            "a deleted user gets no number",
            vec![rule(1, 1, "keep", in_sales())],
            alice_deleted(),
            vec![],
            Nothing(UserDeleted),
        ),
        // Holding already: no second number.
        (
            "a number from a person means no second one",
            vec![rule(1, 1, "unassign", in_sales())],
            alice(),
            vec![from_person(1)],
            Nothing(HoldsNumber),
        ),
        (
            "a number from the rule means no second one",
            vec![rule(1, 1, "unassign", in_sales())],
            alice(),
            vec![from_rule(1, 1)],
            Nothing(HoldsNumber),
        ),
        (
            "still matching the old rule while a better one matches too keeps the number",
            vec![
                rule(1, 5, "unassign", in_sales()),
                rule(2, 1, "unassign", londoners()),
            ],
            alice(),
            vec![from_rule(1, 1)],
            Nothing(HoldsNumber),
        ),
        // A person's numbers are never the rules' to take.
        (
            "a person's number stays with a deleted user",
            vec![rule(1, 1, "unassign", in_sales())],
            alice_deleted(),
            vec![from_person(1)],
            Nothing(UserDeleted),
        ),
        (
            "a person's number stays with a disabled user",
            vec![rule(1, 1, "unassign", in_sales())],
            alice_disabled(),
            vec![from_person(1)],
            Nothing(AccountDisabled),
        ),
        (
            "a person's number stays with a user who stopped matching",
            vec![rule(1, 1, "unassign", in_sales())],
            alice_in_engineering(),
            vec![from_person(1)],
            Nothing(HoldsNumber),
        ),
        // Leavers under `unassign`.
        (
            "deleted: the rule's number goes",
            vec![rule(1, 1, "unassign", in_sales())],
            alice_deleted(),
            vec![from_rule(1, 1)],
            Want::Unassign(vec![(1, 1, Deleted)], None),
        ),
        (
            "disabled: the rule's number goes",
            vec![rule(1, 1, "unassign", in_sales())],
            alice_disabled(),
            vec![from_rule(1, 1)],
            Want::Unassign(vec![(1, 1, Disabled)], None),
        ),
        (
            "stopped matching: the rule's number goes",
            vec![rule(1, 1, "unassign", in_sales())],
            alice_in_engineering(),
            vec![from_rule(1, 1)],
            Want::Unassign(vec![(1, 1, StoppedMatching)], None),
        ),
        (
            "deleted: a person's number stays while the rule's goes",
            vec![rule(1, 1, "unassign", in_sales())],
            alice_deleted(),
            vec![from_person(2), from_rule(1, 1)],
            Want::Unassign(vec![(1, 1, Deleted)], None),
        ),
        (
            "deleted: numbers of two rules go, in number order",
            vec![
                rule(1, 1, "unassign", in_sales()),
                rule(2, 2, "unassign", londoners()),
            ],
            alice_deleted(),
            vec![from_rule(7, 2), from_rule(3, 1)],
            Want::Unassign(vec![(3, 1, Deleted), (7, 2, Deleted)], None),
        ),
        // Leavers under `keep`.
        (
            "deleted under keep: the number stays",
            vec![rule(1, 1, "keep", in_sales())],
            alice_deleted(),
            vec![from_rule(1, 1)],
            Nothing(UserDeleted),
        ),
        (
            "disabled under keep: the number stays",
            vec![rule(1, 1, "keep", in_sales())],
            alice_disabled(),
            vec![from_rule(1, 1)],
            Nothing(AccountDisabled),
        ),
        (
            "stopped matching under keep: the number stays",
            vec![rule(1, 1, "keep", in_sales())],
            alice_in_engineering(),
            vec![from_rule(1, 1)],
            Nothing(HoldsNumber),
        ),
        // Movers.
        (
            "a mover under unassign swaps numbers in one decision",
            vec![
                rule(1, 1, "unassign", in_sales()),
                rule(2, 2, "unassign", engineers()),
            ],
            alice_in_engineering(),
            vec![from_rule(1, 1)],
            Want::Unassign(vec![(1, 1, StoppedMatching)], Some(2)),
        ),
        (
            "a mover under keep keeps the old number and gets no second",
            vec![
                rule(1, 1, "keep", in_sales()),
                rule(2, 2, "unassign", engineers()),
            ],
            alice_in_engineering(),
            vec![from_rule(1, 1)],
            Nothing(HoldsNumber),
        ),
        (
            "a mover who also holds a person's number gets no new one",
            vec![
                rule(1, 1, "unassign", in_sales()),
                rule(2, 2, "unassign", engineers()),
            ],
            alice_in_engineering(),
            vec![from_rule(1, 1), from_person(2)],
            Want::Unassign(vec![(1, 1, StoppedMatching)], None),
        ),
        (
            "a mover whose new rule is disabled only loses the old number",
            vec![
                rule(1, 1, "unassign", in_sales()),
                disabled(2, 2, "unassign", engineers()),
            ],
            alice_in_engineering(),
            vec![from_rule(1, 1)],
            Want::Unassign(vec![(1, 1, StoppedMatching)], None),
        ),
        // A disabled or vanished rule leaves its numbers alone.
        (
            "a disabled rule does not take back from a deleted user",
            vec![disabled(1, 1, "unassign", in_sales())],
            alice_deleted(),
            vec![from_rule(1, 1)],
            Nothing(UserDeleted),
        ),
        (
            "a disabled rule does not take back from a mover",
            vec![
                disabled(1, 1, "unassign", in_sales()),
                rule(2, 2, "unassign", engineers()),
            ],
            alice_in_engineering(),
            vec![from_rule(1, 1)],
            Nothing(HoldsNumber),
        ),
        (
            "a number from a rule that no longer exists stays",
            vec![rule(2, 2, "unassign", engineers())],
            alice_deleted(),
            vec![from_rule(1, 1)],
            Nothing(UserDeleted),
        ),
    ];
    for (case, rules, user, holdings, want) in table {
        let decision = evaluate(&rules, &user, &holdings);
        assert_eq!(summary(&decision), want, "{case}");

        // Deterministic: the order rules and holdings arrive in changes nothing.
        let mut rules_reversed = rules.clone();
        rules_reversed.reverse();
        let mut holdings_reversed = holdings.clone();
        holdings_reversed.reverse();
        assert_eq!(
            evaluate(&rules_reversed, &user, &holdings_reversed),
            decision,
            "{case}: input order"
        );

        // Idempotent: once the decision is carried out, there is nothing left to do.
        let after = apply(&decision, &holdings);
        let again = evaluate(&rules, &user, &after);
        assert!(
            matches!(again, Decision::Nothing(_)),
            "{case}: the rerun wants {again:?}"
        );
        assert_eq!(evaluate(&rules, &user, &after), again, "{case}: stable");
    }
}

#[test]
fn a_mover_whose_new_pool_is_exhausted_is_assigned_at_the_next_run() {
    let rules = [
        rule(1, 1, "unassign", in_sales()),
        rule(2, 2, "keep", engineers()),
    ];
    let mover = alice_in_engineering();
    let first = evaluate(&rules, &mover, &[from_rule(1, 1)]);
    assert_eq!(
        summary(&first),
        Want::Unassign(vec![(1, 1, LeaveReason::StoppedMatching)], Some(2))
    );
    // The unassign happened, the allocation found nothing: the user holds nothing now.
    let second = evaluate(&rules, &mover, &[]);
    assert_eq!(summary(&second), Want::Assign(2));
    let third = evaluate(&rules, &mover, &apply(&second, &[]));
    assert_eq!(third, Decision::Nothing(Idle::HoldsNumber));
}

#[test]
fn a_disabled_rules_leaver_policy_applies_once_it_is_enabled_again() {
    let off = [disabled(1, 1, "unassign", in_sales())];
    let on = [rule(1, 1, "unassign", in_sales())];
    let holdings = [from_rule(4, 1)];
    assert_eq!(
        evaluate(&off, &alice_deleted(), &holdings),
        Decision::Nothing(Idle::UserDeleted)
    );
    assert_eq!(
        summary(&evaluate(&on, &alice_deleted(), &holdings)),
        Want::Unassign(vec![(4, 1, LeaveReason::Deleted)], None)
    );
}

#[test]
fn evaluating_a_directory_orders_the_decisions_by_user_id() {
    let rules = [
        rule(1, 1, "unassign", in_sales()),
        rule(2, 2, "keep", engineers()),
    ];
    let carol = UserFacts {
        id: "u-carol".into(),
        ..alice_deleted()
    };
    let users = vec![
        (carol, vec![from_rule(3, 1)]),
        (bob(), vec![]),
        (alice(), vec![from_person(5)]),
    ];
    let decisions = evaluate_all(&rules, &users);
    let got: Vec<(&str, Want)> = decisions.iter().map(|(id, d)| (*id, summary(d))).collect();
    assert_eq!(
        got,
        [
            ("u-alice", Want::Nothing(Idle::HoldsNumber)),
            ("u-bob", Want::Assign(2)),
            (
                "u-carol",
                Want::Unassign(vec![(3, 1, LeaveReason::Deleted)], None)
            ),
        ]
    );
}

// ---- checking drafts ------------------------------------------------------------------

/// A valid draft that each validation case breaks in one way.
fn valid() -> Value {
    json!({
        "name": "Sales London",
        "priority": 10,
        "enabled": true,
        "condition": {"all": [
            {"attribute": "group", "op": "equals", "value": "Sales"},
            {"attribute": "city", "op": "in", "value": ["London", "Croydon"]},
            {"attribute": "account_enabled", "op": "equals", "value": "true"},
        ]},
        "action": {"pool": {"tags": ["Sales"], "location_id": "3"}},
        "leaver_policy": "unassign",
    })
}

fn check(draft: Value) -> Result<Rule, Vec<RuleError>> {
    let draft: RuleDraft = serde_json::from_value(draft).expect("a well-formed draft");
    Rule::parse(7, &draft)
}

fn unknown<T: std::str::FromStr<Err = ParseEnumError>>(word: &str) -> RuleProblem {
    match word.parse::<T>() {
        Err(e) => RuleProblem::UnknownWord(e),
        Ok(_) => panic!("'{word}' is a known word"),
    }
}

fn many(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("value {i}")).collect()
}

#[test]
fn bad_drafts_are_refused_with_the_field_named() {
    use RuleProblem as P;
    type Edit = Box<dyn Fn(&mut Value)>;
    let set = |path: &'static str, v: Value| -> Edit {
        Box::new(move |d: &mut Value| *d.pointer_mut(path).expect(path) = v.clone())
    };
    let value_of = |i: usize, v: Value| -> Edit {
        Box::new(move |d: &mut Value| d["condition"]["all"][i]["value"] = v.clone())
    };
    let op_of = |i: usize, op: &'static str| -> Edit {
        Box::new(move |d: &mut Value| d["condition"]["all"][i]["op"] = json!(op))
    };
    let pool =
        |v: Value| -> Edit { Box::new(move |d: &mut Value| d["action"]["pool"] = v.clone()) };
    // (edit, expected errors)
    let table: Vec<(Edit, Vec<(&str, RuleProblem)>)> = vec![
        (set("/name", json!("")), vec![("name", P::Empty)]),
        (set("/name", json!("   ")), vec![("name", P::Empty)]),
        (
            set("/name", json!("x".repeat(MAX_NAME_CHARS + 1))),
            vec![("name", P::TooLong { limit: 100 })],
        ),
        (
            set("/name", json!("Sales\nLondon")),
            vec![("name", P::ControlCharacter)],
        ),
        (
            set("/priority", json!(-1)),
            vec![("priority", P::OutOfRange { max: MAX_PRIORITY })],
        ),
        (
            set("/priority", json!(MAX_PRIORITY + 1)),
            vec![("priority", P::OutOfRange { max: MAX_PRIORITY })],
        ),
        (
            set("/condition", json!({})),
            vec![("condition", P::AllOrAny)],
        ),
        (
            set("/condition", json!({"all": [], "any": []})),
            vec![("condition", P::AllOrAny)],
        ),
        (
            set("/condition", json!({"all": []})),
            vec![("condition.all", P::Empty)],
        ),
        (
            set("/condition", json!({"any": []})),
            vec![("condition.any", P::Empty)],
        ),
        (
            set(
                "/condition",
                json!({"all": vec![pred("city", "equals", json!("London")); MAX_PREDICATES + 1]}),
            ),
            vec![("condition.all", P::TooMany { limit: 50 })],
        ),
        (
            set("/condition/all/0/attribute", json!("manager")),
            vec![(
                "condition.all[0].attribute",
                unknown::<Attribute>("manager"),
            )],
        ),
        (
            op_of(2, "matches"),
            vec![("condition.all[2].op", unknown::<Op>("matches"))],
        ),
        (
            value_of(1, json!("London")),
            vec![("condition.all[1].value", P::ListRequired)],
        ),
        (
            value_of(1, json!([])),
            vec![("condition.all[1].value", P::Empty)],
        ),
        (
            value_of(1, json!(many(MAX_IN_VALUES + 1))),
            vec![("condition.all[1].value", P::TooMany { limit: 1000 })],
        ),
        (
            value_of(1, json!(["London", " ", ""])),
            vec![("condition.all[1].value[1]", P::Empty)],
        ),
        (
            value_of(0, json!(["Sales"])),
            vec![(
                "condition.all[0].value",
                P::ListNotAllowed { op: Op::Equals },
            )],
        ),
        (
            value_of(0, json!("")),
            vec![("condition.all[0].value", P::Empty)],
        ),
        (
            value_of(0, json!("x".repeat(MAX_VALUE_CHARS + 1))),
            vec![("condition.all[0].value", P::TooLong { limit: 256 })],
        ),
        (
            value_of(0, json!("Sales\tTeam")),
            vec![("condition.all[0].value", P::ControlCharacter)],
        ),
        (
            op_of(2, "contains"),
            vec![(
                "condition.all[2].op",
                P::OpNotAllowed {
                    attribute: Attribute::AccountEnabled,
                    op: Op::Contains,
                },
            )],
        ),
        (
            Box::new(|d: &mut Value| {
                d["condition"]["all"][2]["op"] = json!("in");
                d["condition"]["all"][2]["value"] = json!(["true"]);
            }),
            vec![(
                "condition.all[2].op",
                P::OpNotAllowed {
                    attribute: Attribute::AccountEnabled,
                    op: Op::In,
                },
            )],
        ),
        (
            value_of(2, json!("yes")),
            vec![("condition.all[2].value", P::NotABoolean)],
        ),
        (pool(json!({})), vec![("action.pool", P::Unanchored)]),
        (
            pool(json!({"country": "GB", "number_type": "calling_plan"})),
            vec![("action.pool", P::Unanchored)],
        ),
        (
            pool(json!({"tags": [" "]})),
            vec![("action.pool.tags", P::Tag(TagError::Empty))],
        ),
        (
            pool(json!({"location_id": "London"})),
            vec![("action.pool.location_id", P::NotAnId("London".into()))],
        ),
        (
            pool(json!({"range_id": "0"})),
            vec![("action.pool.range_id", P::NotAnId("0".into()))],
        ),
        (
            pool(json!({"platform_id": "-2"})),
            vec![("action.pool.platform_id", P::NotAnId("-2".into()))],
        ),
        (
            pool(json!({"tags": ["Sales"], "number_type": "pstn"})),
            vec![("action.pool.number_type", unknown::<NumberType>("pstn"))],
        ),
        (
            pool(json!({"tags": ["Sales"], "country": "XX"})),
            vec![("action.pool.country", P::UnknownCountry("XX".into()))],
        ),
        (
            Box::new(|d: &mut Value| d["action"]["assignment_category"] = json!("secondary")),
            vec![(
                "action.assignment_category",
                unknown::<AssignmentCategory>("secondary"),
            )],
        ),
        (
            set("/leaver_policy", json!("delete")),
            vec![("leaver_policy", unknown::<LeaverPolicy>("delete"))],
        ),
        // Every problem at once, in field order.
        (
            Box::new(|d: &mut Value| {
                d["name"] = json!("");
                d["condition"]["all"][0]["op"] = json!("like");
                d["condition"]["all"][1]["value"] = json!("London");
                d["action"]["pool"] = json!({});
                d["leaver_policy"] = json!("");
            }),
            vec![
                ("name", P::Empty),
                ("condition.all[0].op", unknown::<Op>("like")),
                ("condition.all[1].value", P::ListRequired),
                ("action.pool", P::Unanchored),
                ("leaver_policy", unknown::<LeaverPolicy>("")),
            ],
        ),
    ];
    check(valid()).expect("the base draft is valid");
    for (edit, want) in table {
        let mut draft = valid();
        edit(&mut draft);
        let got: Vec<(String, RuleProblem)> = match check(draft.clone()) {
            Ok(_) => panic!("accepted: {draft}"),
            Err(errors) => errors.into_iter().map(|e| (e.field, e.problem)).collect(),
        };
        let want: Vec<(String, RuleProblem)> =
            want.into_iter().map(|(f, p)| (f.to_string(), p)).collect();
        assert_eq!(got, want, "{draft}");
    }
}

#[test]
fn an_error_reads_as_its_field_and_problem() {
    let mut draft = valid();
    draft["condition"]["all"][2]["op"] = json!("starts_with");
    let errors = check(draft).expect_err("refused");
    assert_eq!(
        errors[0].to_string(),
        "condition.all[2].op: 'starts_with' cannot test 'account_enabled'"
    );
}

#[test]
fn drafts_at_every_limit_are_accepted() {
    let mut draft = valid();
    draft["name"] = json!("n".repeat(MAX_NAME_CHARS));
    draft["priority"] = json!(MAX_PRIORITY);
    draft["condition"]["all"][0]["value"] = json!("v".repeat(MAX_VALUE_CHARS));
    draft["condition"]["all"][1]["value"] = json!(many(MAX_IN_VALUES));
    check(draft).expect("at the limits");

    let mut draft = valid();
    draft["priority"] = json!(0);
    draft["condition"] = json!({"any": vec![pred("city", "equals", json!("x")); MAX_PREDICATES]});
    check(draft).expect("at the limits");
}

#[test]
fn drafts_are_trimmed_deduplicated_and_normalised() {
    let mut draft = valid();
    draft["name"] = json!("  Sales London ");
    draft["condition"]["all"][0]["value"] = json!(" Sales ");
    draft["condition"]["all"][1]["value"] = json!(["London", " london", "LONDON", "Croydon"]);
    draft["condition"]["all"][2]["value"] = json!("TRUE");
    draft["action"] = json!({"pool": {"tags": ["Sales", "sales"], "country": " gb ",
                                      "number_type": "Direct_Routing"}});
    let rule = check(draft).expect("valid");
    assert_eq!(rule.name(), "Sales London");
    let values: Vec<&PredicateValue> = rule
        .condition()
        .predicates()
        .iter()
        .map(Predicate::value)
        .collect();
    assert_eq!(
        values,
        [
            &PredicateValue::One("Sales".into()),
            &PredicateValue::List(vec!["London".into(), "Croydon".into()]),
            &PredicateValue::One("true".into()),
        ]
    );
    let pool = &rule.action().pool;
    assert_eq!(pool.tags().len(), 1);
    assert_eq!(pool.country(), Some("GB"));
    assert_eq!(pool.number_type(), Some(NumberType::DirectRouting));
}

#[test]
fn a_rule_goes_back_to_its_draft_in_the_wire_shape_and_parses_to_itself() {
    let rule = rule_from(
        4,
        json!({
            "name": "Engineers in Berlin",
            "priority": 3,
            "enabled": false,
            "condition": {"any": [
                {"attribute": "department", "op": "starts_with", "value": "Eng"},
                {"attribute": "group", "op": "in", "value": ["Dev", "QA"]},
            ]},
            "action": {
                "pool": {"tags": ["Berlin"], "location_id": "2", "range_id": "5",
                         "platform_id": "1", "number_type": "operator_connect", "country": "DE"},
                "assignment_category": "alternate",
            },
            "leaver_policy": "keep",
        }),
    );
    let draft = rule.to_draft();
    assert_eq!(
        serde_json::to_value(&draft).expect("serialises"),
        json!({
            "name": "Engineers in Berlin",
            "priority": 3,
            "enabled": false,
            "condition": {"any": [
                {"attribute": "department", "op": "starts_with", "value": "Eng"},
                {"attribute": "group", "op": "in", "value": ["Dev", "QA"]},
            ]},
            "action": {
                "pool": {"tags": ["Berlin"], "location_id": "2", "range_id": "5",
                         "platform_id": "1", "number_type": "operator_connect", "country": "DE"},
                "assignment_category": "alternate",
            },
            "leaver_policy": "keep",
        })
    );
    assert_eq!(Rule::parse(4, &draft), Ok(rule.clone()));
    assert_eq!(rule.id(), 4);
    assert_eq!(rule.priority(), 3);
    assert!(!rule.enabled());
    assert_eq!(rule.leaver_policy(), LeaverPolicy::Keep);
    assert!(
        rule.matches(&bob()),
        "a disabled rule still says whom it selects"
    );
}

#[test]
fn a_draft_with_an_unknown_field_does_not_deserialise() {
    let mut draft = valid();
    draft["condition"]["all"][0]["negate"] = json!(true);
    assert!(serde_json::from_value::<RuleDraft>(draft).is_err());
    let mut draft = valid();
    draft["action"]["pool"]["site"] = json!("London");
    assert!(serde_json::from_value::<RuleDraft>(draft).is_err());
}
