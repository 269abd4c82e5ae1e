//! Plans and their rows at rest: `import_plans` holds a plan's header (status, counts,
//! file errors), `import_plan_rows` its lines with changes or errors, each with the
//! version of the number it was planned against.
//!
//! A plan is written while it is made, in short transactions of its own ([`RowSink`]),
//! so it is `planning` until [`finish_plan`] stores its counts: only a `planned` plan can
//! be applied, and one whose planning failed is removed (or, failing that, purged later).

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use domain::{Permit, PlanStatus};

use super::{APPLIED_KEPT_DAYS, Plan, PlanRow, RowError, Summary};
use crate::{
    Conn, Db, StoreError, StoreResult,
    error::stored,
    page::{self, Page},
    schema::{import_plan_rows, import_plans},
};

/// Plan rows stored per (short) write transaction while planning.
const SINK_ROWS: usize = 5_000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = import_plans)]
struct PlanRecord {
    id: String,
    status: String,
    kind: String,
    source_change_set: Option<String>,
    created_by: String,
    created_by_name: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    summary: String,
    file_errors: String,
    error_count: i64,
    row_count: i64,
    change_set_id: Option<String>,
    applied_at: Option<NaiveDateTime>,
}

impl PlanRecord {
    fn into_plan(self, now: NaiveDateTime) -> StoreResult<Plan> {
        let status = match stored("import_plans.status", &self.status)? {
            PlanStatus::Planned if now > self.expires_at => PlanStatus::Expired,
            s => s,
        };
        Ok(Plan {
            id: self.id,
            status,
            kind: stored("import_plans.kind", &self.kind)?,
            source_change_set: self.source_change_set,
            created_by: self.created_by,
            created_by_name: self.created_by_name,
            created_at: self.created_at,
            expires_at: self.expires_at,
            summary: serde_json::from_str(&self.summary).unwrap_or_default(),
            file_errors: serde_json::from_str(&self.file_errors).unwrap_or_default(),
            error_count: self.error_count,
            row_count: self.row_count,
            change_set_id: self.change_set_id,
            applied_at: self.applied_at,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = import_plan_rows)]
struct RowRecord {
    line: i64,
    number: String,
    expected_version: Option<i64>,
    changes: String,
    errors: String,
}

impl RowRecord {
    fn into_row(self) -> StoreResult<PlanRow> {
        Ok(PlanRow {
            line: self.line as u64,
            number: self.number,
            expected_version: self.expected_version,
            changes: serde_json::from_str(&self.changes)
                .map_err(|e| StoreError::Internal(format!("stored plan row: {e}")))?,
            errors: serde_json::from_str(&self.errors).unwrap_or_default(),
        })
    }
}

/// Who made a plan, as `created_by` stores it.
fn actor_key(permit: &Permit) -> String {
    format!("{}:{}", permit.actor().kind.as_str(), permit.actor().id)
}

/// A fresh plan id: 32 random hex digits.
fn new_plan_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
/// Buffers a plan's rows and stores them in short transactions of their own, so that
/// planning a large file never holds the (SQLite) writer for long. It keeps the plan's
/// first `max_errors` errors; rows whose errors all lie beyond them are not stored.
pub(super) struct RowSink<'p> {
    db: &'p Db,
    plan_id: &'p str,
    buffer: Vec<(i64, String, Option<i64>, String, String)>,
    /// Errors that may still be stored.
    errors_left: usize,
}

impl<'p> RowSink<'p> {
    pub(super) fn new(db: &'p Db, plan_id: &'p str, max_errors: usize) -> RowSink<'p> {
        RowSink {
            db,
            plan_id,
            buffer: Vec::new(),
            errors_left: max_errors,
        }
    }

    /// Keeps as many of the plan's file errors as the cap allows (they come first);
    /// returns how many were left out.
    pub(super) fn keep_file_errors(&mut self, errors: &mut Vec<RowError>) -> u64 {
        let kept = errors.len().min(self.errors_left);
        self.errors_left -= kept;
        let left_out = errors.len() - kept;
        errors.truncate(kept);
        left_out as u64
    }

