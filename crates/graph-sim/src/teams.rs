//! Teams telephone number management under `/admin/teams/telephoneNumberManagement`
//! (contract §5): list/get numberAssignments, the assign/unassign/update actions (short and
//! namespace-qualified paths, §5.8) and the long-running operations they start.

use std::time::Instant;

use actix_web::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::http::{Ctx, Reply, Route, seg_eq};
use crate::state::{
    NUMBER_TYPES, NumberRec, OpKind, OpStatus, Operation, Tenant, normalize_number,
};

/// Default and maximum `$top` of the numberAssignments list (contract §5.2 \[V\]).
const NUMBERS_DEFAULT_TOP: usize = 500;
const NUMBERS_MAX_TOP: usize = 1000;

/// Namespace prefix of the qualified action names the SDKs call (contract §5.8).
const ACTION_NAMESPACE: &str = "microsoft.graph.teamsAdministration.";

/// Share of `operation_delay` during which an operation reports `notStarted` before
/// `running`, so a client must treat both as "not finished" (contract §5.7 enum).
const NOT_STARTED_SHARE: f64 = 0.25;

/// Assignment categories assignNumber accepts (contract §5.4).
const CATEGORIES: [&str; 3] = ["primary", "private", "alternate"];

/// Filterable scalar fields; `id` and `city` are documented as not filterable (§5.2).
const FILTER_FIELDS: [&str; 13] = [
    "telephoneNumber",
    "operatorId",
    "numberType",
    "activationState",
    "assignmentTargetId",
    "assignmentCategory",
    "assignmentStatus",
    "isoCountryCode",
    "locationId",
    "civicAddressId",
    "networkSiteId",
    "portInStatus",
    "numberSource",
];

/// Collection fields usable with `any(…)`.
const FILTER_COLLECTIONS: [&str; 3] = [
    "capabilities",
    "supportedCustomerActions",
    "reverseNumberLookupOptions",
];

pub(crate) fn route_of(segs: &[&str]) -> Option<Route> {
    let get: &'static [&'static str] = &["GET"];
    let post: &'static [&'static str] = &["POST"];
    if let [a, t, u] = segs
        && seg_eq(a, "admin")
        && seg_eq(t, "teams")
        && seg_eq(u, "userConfigurations")
    {
        return Some(Route {
            template: "/admin/teams/userConfigurations",
            permissions: crate::http::TEAMS_USER_CONFIG,
            methods: get,
            handler: user_configurations,
        });
    }
    let [a, t, m, rest @ ..] = segs else {
        return None;
    };
    if !(seg_eq(a, "admin") && seg_eq(t, "teams") && seg_eq(m, "telephoneNumberManagement")) {
        return None;
    }
    // `get` rather than indexing: a segment may hold any UTF-8, and slicing inside a
    // character would panic.
    let action = |x: &str, name: &str| {
        seg_eq(x, name)
            || (x.len() == ACTION_NAMESPACE.len() + name.len()
                && x.get(..ACTION_NAMESPACE.len())
                    .is_some_and(|p| seg_eq(p, ACTION_NAMESPACE))
                && x.get(ACTION_NAMESPACE.len()..)
                    .is_some_and(|n| seg_eq(n, name)))
    };
    match rest {
        [n] if seg_eq(n, "numberAssignments") => Some(Route {
            template: "/admin/teams/telephoneNumberManagement/numberAssignments",
            permissions: crate::http::TEAMS_NUMBER_READ,
            methods: get,
            handler: list_numbers,
        }),
        [n, x] if seg_eq(n, "numberAssignments") && action(x, "assignNumber") => Some(Route {
            template: "/admin/teams/telephoneNumberManagement/numberAssignments/assignNumber",
            permissions: crate::http::TEAMS_NUMBER_WRITE,
            methods: post,
            handler: assign_number,
        }),
        [n, x] if seg_eq(n, "numberAssignments") && action(x, "unassignNumber") => Some(Route {
            template: "/admin/teams/telephoneNumberManagement/numberAssignments/unassignNumber",
            permissions: crate::http::TEAMS_NUMBER_WRITE,
            methods: post,
            handler: unassign_number,
        }),
        [n, x] if seg_eq(n, "numberAssignments") && action(x, "updateNumber") => Some(Route {
            template: "/admin/teams/telephoneNumberManagement/numberAssignments/updateNumber",
            permissions: crate::http::TEAMS_NUMBER_WRITE,
            methods: post,
            handler: update_number,
        }),
        [n, _] if seg_eq(n, "numberAssignments") => Some(Route {
            template: "/admin/teams/telephoneNumberManagement/numberAssignments/{id}",
            permissions: crate::http::TEAMS_NUMBER_READ,
            methods: &["GET", "POST"],
            handler: get_number,
        }),
        [o, _] if seg_eq(o, "operations") => Some(Route {
            template: "/admin/teams/telephoneNumberManagement/operations/{id}",
            permissions: crate::http::TEAMS_NUMBER_READ,
            methods: get,
            handler: get_operation,
        }),
        [o] if operation_key(o).is_some() => Some(Route {
            template: "/admin/teams/telephoneNumberManagement/operations/{id}",
            permissions: crate::http::TEAMS_NUMBER_READ,
            methods: get,
            handler: get_operation,
        }),
        _ => None,
    }
}

