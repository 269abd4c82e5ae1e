//! CSV exports: `GET /api/v1/export/numbers.csv`, and the audit trail's `text/csv` form.
//!
//! An export is streamed: the header row goes out at once, then one keyset page at a
//! time is read on the blocking pool, written as CSV and sent. The next page is read only
//! when the client has taken the previous one, so memory stays at about one page however
//! large the estate, and a slow client holds no database connection between pages.
//! Each page is its own short read (see `store::export`), not one long transaction.
//!
//! No UTF-8 byte-order mark is written: the importer accepts files with or without one,
//! and tools that read CSV as data (scripts, `sqlite3 .import`) trip over a BOM. Lines
//! end in `\n`.

use std::sync::Arc;

use actix_web::{HttpResponse, get, web, web::Bytes};
use api_types::NumberQuery;
use domain::csv_row::HEADER;
use futures_util::{Stream, StreamExt, stream};
use store::{Conn, Db, StoreError, StoreResult, export::Export};

use crate::{
    AppState,
    auth::{Authorized, Read},
    error::ApiError,
    handlers::numbers::number_filter,
    query::Query,
};

/// Writes CSV records into bytes (fields quoted only when they need it, lines end in `\n`).
pub(crate) fn encode<I, R, F>(records: I) -> StoreResult<Vec<u8>>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = F>,
    F: AsRef<str>,
{
    let failed = |e: csv::Error| StoreError::Internal(format!("writing CSV: {e}"));
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(1 << 20));
    for record in records {
        for field in record {
            w.write_field(field.as_ref()).map_err(failed)?;
        }
        // Ends the record (every record here has fields, so no lone `""` is written).
        w.write_record(std::iter::empty::<&[u8]>())
            .map_err(failed)?;
    }
    w.into_inner()
        .map_err(|e| StoreError::Internal(format!("writing CSV: {e}")))
}

/// The export's header row, as sent first.
pub(crate) fn header_row() -> Vec<u8> {
    encode([HEADER]).unwrap_or_default()
}

/// One page of the numbers export: its CSV bytes and the key to continue after, `None`
/// when it was the last page. Shared by the API and `telestate export`.
pub(crate) fn numbers_page(
    conn: &mut Conn,
    export: &Export,
    after: Option<&str>,
    page_rows: i64,
) -> StoreResult<(Vec<u8>, usize, Option<String>)> {
    let rows = export.page(conn, after, page_rows)?;
    let next = if rows.len() as i64 >= page_rows {
        rows.last().map(|r| r.number.clone())
    } else {
        None
    };
    let bytes = encode(rows.iter().map(|r| r.cells()))?;
    Ok((bytes, rows.len(), next))
}

/// Pages read ahead of the client: one being sent, this many ready. Reading the next page
/// while the last one is on the wire keeps both cores busy; the bound keeps memory at a
/// few pages and stops reading when the client is slow.
const PAGES_AHEAD: usize = 2;

/// A response body that sends `header` at once, then the pages `fetch` produces, one after
/// another until it returns no continuation key. The pages are read on one blocking
/// thread (one pooled connection per page, none held between pages) a little ahead of
/// the client; when the client goes away, reading stops. A failure mid-way is logged and
/// ends the body early, so the client sees a truncated transfer rather than a file that
/// looks complete.
pub(crate) fn paged<K, F>(
    db: Db,
    header: Vec<u8>,
    what: &'static str,
    fetch: F,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + 'static
where
    K: Send + 'static,
    F: Fn(&mut Conn, Option<K>) -> StoreResult<(Vec<u8>, Option<K>)> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_AHEAD);
    // Started at once, so the first page is read while the header goes out.
    drop(actix_web::rt::task::spawn_blocking(move || {
        let mut key = None;
        loop {
            match db.read(|c| fetch(c, key.take())) {
                Ok((bytes, next)) => {
                    // A closed channel means the client went away: stop reading.
                    if bytes.is_empty() || tx.blocking_send(Ok(Bytes::from(bytes))).is_err() {
                        return;
                    }
                    match next {
                        Some(k) => key = Some(k),
                        None => return,
                    }
                }
                Err(e) => {
                    tracing::error!(export = what, error = %e, "CSV export failed mid-stream");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
    }));
    let pages = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|page| (page, rx))
    });
    stream::once(std::future::ready(Ok(Bytes::from(header)))).chain(pages)
}

/// A streamed CSV download named `filename`.
pub(crate) fn csv_response(
    filename: &str,
    body: impl Stream<Item = Result<Bytes, std::io::Error>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body)
}

/// Exports the numbers in the caller's scope as CSV, ordered by number.
///
/// Takes the filters of `GET /api/v1/numbers`; `cursor` and `limit` do not apply (the
/// file holds every matching number). The columns are the import's, in this stable
/// order: `number, status, country, location, range, tags, description, platform,
/// number_type, assigned_to_kind, assigned_to, reserved_reason, reserved_for,
/// reserved_until, quarantined_until`. Location, range and platform appear by name (an
/// unnamed range as `start-end`), tags `;`-separated, `assigned_to` as the user's UPN or
/// the service's name, times as RFC 3339 UTC. A text cell a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, which the
/// import removes again; the `number` column is written as it is. UTF-8 without BOM.
///
/// The body is streamed: the header row arrives at once and memory does not grow with
/// the estate. A body that ends early (the server failed mid-way) is not a complete file.
#[utoipa::path(
    tag = "export",
    params(NumberQuery),
    responses((status = 200, description = "The numbers as CSV (streamed)", content_type = "text/csv", body = String))
)]
#[get("/export/numbers.csv")]
pub async fn export_numbers(
    state: web::Data<AppState>,
    auth: Authorized<Read>,
    query: Query<NumberQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = number_filter(&query.into_inner()?)?;
    let scope = auth.permit.scope().clone();
    let export = Arc::new(
        state
            .read(move |c| Export::prepare(c, &scope, filter))
            .await?,
    );
    let page_rows = store::export::PAGE_ROWS;
    let body = paged(
        state.db.clone(),
        header_row(),
        "numbers",
        move |c, after: Option<String>| {
            let (bytes, _, next) = numbers_page(c, &export, after.as_deref(), page_rows)?;
            Ok((bytes, next))
        },
    );
    Ok(csv_response("numbers.csv", body))
}
