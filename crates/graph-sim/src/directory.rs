//! Entra directory reads: `/users`, `/users/{id}`, `/users/delta`, `/groups/delta`
//! (contract §2, §3).
//!
//! Skip and delta tokens are opaque base64url of a few numbers: the token kind, the delta
//! epoch, the simulated time the round started, the sequence window `(from, upto]`, the
//! selected-property mask and a cursor. A round is a scan over objects in insertion order
//! from the cursor, so each page costs its own size, not the tenant's.

use actix_web::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::http::{Ctx, Reply, Route, seg_eq};
use crate::state::{
    GROUP_MEMBERS, GROUP_PROPS, GroupRec, Removal, State, Tenant, USER_PROPS, UserRec, user_prop,
};

/// Directory delta tokens live 7 days (contract §0.8, §2.2).
const DELTA_TOKEN_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// Maximum `$top` of `/users` (contract §2.1 \[U\]).
const USERS_MAX_TOP: usize = 999;

/// Mask bit meaning "the client sent `$select`", for `@odata.context`.
const EXPLICIT_SELECT: u64 = 1 << 40;

/// `/users` properties returned without `$select` (contract §2.1 \[V\]).
const USER_DEFAULT_PROPS: [&str; 10] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

pub(crate) fn route_of(segs: &[&str]) -> Option<Route> {
    let get: &'static [&'static str] = &["GET"];
    let is_delta = |s: &str| seg_eq(s, "delta") || seg_eq(s, "microsoft.graph.delta");
    match segs {
        [u] if seg_eq(u, "users") => Some(Route {
            template: "/users",
            permissions: crate::http::USER_READ,
            methods: get,
            handler: list_users,
        }),
        [u, d] if seg_eq(u, "users") && is_delta(d) => Some(Route {
            template: "/users/delta",
            permissions: crate::http::USER_READ,
            methods: get,
            handler: users_delta,
        }),
        [u, _] if seg_eq(u, "users") => Some(Route {
            template: "/users/{id}",
            permissions: crate::http::USER_READ,
            methods: get,
            handler: get_user,
        }),
        [g, d] if seg_eq(g, "groups") && is_delta(d) => Some(Route {
            template: "/groups/delta",
            permissions: crate::http::GROUP_READ,
            methods: get,
            handler: groups_delta,
        }),
        _ => None,
    }
}

pub(crate) fn encode_token(kind: &str, parts: &[u64]) -> String {
    let mut s = kind.to_owned();
    for p in parts {
        s.push('.');
        s.push_str(&p.to_string());
    }
    URL_SAFE_NO_PAD.encode(s)
}

pub(crate) fn decode_token(token: &str, kind: &str) -> Option<Vec<u64>> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?).ok()?;
    let mut it = raw.split('.');
    if it.next()? != kind {
        return None;
    }
    it.map(|p| p.parse().ok()).collect()
}

/// Parses `$select` against a property list into a bit mask; `id` is always returned.
fn parse_select(
    select: Option<&str>,
    props: &[&str],
    type_name: &str,
) -> Result<Option<u64>, Reply> {
    let Some(select) = select else {
        return Ok(None);
    };
    let mut mask = EXPLICIT_SELECT;
    for name in select.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name.eq_ignore_ascii_case("id") {
            continue;
        }
        match props.iter().position(|p| p.eq_ignore_ascii_case(name)) {
            Some(i) => mask |= 1 << i,
            None => {
                return Err(Reply::error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    format!(
                        "Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'."
                    ),
                ));
            }
        }
    }
    Ok(Some(mask))
}

fn mask_names(mask: u64, props: &[&'static str]) -> Vec<&'static str> {
    props
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, p)| *p)
        .collect()
}

