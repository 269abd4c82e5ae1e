//! CSV imports (plan, then apply) and change sets (list, revert).
//!
//! Planning changes nothing; applying runs the whole plan in one transaction, audited
//! under one change set, or refuses it with 409. A revert is planned like an import and
//! applied through the same `POST /api/v1/imports/{id}/apply`.

use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use api_types::{
    AuditList, ErrorCode, ImportApplied, ImportChange, ImportError, ImportPlan, ImportRow,
    ImportSummary, PageQuery,
};
use domain::ChangeOp;
use futures_util::StreamExt;
use store::{
    PlanRefusal,
    imports::{self, Change},
};

use crate::{
    AppState,
    auth::{Authorized, Manage, Read},
    convert,
    error::ApiError,
    idempotency::Idempotent,
    query::Query,
};

/// Rows shown with a plan when the caller does not ask for another page size.
const ROWS_SHOWN: i64 = 1000;

/// A plan's counts as the API shows them (the CLI prints the same).
pub(crate) fn summary_out(s: imports::Summary) -> ImportSummary {
    ImportSummary {
        rows: s.rows,
        unchanged: s.unchanged,
        creates: s.creates,
        updates: s.updates,
        assigns: s.assigns,
        reassigns: s.reassigns,
        unassigns: s.unassigns,
        reserves: s.reserves,
        releases: s.releases,
        quarantines: s.quarantines,
        deletes: s.deletes,
        errors: s.errors,
        errors_not_shown: s.errors_not_shown,
    }
}

fn error_out(e: imports::RowError) -> ImportError {
    ImportError {
        line: e.line,
        column: e.column,
        reason: e.reason,
    }
}

fn change_out(c: Change) -> ImportChange {
    let op = ImportChange::new;
    match c {
        Change::Create => op(ChangeOp::Create),
        Change::Delete => op(ChangeOp::Delete),
        Change::Update { field, old, new } => ImportChange {
            field: Some(field),
            old: Some(old),
            new: Some(new),
            ..op(ChangeOp::Update)
        },
        Change::Assign {
            target,
            override_reservation,
            override_quarantine,
        } => ImportChange {
            target: Some(target),
            override_reservation: Some(override_reservation),
            override_quarantine: Some(override_quarantine),
            ..op(ChangeOp::Assign)
        },
        Change::Reassign { previous, target } => ImportChange {
            previous: Some(previous),
            target: Some(target),
            ..op(ChangeOp::Reassign)
        },
        Change::Unassign {
            previous,
            quarantine_days,
        } => ImportChange {
            previous: Some(previous),
            quarantine_days,
            ..op(ChangeOp::Unassign)
        },
        Change::Reserve {
            reason,
            reserved_for,
            until,
        } => ImportChange {
            reason: Some(reason),
            reserved_for,
            until,
            ..op(ChangeOp::Reserve)
        },
        Change::Release => op(ChangeOp::Release),
        Change::Quarantine { reason, until } => ImportChange {
            reason: Some(reason),
            until,
            ..op(ChangeOp::Quarantine)
        },
    }
}

fn plan_out(plan: imports::Plan, page: store::page::Page<imports::PlanRow>) -> ImportPlan {
    ImportPlan {
        id: plan.id,
        kind: plan.kind,
        status: plan.status,
        source_change_set: plan.source_change_set,
        summary: summary_out(plan.summary),
        rows: page
            .items
            .into_iter()
            .map(|r| ImportRow {
                line: r.line,
                number: r.number,
                changes: r.changes.into_iter().map(change_out).collect(),
                errors: r.errors.into_iter().map(error_out).collect(),
            })
            .collect(),
        rows_truncated: page.next_cursor.is_some(),
        next_cursor: page.next_cursor,
        errors: plan.file_errors.into_iter().map(error_out).collect(),
        created_by: plan.created_by_name,
        created_at: convert::utc(plan.created_at),
        expires_at: convert::utc(plan.expires_at),
        change_set_id: plan.change_set_id,
        applied_at: plan.applied_at.map(convert::utc),
    }
}