/// The numberAssignment key: base64url without padding of "{operatorId}|{+E164}"
/// (contract §5.1 \[U\], inferred from the doc examples).
fn number_id(rec: &NumberRec) -> String {
    let op = rec.number.operator_id.as_deref().unwrap_or_default();
    URL_SAFE_NO_PAD.encode(format!("{op}|{}", rec.number.telephone_number))
}

/// A numberAssignment exactly as §5.1's JSON representation: every field, null when unset.
/// A struct over borrowed state rather than a `Value`, so a 1000-number page serializes
/// without building 19,000 map entries first.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct NumberOut<'a> {
    #[serde(rename = "@odata.type")]
    odata_type: &'static str,
    id: String,
    telephone_number: &'a str,
    operator_id: Option<&'a str>,
    number_type: &'a str,
    activation_state: &'static str,
    capabilities: &'a [String],
    location_id: Option<&'a str>,
    civic_address_id: Option<&'a str>,
    network_site_id: Option<&'a str>,
    assignment_target_id: Option<&'a str>,
    assignment_category: Option<&'a str>,
    port_in_status: Option<&'a str>,
    assignment_status: &'static str,
    iso_country_code: Option<&'a str>,
    city: Option<&'a str>,
    number_source: &'static str,
    supported_customer_actions: Vec<&'static str>,
    reverse_number_lookup_options: &'a [String],
}

fn number_out(rec: &NumberRec) -> NumberOut<'_> {
    let n = &rec.number;
    NumberOut {
        odata_type: "#microsoft.graph.teamsAdministration.numberAssignment",
        id: number_id(rec),
        telephone_number: &n.telephone_number,
        operator_id: n.operator_id.as_deref(),
        number_type: &n.number_type,
        activation_state: rec.activation_state,
        capabilities: &n.capabilities,
        location_id: n.location_id.as_deref(),
        civic_address_id: None,
        network_site_id: n.network_site_id.as_deref(),
        assignment_target_id: n.assignment_target_id.as_deref(),
        assignment_category: n.assignment_category.as_deref(),
        port_in_status: None,
        assignment_status: rec.assignment_status,
        iso_country_code: n.iso_country_code.as_deref(),
        city: n.city.as_deref(),
        number_source: "online",
        supported_customer_actions: supported_actions(&n.number_type),
        reverse_number_lookup_options: &n.reverse_number_lookup_options,
    }
}

fn number_json(rec: &NumberRec) -> Value {
    serde_json::to_value(number_out(rec)).unwrap_or(Value::Null)
}

#[derive(serde::Serialize)]
struct NumberPage<'a> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
    value: Vec<NumberOut<'a>>,
}

/// Location updates are offered for Direct Routing and Operator Connect numbers; calling
/// plan numbers can also be released (contract §7.1 notes on location removal \[U\]).
fn supported_actions(number_type: &str) -> Vec<&'static str> {
    match number_type {
        "callingPlan" => vec!["locationUpdate", "release"],
        _ => vec!["locationUpdate"],
    }
}

fn field<'a>(rec: &'a NumberRec, name: &str) -> Option<&'a str> {
    let n = &rec.number;
    match name {
        "telephoneNumber" => Some(&n.telephone_number),
        "operatorId" => n.operator_id.as_deref(),
        "numberType" => Some(&n.number_type),
        "activationState" => Some(rec.activation_state),
        "assignmentTargetId" => n.assignment_target_id.as_deref(),
        "assignmentCategory" => n.assignment_category.as_deref(),
        "assignmentStatus" => Some(rec.assignment_status),
        "isoCountryCode" => n.iso_country_code.as_deref(),
        "locationId" => n.location_id.as_deref(),
        "networkSiteId" => n.network_site_id.as_deref(),
        "numberSource" => Some("online"),
        _ => None,
    }
}