fn context(ctx: &Ctx, entity: &str, mask: u64, props: &[&'static str]) -> String {
    if mask & EXPLICIT_SELECT != 0 {
        format!(
            "{}/$metadata#{entity}({})",
            ctx.root(),
            mask_names(mask, props).join(",")
        )
    } else {
        format!("{}/$metadata#{entity}", ctx.root())
    }
}

/// The OData system query options present, lower-cased.
fn dollar_options(ctx: &Ctx) -> Vec<String> {
    ctx.query
        .iter()
        .filter(|(k, _)| k.starts_with('$'))
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect()
}

fn list_users(tenant: &Tenant, _m: &str, _s: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    let state = tenant.lock();
    for opt in dollar_options(ctx) {
        match opt.as_str() {
            "$select" | "$top" | "$skiptoken" => {}
            // contract §2.1 [V]: "$skip is not supported".
            "$skip" => {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "'$skip' is not supported by the service.",
                );
            }
            "$filter" | "$orderby" | "$search" | "$count" | "$expand" => {
                return Reply::error(
                    StatusCode::NOT_IMPLEMENTED,
                    "NotImplemented",
                    format!("The simulator does not implement '{opt}' on /users."),
                );
            }
            _ => return Reply::bad_request(format!("Query option '{opt}' is not allowed.")),
        }
    }
    let mask = match parse_select(ctx.param("$select"), &USER_PROPS, "user") {
        Ok(Some(m)) => m,
        Ok(None) => default_user_mask(),
        Err(r) => return r,
    };
    let top = match ctx.param("$top") {
        None => state.config.users_page_size,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=USERS_MAX_TOP).contains(&n) => n,
            _ => {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "Request_UnsupportedQuery",
                    format!(
                        "Invalid page size specified: '{t}'. Must be between 1 and {USERS_MAX_TOP} inclusive."
                    ),
                );
            }
        },
    };
    let cursor = match ctx.param("$skiptoken") {
        None => 0,
        Some(tok) => match decode_token(tok, "ul").as_deref() {
            Some([cursor]) => *cursor as usize,
            _ => return Reply::bad_request("Invalid $skiptoken."),
        },
    };
    let mut value = Vec::new();
    let mut i = cursor;
    while i < state.users.len() && value.len() < top {
        let rec = &state.users[i];
        i += 1;
        if rec.live() {
            value.push(user_object(rec, mask, true));
        }
    }
    while i < state.users.len() && !state.users[i].live() {
        i += 1;
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(context(ctx, "users", mask, &USER_PROPS)),
    );
    if i < state.users.len() {
        // The next link carries the original options plus the token (contract §2.1 paging).
        let token = encode_token("ul", &[i as u64]);
        let pairs = ctx
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("$skiptoken", token.as_str())]);
        let link = format!("{}/users?{}", ctx.root(), crate::http::query_string(pairs));
        body.insert("@odata.nextLink".into(), json!(link));
    }
    body.insert("value".into(), Value::Array(value));
    Reply::ok(Value::Object(body))
}

fn get_user(tenant: &Tenant, _m: &str, segs: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    let state = tenant.lock();
    let mask = match parse_select(ctx.param("$select"), &USER_PROPS, "user") {
        Ok(Some(m)) => m,
        Ok(None) => default_user_mask(),
        Err(r) => return r,
    };
    let key = segs[1];
    let rec = state.user(key).or_else(|| {
        state
            .users
            .iter()
            .find(|u| u.user.user_principal_name.eq_ignore_ascii_case(key))
    });
    match rec.filter(|r| r.live()) {
        Some(rec) => {
            let mut obj = user_object(rec, mask, true);
            if let Value::Object(m) = &mut obj {
                m.insert(
                    "@odata.context".into(),
                    json!(format!(
                        "{}/$entity",
                        context(ctx, "users", mask, &USER_PROPS)
                    )),
                );
            }
            Reply::ok(obj)
        }
        None => Reply::error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ),
        ),
    }
}

fn default_user_mask() -> u64 {
    USER_PROPS
        .iter()
        .enumerate()
        .filter(|(_, p)| USER_DEFAULT_PROPS.contains(p))
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// A user with the masked properties; lists show unset ones as null.
fn user_object(rec: &UserRec, mask: u64, nulls: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(rec.id));
    for (p, name) in USER_PROPS.iter().enumerate() {
        if mask & (1 << p) == 0 {
            continue;
        }
        let v = user_prop(&rec.user, name);
        if v.is_null() && !nulls {
            continue;
        }
        m.insert((*name).into(), v);
    }
    Value::Object(m)
}

/// Where a delta round stands, decoded from a token.
struct Round {
    issued: i64,
    from: u64,
    upto: u64,
    mask: u64,
}