/// The file inside a `multipart/form-data` body: the first part that carries a file name
/// (or is named `file`). Small on purpose: the body is in memory already.
fn multipart_file<'b>(content_type: &str, body: &'b [u8]) -> Result<&'b [u8], ApiError> {
    let bad = |why: &str| ApiError::BadRequest {
        code: ErrorCode::InvalidMultipart,
        field: Some("file".into()),
        message: format!("file: {why}"),
    };
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("the multipart body has no boundary"))?;
    let delimiter = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or_else(|| bad("no part found"))?;
    loop {
        let start = at + delimiter.len();
        if body.get(start..start + 2) == Some(b"--") {
            return Err(bad("no file part (send the CSV as a part named file)"));
        }
        let headers_end =
            find(body, b"\r\n\r\n", start).ok_or_else(|| bad("a part has no headers"))?;
        let headers = String::from_utf8_lossy(&body[start..headers_end]).to_ascii_lowercase();
        let content = headers_end + 4;
        let end = find(body, format!("\r\n{delimiter}").as_bytes(), content)
            .ok_or_else(|| bad("a part does not end"))?;
        if headers.contains("filename=") || headers.contains("name=\"file\"") {
            return Ok(&body[content..end]);
        }
        at = end + 2;
    }
}

/// Reads the upload (a CSV body, or a multipart form with a file part) up to the limit.
async fn read_upload(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let multipart = essence == "multipart/form-data";
    if !(multipart
        || matches!(
            essence.as_str(),
            "text/csv" | "application/csv" | "text/plain" | "application/octet-stream"
        ))
    {
        return Err(ApiError::UnsupportedMediaType(
            "send the file as text/csv (or multipart/form-data with a file part)".into(),
        ));
    }
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the upload is larger than {limit} bytes (TELESTATE_IMPORT_MAX_BYTES)"
        ))
    };
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: ErrorCode::InvalidField,
            field: Some("body".into()),
            message: format!("the upload could not be read: {e}"),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    if multipart {
        let file = multipart_file(&content_type, &body)?;
        return Ok(body.slice_ref(file));
    }
    Ok(body)
}

/// Plans an import of a CSV file (the export's format; columns may be a subset, `number`
/// required). Nothing changes: the answer is the plan — per line the changes and every
/// error with line, column and reason — to apply with `POST /api/v1/imports/{id}/apply`.
///
/// The body is the file itself (`text/csv`; UTF-8 with or without BOM, CRLF or LF), or a
/// `multipart/form-data` form whose file part holds it. A problem with the file as a whole
/// (empty, not UTF-8, another delimiter, no header, more than 64 columns) is a plan with
/// `errors`, not a 400. A line longer than 64 KiB, a cell longer than 4,096 characters and
/// cells beyond the header's columns are one error each. A plan keeps its first
/// `TELESTATE_IMPORT_MAX_ERRORS` errors (1,000 by default) and counts the rest in
/// `summary.errors_not_shown`. The first 1,000 lines with changes or errors are included;
/// page through the rest with `GET /api/v1/imports/{id}?cursor=`.
#[utoipa::path(
    tag = "imports",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a retry with the same key and file gets the first plan")),
    request_body(content = String, content_type = "text/csv", description = "The CSV file (or multipart/form-data with a file part)"),
    responses((status = 201, description = "The plan", body = ImportPlan))
)]
#[post("/imports")]
pub async fn create_import(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_upload(&req, payload, state.config.import_max_bytes).await?;
    let permit = auth.permit;
    let idem = Idempotent::of_bytes(&req, &permit, &body)?;
    let max_errors = state.config.import_max_errors;
    make_plan(&state, idem, permit, move |db, permit, ttl| {
        imports::plan_csv(
            db,
            permit,
            &body,
            store::now(),
            ttl,
            max_errors,
            &mut |_, _| {},
        )
    })
    .await
}

/// Makes a plan (an import's or a revert's) with `make`, or replays the answer to an
/// earlier request with the same `Idempotency-Key`; answers 201 with the plan and its
/// first rows, and remembers that answer for the key.
async fn make_plan(
    state: &AppState,
    idem: Idempotent,
    permit: domain::Permit,
    make: impl FnOnce(
        &store::Db,
        &domain::Permit,
        chrono::Duration,
    ) -> store::StoreResult<imports::Plan>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    if let Some(first) = idem.earlier(state).await? {
        return Ok(first);
    }
    let ttl = chrono::Duration::seconds(state.config.import_plan_ttl_seconds);
    let (plan, page) = state
        .with_db(move |db| {
            let plan = make(db, &permit, ttl)?;
            let page = db.read(|c| imports::rows(c, &permit, &plan.id, None, Some(ROWS_SHOWN)))?;
            Ok((plan, page))
        })
        .await?;
    let answer = serde_json::to_value(plan_out(plan, page)).unwrap_or_default();
    idem.remember(state, StatusCode::CREATED, answer).await
}