fn collection<'a>(rec: &'a NumberRec, name: &str) -> Vec<&'a str> {
    match name {
        "capabilities" => rec.number.capabilities.iter().map(String::as_str).collect(),
        "reverseNumberLookupOptions" => rec
            .number
            .reverse_number_lookup_options
            .iter()
            .map(String::as_str)
            .collect(),
        "supportedCustomerActions" => supported_actions(&rec.number.number_type),
        _ => Vec::new(),
    }
}

enum Clause {
    Eq(&'static str, Option<String>),
    Any(&'static str, String),
}

impl Clause {
    fn matches(&self, rec: &NumberRec) -> bool {
        match self {
            Clause::Eq(name, None) => field(rec, name).is_none(),
            Clause::Eq("telephoneNumber", Some(v)) => rec.number.telephone_number == *v,
            Clause::Eq(name, Some(v)) => {
                field(rec, name).is_some_and(|f| f.eq_ignore_ascii_case(v))
            }
            Clause::Any(name, v) => collection(rec, name)
                .iter()
                .any(|c| c.eq_ignore_ascii_case(v)),
        }
    }
}

/// `a eq 'x' and capabilities/any(c:c eq 'y') and …` (contract §5.2). Values compare
/// case-insensitively \[SIM\]; a telephone number without '+' gets one, but a '+' the client
/// forgot to percent-encode arrives as a space and matches nothing, as on real Graph.
fn parse_filter(filter: &str) -> Result<Vec<Clause>, String> {
    split_and(filter)?
        .into_iter()
        .map(|c| parse_clause(c.trim()))
        .collect()
}

fn split_and(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b' ' if !quoted
                && s.get(i..i + 5)
                    .is_some_and(|w| w.eq_ignore_ascii_case(" and ")) =>
            {
                parts.push(&s[start..i]);
                start = i + 5;
                i += 5;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if quoted {
        return Err("Unterminated string literal in $filter.".to_owned());
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn literal(s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s == "null" {
        return Ok(None);
    }
    match s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        Some(inner) if !inner.contains('\'') => Ok(Some(inner.to_owned())),
        _ => Err(format!("Syntax error: '{s}' is not a valid literal.")),
    }
}

fn parse_clause(c: &str) -> Result<Clause, String> {
    if let Some((coll, rest)) = c.split_once("/any(") {
        let name = FILTER_COLLECTIONS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(coll.trim()))
            .ok_or_else(|| format!("Property '{coll}' is not a filterable collection."))?;
        let body = rest.strip_suffix(')').ok_or("Syntax error in any().")?;
        let (var, pred) = body.split_once(':').ok_or("Syntax error in any().")?;
        let pred = pred.trim();
        let lhs = pred.get(..var.trim().len()).unwrap_or_default();
        let after = pred
            .get(var.trim().len()..)
            .unwrap_or_default()
            .trim_start();
        let value = match after.get(..3) {
            Some(op) if lhs == var.trim() && op.eq_ignore_ascii_case("eq ") => {
                literal(&after[3..])?
            }
            _ => return Err(format!("Only '{}/any(x:x eq …)' is supported.", name)),
        };
        return value
            .map(|v| Clause::Any(name, v))
            .ok_or_else(|| "null is not valid in any().".to_owned());
    }
    let mut words = c.splitn(3, ' ');
    let (Some(f), Some(op), Some(v)) = (words.next(), words.next(), words.next()) else {
        return Err(format!("Syntax error in '{c}'."));
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(format!("Operator '{op}' is not supported here; use 'eq'."));
    }
    if f.eq_ignore_ascii_case("id") || f.eq_ignore_ascii_case("city") {
        return Err(format!("Property '{f}' cannot be filtered."));
    }
    let name = FILTER_FIELDS
        .iter()
        .find(|x| x.eq_ignore_ascii_case(f))
        .ok_or_else(|| format!("Could not find a property named '{f}' on type 'microsoft.graph.teamsAdministration.numberAssignment'."))?;
    let mut value = literal(v)?;
    if *name == "telephoneNumber" {
        value = value.map(|v| {
            if v.starts_with(|ch: char| ch.is_ascii_digit()) {
                format!("+{v}")
            } else {
                v
            }
        });
    }
    Ok(Clause::Eq(name, value))
}

fn parse_count(ctx: &Ctx, name: &str, default: usize) -> Result<usize, Reply> {
    match ctx.param(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Reply::bad_request(format!("Invalid value '{v}' for {name}."))),
    }
}

fn list_numbers(tenant: &Tenant, _m: &str, _s: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    for (k, _) in &ctx.query {
        let k = k.to_ascii_lowercase();
        if k.starts_with('$') && !["$top", "$skip", "$filter"].contains(&k.as_str()) {
            return Reply::error(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!("The simulator does not implement '{k}' on numberAssignments."),
            );
        }
    }
    let top = match parse_count(ctx, "$top", NUMBERS_DEFAULT_TOP) {
        Ok(t) if t <= NUMBERS_MAX_TOP => t,
        Ok(t) => {
            return Reply::bad_request(format!(
                "The $top value {t} exceeds the maximum of {NUMBERS_MAX_TOP}."
            ));
        }
        Err(r) => return r,
    };
    let skip = match parse_count(ctx, "$skip", 0) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let clauses = match ctx.param("$filter").map(parse_filter).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(msg) => return Reply::bad_request(msg),
    };
    let state = tenant.lock();
    // BTreeMap order is telephoneNumber ascending, PowerShell's documented order (§7.3).
    let mut matching = state
        .numbers
        .values()
        .filter(|r| clauses.iter().all(|c| c.matches(r)))
        .skip(skip);
    let value: Vec<NumberOut> = matching.by_ref().take(top).map(number_out).collect();
    let more = matching.next().is_some();
    let context = format!(
        "{}/$metadata#admin/teams/telephoneNumberManagement/numberAssignments",
        ctx.root()
    );
    let next_link = (more && state.config.number_assignments_next_link).then(|| {
        let (top, next) = (top.to_string(), (skip + top).to_string());
        let pairs = ctx
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skip") && !k.eq_ignore_ascii_case("$top"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("$top", top.as_str()), ("$skip", next.as_str())]);
        format!(
            "{}/admin/teams/telephoneNumberManagement/numberAssignments?{}",
            ctx.root(),
            crate::http::query_string(pairs)
        )
    });
    Reply::ok_serialized(&NumberPage {
        context,
        next_link,
        value,
    })
}

fn not_found(what: &str, key: &str) -> Reply {
    // [U] The Teams endpoints' 404 code is not documented; "NotFound" is OData's generic one.
    Reply::error(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{what} '{key}' was not found."),
    )
}

/// Wraps an entity in `{"value":…}` when configured to mimic the doc examples.
fn entity_reply(wrap: bool, context: String, mut entity: Value) -> Reply {
    if wrap {
        return Reply::ok(json!({"@odata.context": context, "value": entity}));
    }
    if let Value::Object(m) = &mut entity {
        m.insert("@odata.context".into(), json!(context));
    }
    Reply::ok(entity)
}

fn get_number(tenant: &Tenant, method: &str, segs: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    let key = segs[4];
    if method == "POST" {
        return Reply::bad_request(format!("Resource not found for the segment '{key}'."));
    }
    let state = tenant.lock();
    let decoded = URL_SAFE_NO_PAD
        .decode(key)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once('|')
                .map(|(op, tel)| (op.to_owned(), tel.to_owned()))
        });
    let rec = decoded.and_then(|(op, tel)| {
        state
            .numbers
            .get(&tel)
            .filter(|r| r.number.operator_id.as_deref() == Some(op.as_str()))
    });
    match rec {
        Some(rec) => entity_reply(
            state.config.wrap_entities_in_value,
            format!(
                "{}/$metadata#admin/teams/telephoneNumberManagement/numberAssignments/$entity",
                ctx.root()
            ),
            number_json(rec),
        ),
        None => not_found("numberAssignment", key),
    }
}