    /// Adds a row with changes or errors (its errors as far as the cap allows; a row with
    /// errors none of which fit is counted, not stored); a full buffer is written out.
    /// Returns how many of the row's errors were left out.
    pub(super) fn push(&mut self, row: &PlanRow) -> StoreResult<u64> {
        let kept = row.errors.len().min(self.errors_left);
        self.errors_left -= kept;
        let left_out = (row.errors.len() - kept) as u64;
        let stored = if row.errors.is_empty() {
            !row.changes.is_empty()
        } else {
            kept > 0
        };
        if !stored {
            return Ok(left_out);
        }
        self.buffer.push((
            row.line as i64,
            row.number.clone(),
            row.expected_version,
            serde_json::to_string(&row.changes).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&row.errors[..kept]).unwrap_or_else(|_| "[]".into()),
        ));
        if self.buffer.len() >= SINK_ROWS {
            self.flush()?;
        }
        Ok(left_out)
    }

    /// Writes out what is buffered, in a write transaction of its own.
    pub(super) fn flush(&mut self) -> StoreResult<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = self
            .buffer
            .drain(..)
            .map(|(l, n, v, c, e)| {
                (
                    import_plan_rows::plan_id.eq(self.plan_id),
                    import_plan_rows::line.eq(l),
                    import_plan_rows::number.eq(n),
                    import_plan_rows::expected_version.eq(v),
                    import_plan_rows::changes.eq(c),
                    import_plan_rows::errors.eq(e),
                )
            })
            .collect();
        self.db.write(|c| {
            for chunk in rows.chunks(1000) {
                crate::dialect::insert_batch!(c, import_plan_rows::table, chunk);
            }
            Ok(())
        })
    }
}

/// Forgets plans that were never applied and expired more than a day ago (with plans
/// whose planning was cut short), and applied plans after [`APPLIED_KEPT_DAYS`] — their
/// changes stay in the audit under the change set.
fn purge(conn: &mut Conn, now: NaiveDateTime) -> StoreResult<()> {
    let old: Vec<String> = import_plans::table
        .filter(
            import_plans::status
                .ne("applied")
                .and(import_plans::expires_at.lt(now - Duration::days(1)))
                .or(import_plans::applied_at.lt(now - Duration::days(APPLIED_KEPT_DAYS))),
        )
        .select(import_plans::id)
        .load(conn)?;
    for chunk in old.chunks(500) {
        discard(conn, chunk)?;
    }
    Ok(())
}

/// Removes plans and their rows.
fn discard(conn: &mut Conn, ids: &[String]) -> StoreResult<()> {
    diesel::delete(import_plan_rows::table.filter(import_plan_rows::plan_id.eq_any(ids)))
        .execute(conn)?;
    diesel::delete(import_plans::table.filter(import_plans::id.eq_any(ids))).execute(conn)?;
    Ok(())
}

/// Stores a plan's header as `planning` (not applicable yet; `GET` shows it with the rows
/// stored so far), after forgetting old plans.
pub(super) fn start_plan(
    db: &Db,
    permit: &Permit,
    kind: &str,
    source_change_set: Option<&str>,
    now: NaiveDateTime,
) -> StoreResult<String> {
    let id = new_plan_id();
    db.write(|conn| {
        purge(conn, now)?;
        diesel::insert_into(import_plans::table)
            .values((
                import_plans::id.eq(&id),
                import_plans::status.eq("planning"),
                import_plans::kind.eq(kind),
                import_plans::source_change_set.eq(source_change_set),
                import_plans::created_by.eq(actor_key(permit)),
                import_plans::created_by_name.eq(&permit.actor().name),
                import_plans::created_at.eq(now),
                import_plans::expires_at.eq(now),
                import_plans::summary
                    .eq(serde_json::to_string(&Summary::default()).unwrap_or_default()),
                import_plans::file_errors.eq("[]"),
                import_plans::error_count.eq(0_i64),
                import_plans::row_count.eq(0_i64),
            ))
            .execute(conn)?;
        Ok(())
    })?;
    Ok(id)
}