/// Why a token cannot be used: 400 for garbage, 410 for expired (contract §2.2 \[SIM\]).
fn token_gone(state: &State, ctx: &Ctx, entity: &str, mask: u64, props: &[&'static str]) -> Reply {
    let mut fresh = format!("{}/{entity}/delta?$deltatoken=", ctx.root());
    if mask & EXPLICIT_SELECT != 0 {
        fresh.push_str("&$select=");
        fresh.push_str(&mask_names(mask, props).join(","));
    }
    tracing::debug!(delta.epoch = state.delta_epoch, "delta token expired");
    Reply::error(
        StatusCode::GONE,
        "syncStateNotFound",
        "The sync state generation is not found. Please start a new delta query.",
    )
    .header("Location", fresh)
}

fn expired(state: &State, epoch: u64, issued: i64) -> bool {
    epoch != state.delta_epoch || state.now().timestamp() - issued > DELTA_TOKEN_LIFETIME_SECS
}

/// Validates the query of a delta request and works out the round and cursor it asks for.
/// Cursor parts after the fixed ones are returned as is.
fn delta_request(
    state: &State,
    ctx: &Ctx,
    kind: &DeltaKind,
) -> Result<(Round, Vec<u64>, bool), Reply> {
    let (entity, props) = (kind.entity, kind.props);
    let skip = ctx.param("$skiptoken").filter(|s| !s.is_empty());
    let delta = ctx
        .param("$deltatoken")
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("latest"));
    let options = dollar_options(ctx);
    if skip.is_some() || delta.is_some() {
        // contract §2.2: only $skiptoken/$deltatoken after the first call.
        if let Some(bad) = options
            .iter()
            .find(|o| *o != "$skiptoken" && *o != "$deltatoken")
        {
            return Err(Reply::bad_request(format!(
                "Query option '{bad}' is not allowed together with a delta or skip token; follow the link as given."
            )));
        }
        let (is_skip, token) = match (skip, delta) {
            (Some(s), _) => (true, s),
            (None, d) => (false, d.unwrap_or_default()),
        };
        let parts = decode_token(token, if is_skip { kind.skip } else { kind.delta })
            .filter(|p| p.len() >= if is_skip { 5 } else { 4 })
            .ok_or_else(|| Reply::bad_request("The delta or skip token is not valid."))?;
        let (epoch, issued) = (parts[0], parts[1] as i64);
        let mask = if is_skip { parts[4] } else { parts[3] };
        if expired(state, epoch, issued) {
            return Err(token_gone(state, ctx, entity, mask, props));
        }
        if is_skip {
            let round = Round {
                issued,
                from: parts[2],
                upto: parts[3],
                mask,
            };
            Ok((round, parts[5..].to_vec(), false))
        } else {
            // A delta link starts the next round: changes in (from, now].
            let round = Round {
                issued: state.now().timestamp(),
                from: parts[2],
                upto: state.seq,
                mask,
            };
            Ok((round, Vec::new(), false))
        }
    } else {
        for opt in &options {
            match opt.as_str() {
                "$select" | "$deltatoken" | "$skiptoken" => {}
                // contract §3.1: groups also take the older `$expand=members`.
                "$expand"
                    if entity == "groups"
                        && ctx
                            .param("$expand")
                            .is_some_and(|v| v.eq_ignore_ascii_case("members")) => {}
                "$filter" => {
                    return Err(Reply::error(
                        StatusCode::NOT_IMPLEMENTED,
                        "NotImplemented",
                        "The simulator does not implement $filter on delta.",
                    ));
                }
                // contract §2.2: $expand, $top, $orderby are not supported.
                _ => {
                    return Err(Reply::bad_request(format!(
                        "The query option '{opt}' is not supported with delta."
                    )));
                }
            }
        }
        let mut mask = parse_select(ctx.param("$select"), props, entity.trim_end_matches('s'))?
            .unwrap_or((1u64 << props.len()) - 1);
        if ctx.param("$expand").is_some() {
            mask |= 1 << GROUP_MEMBERS;
        }
        let latest = ctx
            .param("$deltatoken")
            .is_some_and(|d| d.eq_ignore_ascii_case("latest"));
        let round = Round {
            issued: state.now().timestamp(),
            from: 0,
            upto: state.seq,
            mask,
        };
        Ok((round, Vec::new(), latest))
    }
}