/// The ID in an `operations('ID')` segment, the form the Location header uses (§5.7).
fn operation_key(segment: &str) -> Option<&str> {
    let rest = segment
        .get(..12)
        .filter(|p| seg_eq(p, "operations('"))
        .and(segment.get(12..))?;
    rest.strip_suffix("')").filter(|id| !id.is_empty())
}

fn get_operation(tenant: &Tenant, _m: &str, segs: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    let id = match segs {
        [_, _, _, _, id] => *id,
        [_, _, _, paren] => operation_key(paren).unwrap_or_default(),
        _ => "",
    };
    let state = tenant.lock();
    let Some(op) = state.operations.get(id) else {
        return not_found("Operation", id);
    };
    let resource = state.numbers.get(&op.telephone_number).map(|r| {
        format!(
            "{}/admin/teams/telephoneNumberManagement/numberAssignments/{}",
            op.root,
            number_id(r)
        )
    });
    let status = if op.status == OpStatus::Running && Instant::now() < op.started_at {
        "notStarted"
    } else {
        op.status.as_str()
    };
    let entity = json!({
        "@odata.type": "#microsoft.graph.teamsAdministration.telephoneNumberLongRunningOperation",
        "id": op.id,
        "createdDateTime": op.created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "status": status,
        "numbers": [{
            "resourceLocation": resource,
            "status": status,
            "statusDetail": op.detail,
        }],
    });
    entity_reply(
        state.config.wrap_entities_in_value,
        format!(
            "{}/$metadata#admin/teams/telephoneNumberManagement/operations/$entity",
            ctx.root()
        ),
        entity,
    )
}

