//! Assignment rules: CRUD, previews, runs.
//!
//! Reads take `Authorized<Read>`; writes, previews and starting a run take
//! `Authorized<Manage>` (admin and above). A scoped grant sees and writes only the rules
//! whose pool lies in its scope (see `store::rules`); a full evaluation needs an
//! unscoped grant. A preview reads the whole directory: it runs on the blocking pool
//! (`AppState::read`), never on an HTTP worker, at most two at once per instance (a
//! third waits up to 10 s, then 429 `busy`), and its lists stop at 1,000 lines each
//! with the count of the rest.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use api_types::{
    PreviewAssignment, PreviewAssignments, PreviewQuery, PreviewSkip, PreviewSkips,
    PreviewUnassignment, PreviewUnassignments, RuleDraft, RuleList, RulePatch, RulePreview,
    RuleQuery, RuleRunDetail, RuleRunList,
};
use store::rules::{self as sr, preview::Preview, runs};

use crate::{
    AppState,
    auth::{Authorized, Manage, Read},
    convert::{self, utc},
    error::ApiError,
    json::Json,
    query::Query,
};

/// A stored rule on the wire.
fn rule_out(s: sr::StoredRule) -> Result<api_types::Rule, ApiError> {
    let leaver_policy = s
        .draft
        .leaver_policy
        .parse()
        .map_err(|e| ApiError::Internal(format!("rule {} leaver policy: {e}", s.id)))?;
    Ok(api_types::Rule {
        id: s.id.to_string(),
        name: s.draft.name,
        priority: s.draft.priority,
        enabled: s.draft.enabled,
        condition: s.draft.condition,
        action: s.draft.action,
        leaver_policy,
        version: s.version,
        created_at: utc(s.created_at),
        updated_at: utc(s.updated_at),
    })
}

fn with_etag(
    mut res: actix_web::HttpResponseBuilder,
    s: sr::StoredRule,
) -> Result<HttpResponse, ApiError> {
    let version = s.version;
    Ok(res.insert_header(convert::etag(version)).json(rule_out(s)?))
}

fn preview_out(rule_id: Option<i64>, p: Preview) -> RulePreview {
    let more = |items: usize, total: i64| total - items as i64;
    RulePreview {
        rule_id: rule_id.map(|id| id.to_string()),
        users_evaluated: p.users_evaluated,
        matched: p.matched,
        assign: PreviewAssignments {
            more: more(p.assign.items.len(), p.assign.total),
            items: p
                .assign
                .items
                .into_iter()
                .map(|a| PreviewAssignment {
                    user_id: a.user_id,
                    upn: a.upn,
                    number: a.number,
                })
                .collect(),
        },
        unassign: PreviewUnassignments {
            more: more(p.unassign.items.len(), p.unassign.total),
            items: p
                .unassign
                .items
                .into_iter()
                .map(|u| PreviewUnassignment {
                    user_id: u.user_id,
                    upn: u.upn,
                    number: u.number,
                    reason: u.reason,
                })
                .collect(),
        },
        skipped: PreviewSkips {
            more: more(p.skipped.items.len(), p.skipped.total),
            items: p
                .skipped
                .items
                .into_iter()
                .map(|s| PreviewSkip {
                    user_id: s.user_id,
                    upn: s.upn,
                    reason: s.reason,
                })
                .collect(),
        },
        short: p.short,
    }
}

fn run_out(r: runs::RuleRun) -> api_types::RuleRun {
    api_types::RuleRun {
        id: r.id.to_string(),
        trigger: r.trigger,
        status: r.status,
        requested_by: r.requested_by,
        created_at: utc(r.created_at),
        started_at: r.started_at.map(utc),
        finished_at: r.finished_at.map(utc),
        users_evaluated: r.users_evaluated,
        assigned: r.assigned,
        unassigned: r.unassigned,
        skipped: r.skipped,
        errors: r.errors,
        change_set_id: r.change_set_id,
        error: r.error,
    }
}