/// Ends a page: a next link while the round goes on, else a delta link for the next round.
fn finish_page(
    state: &State,
    ctx: &Ctx,
    kind: &DeltaKind,
    round: &Round,
    first_page: bool,
    cursor: Option<Vec<u64>>,
    value: Vec<Value>,
) -> Reply {
    let (entity, props) = (kind.entity, kind.props);
    let mut body = Map::new();
    let ctx_mask = if first_page {
        round.mask
    } else {
        round.mask & !EXPLICIT_SELECT
    };
    body.insert(
        "@odata.context".into(),
        json!(context(ctx, entity, ctx_mask, props)),
    );
    match cursor {
        // A broken or hostile server (`Faults::paging_loop`): every page sends the client
        // back to the page it just read, and no round ever ends.
        _ if state.config.faults.paging_loop => {
            let link = format!("{}/{entity}/delta?{}", ctx.root(), ctx.raw_query);
            body.insert("@odata.nextLink".into(), json!(link));
        }
        Some(cursor) => {
            let mut parts = vec![
                state.delta_epoch,
                round.issued as u64,
                round.from,
                round.upto,
                round.mask,
            ];
            parts.extend(cursor);
            let link = format!(
                "{}/{entity}/delta?$skiptoken={}",
                ctx.root(),
                encode_token(kind.skip, &parts)
            );
            body.insert("@odata.nextLink".into(), json!(link));
        }
        None => {
            let parts = [
                state.delta_epoch,
                state.now().timestamp() as u64,
                round.upto,
                round.mask,
            ];
            let link = format!(
                "{}/{entity}/delta?$deltatoken={}",
                ctx.root(),
                encode_token(kind.delta, &parts)
            );
            body.insert("@odata.deltaLink".into(), json!(link));
        }
    }
    body.insert("value".into(), Value::Array(value));
    Reply::ok(Value::Object(body))
}

/// What differs between the users and the groups delta.
struct DeltaKind {
    entity: &'static str,
    /// Token kind of skip tokens and of delta tokens.
    skip: &'static str,
    delta: &'static str,
    props: &'static [&'static str],
}

const USERS: DeltaKind = DeltaKind {
    entity: "users",
    skip: "us",
    delta: "ud",
    props: &USER_PROPS,
};
const GROUPS: DeltaKind = DeltaKind {
    entity: "groups",
    skip: "gs",
    delta: "gd",
    props: &GROUP_PROPS,
};

fn users_delta(tenant: &Tenant, _m: &str, _s: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    let state = tenant.lock();
    let (round, cursor, latest) = match delta_request(&state, ctx, &USERS) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let first_page = cursor.is_empty();
    if latest {
        let round = Round {
            from: state.seq,
            ..round
        };
        return finish_page(&state, ctx, &USERS, &round, true, None, Vec::new());
    }
    let mut i = cursor.first().copied().unwrap_or(0) as usize;
    let page_size = state.config.users_page_size.max(1);
    let mut value = Vec::with_capacity(page_size);
    while i < state.users.len() && value.len() < page_size {
        if let Some(v) = user_delta_object(&state.users[i], &round, ctx.prefer_minimal) {
            value.push(v);
        }
        i += 1;
    }
    // Skip ahead so the last page with data also carries the delta link.
    while i < state.users.len() && !user_in_round(&state.users[i], &round) {
        i += 1;
    }
    let cursor = (i < state.users.len()).then(|| vec![i as u64]);
    finish_page(&state, ctx, &USERS, &round, first_page, cursor, value)
}

fn user_in_round(rec: &UserRec, round: &Round) -> bool {
    if rec.created_seq > round.upto {
        // Created after the round began: the next round reports it.
        return false;
    }
    if round.from == 0 {
        return rec.live();
    }
    rec.state_seq > round.from
        || USER_PROPS
            .iter()
            .enumerate()
            .any(|(p, _)| round.mask & (1 << p) != 0 && rec.prop_seq[p] > round.from)
}

/// A user as a delta page shows it: selected properties, omitting ones never set, or
/// `@removed` (contract §2.2).
fn user_delta_object(rec: &UserRec, round: &Round, minimal: bool) -> Option<Value> {
    if !user_in_round(rec, round) {
        return None;
    }
    if let Some(reason) = rec.removal.reason() {
        return Some(json!({"id": rec.id, "@removed": {"reason": reason}}));
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(rec.id));
    for (p, name) in USER_PROPS.iter().enumerate() {
        if round.mask & (1 << p) == 0 {
            continue;
        }
        if minimal && round.from > 0 && rec.prop_seq[p] <= round.from {
            continue;
        }
        let v = user_prop(&rec.user, name);
        // "Properties that were never set are omitted. Changed-to-null properties are
        // included as null."
        if v.is_null() && rec.prop_seq[p] == rec.created_seq {
            continue;
        }
        m.insert((*name).into(), v);
    }
    Some(Value::Object(m))
}