/// The JSON object of an action body, with only the named parameters (OData rejects
/// unknown ones, which catches a misspelt field such as `phoneNumber`).
fn action_body(body: &[u8], action: &str, allowed: &[&str]) -> Result<Map<String, Value>, Reply> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Reply::bad_request(format!("The request body is not valid JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err(Reply::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    if let Some(bad) = m
        .keys()
        .find(|k| !k.starts_with('@') && !allowed.contains(&k.as_str()))
    {
        return Err(Reply::bad_request(format!(
            "The parameter '{bad}' in the request payload is not a valid parameter for the operation '{action}'."
        )));
    }
    Ok(m)
}

/// A string parameter: `Ok(None)` when absent or null, 400 when another JSON type.
fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Reply> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Reply::bad_request(format!(
            "The parameter '{key}' must be a string."
        ))),
    }
}

fn req_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<&'a str, Reply> {
    match opt_str(m, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Reply::bad_request(format!(
            "The parameter '{key}' is required."
        ))),
    }
}

/// "+E164" from the body's number; digits only, optionally with a Direct Routing extension.
fn telephone(m: &Map<String, Value>) -> Result<String, Reply> {
    let raw = req_str(m, "telephoneNumber")?;
    let digits = raw.strip_prefix('+').unwrap_or(raw);
    let (main, ext) = match digits.split_once(";ext=") {
        Some((a, b)) => (a, Some(b)),
        None => (digits, None),
    };
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(main) || ext.is_some_and(|e| !ok(e)) {
        return Err(Reply::bad_request(format!(
            "'{raw}' is not a valid telephone number."
        )));
    }
    Ok(normalize_number(digits))
}

fn number_type(m: &Map<String, Value>) -> Result<String, Reply> {
    let t = req_str(m, "numberType")?;
    if NUMBER_TYPES.contains(&t) {
        Ok(t.to_owned())
    } else {
        Err(Reply::bad_request(format!(
            "Cannot convert the literal '{t}' to the expected type 'microsoft.graph.teamsAdministration.numberType'."
        )))
    }
}

fn check_location(state: &crate::state::State, loc: Option<&str>) -> Result<(), Reply> {
    match (&state.config.valid_location_ids, loc) {
        (Some(valid), Some(l))
            if !l.is_empty() && !valid.iter().any(|v| v.eq_ignore_ascii_case(l)) =>
        {
            // [U] real error shape (contract §5.9 [SIM]).
            Err(Reply::bad_request(format!("Location '{l}' is not found.")))
        }
        _ => Ok(()),
    }
}

