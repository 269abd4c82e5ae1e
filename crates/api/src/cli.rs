//! What the `telestate` binary shares with the HTTP handlers, so that its `export` and
//! `import` commands read filters, write CSV and report plans exactly as the API does.
//!
//! This is the API crate's whole surface for the CLI: the handlers themselves are
//! private. Add a function here, not a `pub` on a handler, when the CLI needs more.

use api_types::{ImportSummary, NumberQuery};
use store::{Conn, StoreResult, export::Export, numbers::NumberFilter};

use crate::{error::ApiError, handlers};

/// Parses the numbers export's query as `GET /api/v1/export/numbers.csv` does.
pub fn number_filter(q: &NumberQuery) -> Result<NumberFilter, ApiError> {
    handlers::numbers::number_filter(q)
}

/// The numbers export's CSV header row, as the API sends it first.
pub fn export_header_row() -> Vec<u8> {
    handlers::export::header_row()
}

/// One page of the numbers export as CSV bytes, with its row count and the key to
/// continue after (`None` on the last page).
pub fn export_numbers_page(
    conn: &mut Conn,
    export: &Export,
    after: Option<&str>,
    page_rows: i64,
) -> StoreResult<(Vec<u8>, usize, Option<String>)> {
    handlers::export::numbers_page(conn, export, after, page_rows)
}

/// An import plan's counts as the API shows them.
pub fn import_summary(s: store::imports::Summary) -> ImportSummary {
    handlers::imports::summary_out(s)
}
