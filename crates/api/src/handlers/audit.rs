//! The audit trail (read-only: there is no route that edits or deletes a record).

use actix_web::{get, web};
use api_types::{AuditList, AuditQuery};
use store::audit::AuditFilter;

use crate::{
    query::Query,
    AppState,
    auth::{Authorized, Read},
    convert,
    error::ApiError,
};

/// Lists audit records, newest first. Scoped callers see records about their numbers only.
#[utoipa::path(tag = "audit", params(AuditQuery), responses((status = 200, description = "Audit records", body = AuditList)))]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<AuditQuery>,
) -> Result<web::Json<AuditList>, ApiError> {
    let q = query.into_inner()?;
    let (entity_kind, entity_id) = match &q.number {
        Some(n) => (
            Some("number".to_string()),
            Some(convert::number("number", n)?.to_string()),
        ),
        None => (q.entity.clone(), q.entity_id.clone()),
    };
    let filter = AuditFilter {
        entity_kind,
        entity_id,
        actor: q.actor,
        action: q.action,
        source: q.source,
        since: q.since.map(|t| t.naive_utc()),
        until: q.until.map(|t| t.naive_utc()),
    };
    let scope = auth.permit.scope().clone();
    let page = state
        .read(move |c| store::audit::list(c, &scope, &filter, q.cursor.as_deref(), q.limit))
        .await?;
    Ok(web::Json(convert::audit_list(page)))
}