fn assign_number(tenant: &Tenant, _m: &str, _s: &[&str], ctx: &Ctx, body: &[u8]) -> Reply {
    let allowed = [
        "telephoneNumber",
        "assignmentTargetId",
        "numberType",
        "assignmentCategory",
        "locationId",
    ];
    let parsed = (|| {
        let m = action_body(body, "assignNumber", &allowed)?;
        let tel = telephone(&m)?;
        let target = req_str(&m, "assignmentTargetId")?.to_owned();
        let ty = number_type(&m)?;
        let category = opt_str(&m, "assignmentCategory")?.map(str::to_owned);
        if let Some(c) = &category
            && !CATEGORIES.contains(&c.as_str())
        {
            return Err(Reply::bad_request(format!(
                "Cannot convert the literal '{c}' to the expected type 'microsoft.graph.teamsAdministration.assignmentCategory'."
            )));
        }
        let location = opt_str(&m, "locationId")?.map(str::to_owned);
        Ok((tel, target, ty, category, location))
    })();
    let mut state = tenant.lock();
    state.stats.assign_calls += 1;
    let (tel, target, ty, category, location) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = check_location(&state, location.as_deref()) {
        return r;
    }
    if !state.config.business_errors_in_operation
        && let Some(problem) = state.assign_problem(&tel, &ty, &target)
    {
        return Reply::bad_request(problem);
    }
    let op = Operation {
        id: String::new(),
        kind: OpKind::Assign,
        created: state.now(),
        ready_at: Instant::now() + state.config.operation_delay,
        started_at: Instant::now() + state.config.operation_delay.mul_f64(NOT_STARTED_SHARE),
        telephone_number: tel,
        number_type: ty,
        target: Some(target),
        category,
        location_id: location,
        inject_failure: false,
        root: ctx.root(),
        status: OpStatus::Running,
        detail: None,
    };
    start_operation(&mut state, ctx, op, "Assignment")
}

fn start_operation(
    state: &mut crate::state::State,
    ctx: &Ctx,
    mut op: Operation,
    prefix: &str,
) -> Reply {
    let guid = state.guid();
    // [U] base64url of "Assignment|{guid}", inferred from the doc examples (§5.4, §5.5).
    op.id = URL_SAFE_NO_PAD.encode(format!("{prefix}|{guid}"));
    let rate = state.config.faults.failed_operation_rate;
    op.inject_failure = state.roll(rate);
    let location = format!(
        "{}/admin/teams/telephoneNumberManagement/operations('{}')",
        ctx.root(),
        op.id
    );
    state.pending_ops.push(op.id.clone());
    state.operations.insert(op.id.clone(), op);
    state.stats.operations_started += 1;
    Reply::empty(StatusCode::ACCEPTED).header("Location", location)
}

fn unassign_number(tenant: &Tenant, _m: &str, _s: &[&str], ctx: &Ctx, body: &[u8]) -> Reply {
    let parsed = (|| {
        let m = action_body(body, "unassignNumber", &["telephoneNumber", "numberType"])?;
        Ok::<_, Reply>((telephone(&m)?, number_type(&m)?))
    })();
    let mut state = tenant.lock();
    state.stats.unassign_calls += 1;
    let (tel, ty) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !state.config.business_errors_in_operation
        && let Some(problem) = state.unassign_problem(&tel, &ty)
    {
        return Reply::bad_request(problem);
    }
    let op = Operation {
        id: String::new(),
        kind: OpKind::Unassign,
        created: state.now(),
        ready_at: Instant::now() + state.config.operation_delay,
        started_at: Instant::now() + state.config.operation_delay.mul_f64(NOT_STARTED_SHARE),
        telephone_number: tel,
        number_type: ty,
        target: None,
        category: None,
        location_id: None,
        inject_failure: false,
        root: ctx.root(),
        status: OpStatus::Running,
        detail: None,
    };
    start_operation(&mut state, ctx, op, "Unassignment")
}

/// `""` clears, null or absent keeps, anything else sets (contract §5.6).
fn patch(target: &mut Option<String>, value: Option<&str>) {
    match value {
        None => {}
        Some("") => *target = None,
        Some(v) => *target = Some(v.to_owned()),
    }
}