/// Ends planning: with the counts and file errors the plan becomes `planned`, to be
/// applied within `ttl` of `now` plus the time planning took; when planning failed, its
/// rows and header are removed.
pub(super) fn finish_plan(
    db: &Db,
    id: &str,
    outcome: StoreResult<(Summary, Vec<RowError>)>,
    (now, started): (NaiveDateTime, std::time::Instant),
    ttl: Duration,
) -> StoreResult<Plan> {
    let took = Duration::from_std(started.elapsed()).unwrap_or_default();
    match outcome {
        Ok((summary, file_errors)) => db.write(|conn| {
            diesel::update(import_plans::table.filter(import_plans::id.eq(id)))
                .set((
                    import_plans::status.eq("planned"),
                    import_plans::expires_at.eq(now + took + ttl),
                    import_plans::summary.eq(serde_json::to_string(&summary).unwrap_or_default()),
                    import_plans::file_errors
                        .eq(serde_json::to_string(&file_errors).unwrap_or_default()),
                    import_plans::error_count.eq(summary.errors as i64),
                    import_plans::row_count.eq(summary.rows as i64),
                ))
                .execute(conn)?;
            load(conn, id, crate::now())
        }),
        Err(e) => {
            // Best effort: what is left behind is `planning`, never applicable, and purged.
            if let Err(cleanup) = db.write(|conn| discard(conn, &[id.to_string()])) {
                tracing::warn!(plan = id, error = %cleanup, "could not remove a failed plan");
            }
            Err(e)
        }
    }
}
/// A plan by id, whoever made it.
fn load(conn: &mut Conn, id: &str, now: NaiveDateTime) -> StoreResult<Plan> {
    import_plans::table
        .filter(import_plans::id.eq(id))
        .select(PlanRecord::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found("import plan", id))?
        .into_plan(now)
}

/// A plan is visible to whoever made it and to unscoped callers; to others it does not
/// exist (it may name numbers outside their scope).
fn visible(plan: &Plan, permit: &Permit) -> bool {
    plan.created_by == actor_key(permit) || permit.scope().is_unrestricted()
}

/// A plan by id, if the caller may see it.
pub fn get(conn: &mut Conn, permit: &Permit, id: &str, now: NaiveDateTime) -> StoreResult<Plan> {
    let plan = load(conn, id, now)?;
    if !visible(&plan, permit) {
        return Err(StoreError::not_found("import plan", id));
    }
    Ok(plan)
}

/// A page of a plan's rows (those with changes or errors), by line.
pub fn rows(
    conn: &mut Conn,
    permit: &Permit,
    id: &str,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<PlanRow>> {
    get(conn, permit, id, crate::now())?;
    let limit = page::limit(limit)?;
    let mut q = import_plan_rows::table
        .filter(import_plan_rows::plan_id.eq(id))
        .select(RowRecord::as_select())
        .order(import_plan_rows::line.asc())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(import_plan_rows::line.gt(page::decode_id(c)?));
    }
    let rows: Vec<RowRecord> = q.limit(limit + 1).load(conn)?;
    let rows = rows
        .into_iter()
        .map(RowRecord::into_row)
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(page::finish(rows, limit, |r| r.line.to_string()))
}

/// Records that a plan can no longer be applied (`failed` after a stale refusal,
/// `expired`), in a transaction of its own after the refused apply rolled back.
pub fn mark(conn: &mut Conn, id: &str, status: PlanStatus) -> StoreResult<()> {
    diesel::update(
        import_plans::table
            .filter(import_plans::id.eq(id))
            .filter(import_plans::status.eq("planned")),
    )
    .set(import_plans::status.eq(status.as_str()))
    .execute(conn)?;
    Ok(())
}
/// Records a plan as applied under `change_set_id`, in the apply's transaction.
pub(super) fn set_applied(
    conn: &mut Conn,
    id: &str,
    change_set_id: &str,
    now: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(import_plans::table.filter(import_plans::id.eq(id)))
        .set((
            import_plans::status.eq("applied"),
            import_plans::change_set_id.eq(change_set_id),
            import_plans::applied_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Plan rows read and applied per step, so that memory does not grow with the plan.
const APPLY_ROWS: i64 = 5_000;

/// Calls `f` with the plan's rows, a page at a time in line order.
pub(super) fn for_rows(
    conn: &mut Conn,
    id: &str,
    mut f: impl FnMut(&mut Conn, &[PlanRow]) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut after = 0_i64;
    loop {
        let rows: Vec<PlanRow> = import_plan_rows::table
            .filter(import_plan_rows::plan_id.eq(id))
            .filter(import_plan_rows::line.gt(after))
            .select(RowRecord::as_select())
            .order(import_plan_rows::line.asc())
            .limit(APPLY_ROWS)
            .load::<RowRecord>(conn)?
            .into_iter()
            .map(RowRecord::into_row)
            .collect::<StoreResult<_>>()?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.line as i64;
        f(conn, &rows)?;
        if (rows.len() as i64) < APPLY_ROWS {
            return Ok(());
        }
    }
}