fn counts_out(c: runs::RunRuleCounts) -> api_types::RuleRunRule {
    api_types::RuleRunRule {
        rule_id: c.rule_id.to_string(),
        rule_name: c.rule_name,
        matched: c.matched,
        assigned: c.assigned,
        unassigned: c.unassigned,
        skipped: c.skipped,
        errors: c.errors,
    }
}

/// Lists the rules in the caller's scope, in the order they are tried (priority).
#[utoipa::path(tag = "rules", params(RuleQuery), responses((status = 200, description = "A page of rules", body = RuleList)))]
#[get("/rules")]
pub async fn list_rules(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<RuleQuery>,
) -> Result<web::Json<RuleList>, ApiError> {
    let q = query.into_inner()?;
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| sr::list(c, &scope, q.cursor.as_deref(), q.limit))
        .await?;
    Ok(web::Json(RuleList {
        items: page
            .items
            .into_iter()
            .map(rule_out)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Adds a rule: `{name, priority, enabled, condition, action, leaver_policy}`.
///
/// Checked whole: every problem names its field (`condition.all[2].op`); groups named
/// with `equals`/`in`, and the pool's location, range, platform (a Teams one) and tags,
/// must exist. A scoped admin's rule must draw from a pool inside its scope.
#[utoipa::path(tag = "rules", request_body = RuleDraft, responses((status = 201, description = "The rule", body = api_types::Rule)))]
#[post("/rules")]
pub async fn create_rule(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    body: Json<RuleDraft>,
) -> Result<HttpResponse, ApiError> {
    let draft = body.into_inner()?;
    let permit = auth.permit;
    let s = state.write(move |c| sr::create(c, &permit, &draft)).await?;
    with_etag(HttpResponse::Created(), s)
}

/// One rule.
#[utoipa::path(tag = "rules", params(("id" = String, Path, description = "Rule id")), responses((status = 200, description = "The rule", body = api_types::Rule)))]
#[get("/rules/{id}")]
pub async fn get_rule(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("rule", &path)?;
    let scope = auth.permit.scope().clone();
    let s = state.read(move |c| sr::get(c, &scope, id)).await?;
    with_etag(HttpResponse::Ok(), s)
}

/// Edits a rule; the result is checked as a new rule is.
#[utoipa::path(
    tag = "rules",
    params(("id" = String, Path, description = "Rule id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")),
    request_body = RulePatch,
    responses((status = 200, description = "The rule", body = api_types::Rule))
)]
#[patch("/rules/{id}")]
pub async fn update_rule(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<RulePatch>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("rule", &path)?;
    let if_match = convert::if_match(&req)?;
    let b = body.into_inner()?;
    let patch = sr::RulePatch {
        name: b.name,
        priority: b.priority,
        enabled: b.enabled,
        condition: b.condition,
        action: b.action,
        leaver_policy: b.leaver_policy,
    };
    let permit = auth.permit;
    let s = state
        .write(move |c| sr::update(c, &permit, id, patch, if_match))
        .await?;
    with_etag(HttpResponse::Ok(), s)
}

/// Removes a rule. The numbers it gave stay assigned; no rule takes them back later.
#[utoipa::path(tag = "rules", params(("id" = String, Path, description = "Rule id"), ("If-Match" = Option<String>, Header, description = "The ETag last read")), responses((status = 204, description = "Deleted")))]
#[delete("/rules/{id}")]
pub async fn delete_rule(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = convert::path_id("rule", &path)?;
    let if_match = convert::if_match(&req)?;
    let permit = auth.permit;
    state
        .write(move |c| sr::delete(c, &permit, id, if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// What a full run started now would do for a stored rule, as if it were enabled:
/// who would get which number, who would lose one, who matches but would get nothing.
/// Changes nothing.
#[utoipa::path(tag = "rules", params(("id" = String, Path, description = "Rule id")), responses((status = 200, description = "The preview", body = RulePreview)))]
#[post("/rules/{id}/preview")]
pub async fn preview_rule(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    path: web::Path<String>,
) -> Result<web::Json<RulePreview>, ApiError> {
    let id = convert::path_id("rule", &path)?;
    let scope = auth.permit.scope().clone();
    let _slot = state.previews.slot().await?;
    let p = state
        .read(move |c| sr::preview::preview_saved(c, &scope, id))
        .await?;
    Ok(web::Json(preview_out(Some(id), p)))
}

/// The preview of an unsaved rule (the body of `POST /rules`), checked as saving it
/// would be; with `rule_id`, of an unsaved edit of that rule (the editor's live
/// preview), in the stored rule's place. Changes nothing.
#[utoipa::path(tag = "rules", params(PreviewQuery), request_body = RuleDraft, responses((status = 200, description = "The preview", body = RulePreview)))]
#[post("/rules/preview")]
pub async fn preview_draft(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    query: Query<PreviewQuery>,
    body: Json<RuleDraft>,
) -> Result<web::Json<RulePreview>, ApiError> {
    let replaces = query
        .into_inner()?
        .rule_id
        .map(|id| convert::id("rule_id", &id))
        .transpose()?;
    let draft = body.into_inner()?;
    let scope = auth.permit.scope().clone();
    let _slot = state.previews.slot().await?;
    let p = state
        .read(move |c| sr::preview::preview_draft(c, &scope, &draft, replaces))
        .await?;
    Ok(web::Json(preview_out(replaces, p)))
}

/// Queues a full evaluation of every rule over every user; a worker carries it out.
/// Answers 202 with the run (an already queued one, if any). Needs an unscoped admin.
#[utoipa::path(tag = "rules", responses((status = 202, description = "Queued; the run", body = api_types::RuleRun)))]
#[post("/rules/evaluate")]
pub async fn evaluate_rules(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
) -> Result<HttpResponse, ApiError> {
    let permit = auth.permit;
    let run = state.write(move |c| runs::request(c, &permit)).await?;
    Ok(HttpResponse::Accepted().json(run_out(run)))
}

/// The runs that evaluated a rule, newest first, each with what it did for the rule.
#[utoipa::path(tag = "rules", params(("id" = String, Path, description = "Rule id"), RuleQuery), responses((status = 200, description = "A page of runs", body = RuleRunList)))]
#[get("/rules/{id}/runs")]
pub async fn list_rule_runs(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
    query: Query<RuleQuery>,
) -> Result<web::Json<RuleRunList>, ApiError> {
    let id = convert::path_id("rule", &path)?;
    let q = query.into_inner()?;
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| runs::of_rule(c, &scope, id, q.cursor.as_deref(), q.limit))
        .await?;
    Ok(web::Json(RuleRunList {
        items: page
            .items
            .into_iter()
            .map(|(run, counts)| api_types::RuleRunOfRule {
                run: run_out(run),
                rule: counts_out(counts),
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One run: when, what started it, its totals, what it did per rule, and its lines
/// (numbers assigned and unassigned, users skipped with the reason, errors).
#[utoipa::path(tag = "rules", params(("id" = String, Path, description = "Run id")), responses((status = 200, description = "The run", body = RuleRunDetail)))]
#[get("/rule-runs/{id}")]
pub async fn get_rule_run(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
) -> Result<web::Json<RuleRunDetail>, ApiError> {
    let id = convert::path_id("rule run", &path)?;
    let scope = auth.permit.scope().clone();
    let d = state.read(move |c| runs::get(c, &scope, id)).await?;
    Ok(web::Json(RuleRunDetail {
        items_not_shown: d.run.items_not_shown,
        run: run_out(d.run),
        rules: d.rules.into_iter().map(counts_out).collect(),
        items: d
            .items
            .into_iter()
            .map(|it| api_types::RuleRunItem {
                user_id: it.user_id,
                upn: it.upn,
                rule_id: it.rule_id.map(|r| r.to_string()),
                kind: it.kind,
                number: it.number,
                reason: it.reason,
            })
            .collect(),
    }))
}