fn update_number(tenant: &Tenant, _m: &str, _s: &[&str], _ctx: &Ctx, body: &[u8]) -> Reply {
    let allowed = [
        "telephoneNumber",
        "locationId",
        "networkSiteId",
        "reverseNumberLookupOptions",
    ];
    let parsed = (|| {
        let m = action_body(body, "updateNumber", &allowed)?;
        let tel = telephone(&m)?;
        let location = opt_str(&m, "locationId")?.map(str::to_owned);
        let site = opt_str(&m, "networkSiteId")?.map(str::to_owned);
        let rnl = match m.get("reverseNumberLookupOptions") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|v| match v.as_str() {
                        Some(s) if s == "skipInternalVoip" => Ok(s.to_owned()),
                        _ => Err(Reply::bad_request(format!(
                            "'{v}' is not a valid reverseNumberLookupOption."
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => {
                return Err(Reply::bad_request(
                    "'reverseNumberLookupOptions' must be an array.",
                ));
            }
        };
        Ok((tel, location, site, rnl))
    })();
    let mut state = tenant.lock();
    state.stats.update_calls += 1;
    let (tel, location, site, rnl) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = check_location(&state, location.as_deref()) {
        return r;
    }
    let tenant_id = state.config.tenant_id.clone();
    let Some(rec) = state.numbers.get_mut(&tel) else {
        return Reply::bad_request(format!(
            "Telephone Number '{tel}' is not found from tenant '{tenant_id}'"
        ));
    };
    patch(&mut rec.number.location_id, location.as_deref());
    patch(&mut rec.number.network_site_id, site.as_deref());
    if let Some(rnl) = rnl {
        rec.number.reverse_number_lookup_options = rnl;
    }
    Reply::empty(StatusCode::OK)
}

/// Page size and maximum `$top` of userConfigurations; neither is documented (§5.10 \[U\]),
/// so the directory's 100/999 are used.
const USER_CONFIGURATIONS_DEFAULT_TOP: usize = 100;
const USER_CONFIGURATIONS_MAX_TOP: usize = 999;

/// `GET /admin/teams/userConfigurations` (contract §5.10): one entry per live user with the
/// numbers Teams holds for it; `isEnterpriseVoiceEnabled` mirrors having a number, as
/// PowerShell documents for assignment \[SIM\]. Pages by `$top` and a `$skiptoken` nextLink.
fn user_configurations(tenant: &Tenant, _m: &str, _s: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    for (k, _) in &ctx.query {
        let k = k.to_ascii_lowercase();
        if k.starts_with('$') && k != "$top" && k != "$skiptoken" {
            return Reply::error(
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!("The simulator does not implement '{k}' on userConfigurations."),
            );
        }
    }
    let top = match parse_count(ctx, "$top", USER_CONFIGURATIONS_DEFAULT_TOP) {
        Ok(t) if (1..=USER_CONFIGURATIONS_MAX_TOP).contains(&t) => t,
        Ok(t) => return Reply::bad_request(format!("Invalid page size {t}.")),
        Err(r) => return r,
    };
    let start = match ctx.param("$skiptoken") {
        None => 0,
        Some(tok) => match crate::directory::decode_token(tok, "uc").as_deref() {
            Some([i]) => *i as usize,
            _ => return Reply::bad_request("Invalid $skiptoken."),
        },
    };
    let state = tenant.lock();
    let mut by_target: std::collections::HashMap<&str, Vec<Value>> =
        std::collections::HashMap::new();
    for rec in state.numbers.values() {
        if let Some(t) = rec.number.assignment_target_id.as_deref() {
            by_target.entry(t).or_default().push(json!({
                "telephoneNumber": rec.number.telephone_number,
                "assignmentCategory": rec.number.assignment_category,
            }));
        }
    }
    let mut value = Vec::new();
    let mut i = start;
    while i < state.users.len() && value.len() < top {
        let u = &state.users[i];
        i += 1;
        if !u.live() {
            continue;
        }
        let numbers = by_target.remove(u.id.as_str()).unwrap_or_default();
        value.push(json!({
            "id": u.id,
            "userPrincipalName": u.user.user_principal_name,
            "tenantId": state.config.tenant_id,
            "isEnterpriseVoiceEnabled": !numbers.is_empty(),
            "featureTypes": ["Teams"],
            "accountType": if u.user.is_resource_account { "resourceAccount" } else { "user" },
            "telephoneNumbers": numbers,
            "effectivePolicyAssignments": [],
        }));
    }
    while i < state.users.len() && !state.users[i].live() {
        i += 1;
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/$metadata#admin/teams/userConfigurations",
            ctx.root()
        )),
    );
    if i < state.users.len() {
        let token = crate::directory::encode_token("uc", &[i as u64]);
        let top = top.to_string();
        let q = crate::http::query_string([("$top", top.as_str()), ("$skiptoken", token.as_str())]);
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/admin/teams/userConfigurations?{q}", ctx.root())),
        );
    }
    body.insert("value".into(), Value::Array(value));
    Reply::ok(Value::Object(body))
}
