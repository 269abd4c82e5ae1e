//! The audit trail (read-only: there is no route that edits or deletes a record).

use actix_web::{
    HttpRequest, HttpResponse, get,
    http::header::{Accept, Header},
    web,
};
use std::borrow::Cow;

use api_types::{AuditList, AuditQuery};
use domain::csv_row::neutralise;
use store::audit::{AuditFilter, AuditRow};

use crate::{
    AppState,
    auth::{Authorized, Read},
    convert,
    error::ApiError,
    handlers::export,
    query::Query,
};

/// The columns of the audit trail's CSV form, in order.
pub const CSV_HEADER: [&str; 13] = [
    "id",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "entity",
    "entity_id",
    "source",
    "request_id",
    "change_set_id",
    "before",
    "after",
];

/// True when the caller's `Accept` ranks CSV above JSON (`text/csv` or `text/*` first).
fn wants_csv(req: &HttpRequest) -> bool {
    let Ok(accept) = Accept::parse(req) else {
        return false;
    };
    for m in accept.ranked() {
        match (m.type_().as_str(), m.subtype().as_str()) {
            ("text", "csv") | ("text", "*") => return true,
            ("application", "json") | ("application", "*") | ("*", _) => return false,
            _ => {}
        }
    }
    false
}

fn csv_cells(r: &AuditRow) -> [Cow<'_, str>; 13] {
    fn text(v: &Option<String>) -> Cow<'_, str> {
        v.as_deref().map(neutralise).unwrap_or_default()
    }
    [
        Cow::Owned(r.id.to_string()),
        Cow::Owned(store::export::format_time(r.at)),
        neutralise(r.actor_kind.as_str()),
        neutralise(&r.actor_id),
        neutralise(&r.actor_name),
        neutralise(&r.action),
        neutralise(&r.entity_kind),
        neutralise(&r.entity_id),
        neutralise(r.source.as_str()),
        text(&r.request_id),
        text(&r.change_set_id),
        text(&r.before_json),
        text(&r.after_json),
    ]
}

/// Lists audit records, newest first. Scoped callers see records about their numbers only.
///
/// Records about accounts, API tokens, logins and platforms are for owners only, whatever
/// the filter.
///
/// With `Accept: text/csv` the answer is the CSV of `GET /api/v1/export/audit.csv` (kept
/// for clients written before that operation existed).
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of audit records", body = AuditList))
)]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    req: HttpRequest,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner()?;
    let filter = audit_filter(&q)?;
    let permit = auth.permit;
    if wants_csv(&req) {
        return audit_csv(&state, permit, filter);
    }
    let page = state
        .read(move |c| store::audit::list(c, &permit, &filter, q.cursor.as_deref(), q.limit))
        .await?;
    Ok(HttpResponse::Ok().json(convert::audit_list(page)))
}

/// Every audit record matching the filters of `GET /api/v1/audit`, as one streamed CSV
/// file, newest first (`cursor` and `limit` do not apply). Records about accounts, API
/// tokens, logins and platforms are for owners only.
///
/// The columns are `id, at, actor_kind, actor_id, actor_name, action, entity, entity_id,
/// source, request_id, change_set_id, before, after`; `before` and `after` are JSON text,
/// and text a spreadsheet would run as a formula gets a leading `'`.
#[utoipa::path(
    tag = "export",
    params(AuditQuery),
    responses((status = 200, description = "The audit records as CSV (streamed)", content_type = "text/csv", body = String))
)]
#[get("/export/audit.csv")]
pub async fn export_audit(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner()?;
    let filter = audit_filter(&q)?;
    audit_csv(&state, auth.permit, filter)
}

/// The store's filter for the audit query's parameters.
fn audit_filter(q: &AuditQuery) -> Result<AuditFilter, ApiError> {
    let (entity_kind, entity_id) = match &q.number {
        Some(n) => (
            Some("number".to_string()),
            Some(convert::number("number", n)?.to_string()),
        ),
        None => (q.entity.clone(), q.entity_id.clone()),
    };
    Ok(AuditFilter {
        entity_kind,
        entity_id,
        actor: q.actor.clone(),
        action: q.action.clone(),
        source: q.source.clone(),
        since: q.since.map(|t| t.naive_utc()),
        until: q.until.map(|t| t.naive_utc()),
    })
}

/// Streams every matching record as CSV, one page of the store's at a time.
fn audit_csv(
    state: &AppState,
    permit: domain::Permit,
    filter: AuditFilter,
) -> Result<HttpResponse, ApiError> {
    let body = export::paged(
        state.db.clone(),
        export::encode([CSV_HEADER])?,
        "audit",
        move |c, cursor: Option<String>| {
            let page = store::audit::list(
                c,
                &permit,
                &filter,
                cursor.as_deref(),
                Some(store::page::MAX_LIMIT),
            )?;
            Ok((
                export::encode(page.items.iter().map(csv_cells))?,
                page.next_cursor,
            ))
        },
    );
    Ok(export::csv_response("audit.csv", body))
}