/// A plan and its outcome, with one page of its lines (1,000 unless `limit` says
/// otherwise; follow `next_cursor` for the rest). Plans are visible to whoever made them
/// and to unscoped callers.
#[utoipa::path(
    tag = "imports",
    params(("id" = String, Path, description = "The plan's id"), PageQuery),
    responses((status = 200, description = "The plan", body = ImportPlan))
)]
#[get("/imports/{id}")]
pub async fn get_import(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<web::Json<ImportPlan>, ApiError> {
    let id = path.into_inner();
    let PageQuery { cursor, limit } = query.into_inner()?;
    let permit = auth.permit;
    let (plan, page) = state
        .read(move |c| {
            let plan = imports::get(c, &permit, &id, store::now())?;
            let page = imports::rows(
                c,
                &permit,
                &id,
                cursor.as_deref(),
                Some(limit.unwrap_or(ROWS_SHOWN)),
            )?;
            Ok((plan, page))
        })
        .await?;
    Ok(web::Json(plan_out(plan, page)))
}

/// Applies a plan: every line in one transaction, each change audited under the plan's
/// new change set (source `import`), or nothing.
///
/// Refused with 409 `plan_has_errors`, `plan_expired`, `plan_already_applied`, or
/// `plan_stale` when a number in the plan changed since it was made (`details.numbers`
/// names up to ten); a stale plan cannot be applied later either.
#[utoipa::path(
    tag = "imports",
    params(
        ("id" = String, Path, description = "The plan's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a retry after a lost answer gets the first answer"),
    ),
    responses((status = 200, description = "What was applied", body = ImportApplied))
)]
#[post("/imports/{id}/apply")]
pub async fn apply_import(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let permit = auth.permit;
    let idem = Idempotent::of_bytes(&req, &permit, b"")?;
    let plan_id = id.clone();
    let outcome = idem
        .run_tagged(&state, move |c| {
            let a = imports::apply(c, &permit, &plan_id)?;
            let body = ImportApplied {
                id: a.id,
                status: a.status,
                change_set_id: a.change_set_id,
                applied: summary_out(a.applied),
            };
            Ok((
                StatusCode::OK,
                serde_json::to_value(body).unwrap_or_default(),
                None,
            ))
        })
        .await;
    if let Err(e) = &outcome {
        let status = match e {
            ApiError::Conflict {
                code: ErrorCode::PlanStale,
                ..
            } => PlanRefusal::Stale.marks_plan(),
            ApiError::Conflict {
                code: ErrorCode::PlanExpired,
                ..
            } => PlanRefusal::Expired.marks_plan(),
            _ => None,
        };
        if let Some(status) = status {
            // Remember it (the refused transaction rolled back); best effort.
            if let Err(mark) = state.write(move |c| imports::mark(c, &id, status)).await {
                tracing::warn!(error = %mark, "could not mark a refused import plan");
            }
        }
    }
    outcome
}

/// The audit records of one change set (an import, a bulk action, a revert), newest
/// first, paged like `/audit`. Scoped callers see records about their numbers only.
#[utoipa::path(
    tag = "change-sets",
    params(("id" = String, Path, description = "The change set's id"), PageQuery),
    responses((status = 200, description = "Its audit records", body = AuditList))
)]
#[get("/change-sets/{id}")]
pub async fn get_change_set(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    path: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<web::Json<AuditList>, ApiError> {
    let id = path.into_inner();
    let PageQuery { cursor, limit } = query.into_inner()?;
    let permit = auth.permit;
    let page = state
        .read(move |c| store::audit::change_set(c, &permit, &id, cursor.as_deref(), limit))
        .await?;
    Ok(web::Json(convert::audit_list(page)))
}

/// Plans the undoing of a change set: every number it touched back to its state before.
/// A number that changed since is an error row. Nothing changes until the plan is applied
/// with `POST /api/v1/imports/{id}/apply`.
#[utoipa::path(
    tag = "change-sets",
    params(
        ("id" = String, Path, description = "The change set's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a retry with the same key gets the first plan"),
    ),
    responses((status = 201, description = "The revert plan", body = ImportPlan))
)]
#[post("/change-sets/{id}/revert")]
pub async fn revert_change_set(
    state: web::Data<AppState>,
    auth: Authorized<Manage>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let permit = auth.permit;
    let idem = Idempotent::of_bytes(&req, &permit, b"")?;
    let max_errors = state.config.import_max_errors;
    make_plan(&state, idem, permit, move |db, permit, ttl| {
        imports::revert(db, permit, &id, store::now(), ttl, max_errors)
    })
    .await
}