fn groups_delta(tenant: &Tenant, _m: &str, _s: &[&str], ctx: &Ctx, _b: &[u8]) -> Reply {
    let state = tenant.lock();
    let (round, cursor, latest) = match delta_request(&state, ctx, &GROUPS) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let first_page = cursor.is_empty();
    if latest {
        let round = Round {
            from: state.seq,
            ..round
        };
        return finish_page(&state, ctx, &GROUPS, &round, true, None, Vec::new());
    }
    let mut next_gi = cursor.first().copied().unwrap_or(0) as usize;
    let pending: Vec<(usize, usize)> = cursor
        .get(1..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|c| (c[0] as usize, c[1] as usize))
        .collect();
    let page_size = state.config.users_page_size.max(1);
    let chunk = state.config.group_members_chunk.max(1);
    let mut value = Vec::new();
    let mut still_pending = Vec::new();
    // Groups whose members did not fit on the last page come first, one chunk each.
    for (gi, li) in pending {
        let Some(g) = state.groups.get(gi) else {
            continue;
        };
        if g.removal != Removal::Present {
            continue;
        }
        let (members, more) = member_chunk(g, &round, li, chunk);
        value.push(group_object(g, &round, Some(members)));
        if let Some(li) = more {
            still_pending.push((gi, li));
        }
    }
    while value.len() < page_size && next_gi < state.groups.len() {
        let g = &state.groups[next_gi];
        let gi = next_gi;
        next_gi += 1;
        if !group_in_round(g, &round) {
            continue;
        }
        if let Some(reason) = g.removal.reason() {
            value.push(json!({"id": g.id, "@removed": {"reason": reason}}));
            continue;
        }
        if round.mask & (1 << GROUP_MEMBERS) == 0 {
            value.push(group_object(g, &round, None));
            continue;
        }
        let (members, more) = member_chunk(g, &round, first_member_index(g, &round), chunk);
        value.push(group_object(g, &round, Some(members)));
        if let Some(li) = more {
            still_pending.push((gi, li));
        }
    }
    while next_gi < state.groups.len() && !group_in_round(&state.groups[next_gi], &round) {
        next_gi += 1;
    }
    let cursor = (next_gi < state.groups.len() || !still_pending.is_empty()).then(|| {
        let mut c = vec![next_gi as u64];
        for (gi, li) in still_pending {
            c.extend([gi as u64, li as u64]);
        }
        c
    });
    finish_page(&state, ctx, &GROUPS, &round, first_page, cursor, value)
}

fn first_member_index(g: &GroupRec, round: &Round) -> usize {
    g.log.partition_point(|e| e.seq <= round.from)
}

fn member_eligible(e: &crate::state::MemberEntry, round: &Round) -> bool {
    e.seq <= round.upto && e.superseded > round.upto && (round.from > 0 || e.present)
}

/// Up to `chunk` membership entries of the round from log index `li`, and where the next
/// chunk starts if there is one.
fn member_chunk(
    g: &GroupRec,
    round: &Round,
    li: usize,
    chunk: usize,
) -> (Vec<Value>, Option<usize>) {
    let mut out = Vec::new();
    let mut i = li;
    while i < g.log.len() && g.log[i].seq <= round.upto {
        let e = &g.log[i];
        if member_eligible(e, round) {
            if out.len() == chunk {
                return (out, Some(i));
            }
            out.push(if e.present {
                json!({"@odata.type": "#microsoft.graph.user", "id": e.user_id})
            } else {
                json!({"@odata.type": "#microsoft.graph.user", "id": e.user_id, "@removed": {"reason": "deleted"}})
            });
        }
        i += 1;
    }
    (out, None)
}

fn group_in_round(g: &GroupRec, round: &Round) -> bool {
    if g.created_seq > round.upto {
        return false;
    }
    if round.from == 0 {
        return g.removal == Removal::Present;
    }
    if g.state_seq > round.from {
        return true;
    }
    if g.removal != Removal::Present {
        return false;
    }
    let props_changed = (0..2).any(|p| round.mask & (1 << p) != 0 && g.prop_seq[p] > round.from);
    props_changed
        || (round.mask & (1 << GROUP_MEMBERS) != 0
            && g.log[first_member_index(g, round)..]
                .iter()
                .take_while(|e| e.seq <= round.upto)
                .any(|e| member_eligible(e, round)))
}

/// A group with its selected properties and, when members are tracked and any changed,
/// one chunk of `members@delta` (a group without members has no such property).
fn group_object(g: &GroupRec, round: &Round, members: Option<Vec<Value>>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(g.id));
    if round.mask & 1 != 0 {
        m.insert("displayName".into(), json!(g.display_name));
    }
    if round.mask & 2 != 0 {
        m.insert("description".into(), json!(g.description));
    }
    if let Some(members) = members.filter(|m| !m.is_empty()) {
        m.insert("members@delta".into(), Value::Array(members));
    }
    Value::Object(m)
}
