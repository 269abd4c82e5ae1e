//! Search over numbers: the filters of the list and of the CSV export, answered a page at
//! a time through an index that yields the matching rows in E.164 order.
//!
//! A page is "the first `limit` matching numbers after the cursor, by E.164". Reading the
//! numbers in E.164 order and testing each one is fast only when matches are dense and
//! early; a filter that matches 4% of a million numbers, all of them at the end, read
//! 960,000 rows before its first match. So each filter has an index whose rows come in
//! E.164 order for one value of the filter and one status — `(location_id, status, e164)`,
//! `(tag_id, status, e164)` on the tag links (which carry their number's status), and so
//! on (see the search migration) — and a page is read from one of them, the *driver*:
//!
//! - One filter: its index. Without a status filter the page is the merge of one index
//!   range per status (four short reads, an *arm* each, joined by `UNION ALL`).
//! - Several: each is *probed* — its matches counted up to [`PROBE_CAP`], and when all
//!   reach it, again up to [`WIDE_PROBE_CAP`] — and the smallest drives; the others are
//!   tested on the rows it yields. A page then reads at most as many rows as the driver
//!   has matches, whatever the data's placement. (The case this cannot make cheap: two
//!   filters that each match more than [`WIDE_PROBE_CAP`] numbers but few together.)
//! - `assigned_to` drives whenever it is given (an assignee holds a handful of numbers);
//!   free text `q` drives when its trigram index finds fewer candidates than any other
//!   filter's probe; alone on a list page, it is first read in one statement that sorts
//!   the index's candidates unless they reach [`PROBE_CAP`] (no probe reads them a
//!   second time); dense text is first tried in E.164 order (where it usually fills a
//!   page at once) and, failing that, its matches are found by the index and sorted.
//!
//! Conditions that do not drive are written so that no index can serve them
//! (`(n.platform_id + 0) = $1`, `(n.country || '') = $2`): the planner then has exactly one
//! way to produce E.164 order — the driver's index — and cannot be tempted by its own
//! estimates into reading a broad index in order and filtering (which is what it does when
//! matches are clustered where its uniform-distribution estimate does not expect them).
//!
//! The caller's scope adds conditions like any filter, and may drive too: a regional admin
//! whose grant names two sites reads those sites' indexes, not the whole estate.

use diesel::{QueryableByName, RunQueryDsl, query_dsl::LoadQuery, sql_types::BigInt};
use domain::{NumberStatus, NumberType};

use crate::{
    Conn, StoreResult, dialect,
    fragments::{Statement, Typed, Value},
    scope::ScopeFilter,
};

/// List filters; each one narrows the result.
#[derive(Debug, Clone, Default)]
pub struct NumberFilter {
    /// Status.
    pub status: Option<NumberStatus>,
    /// Tag keys; a number must carry all of them.
    pub tags: Vec<String>,
    /// Site.
    pub location_id: Option<i64>,
    /// Range.
    pub range_id: Option<i64>,
    /// Platform.
    pub platform_id: Option<i64>,
    /// Number type.
    pub number_type: Option<NumberType>,
    /// ISO country.
    pub country: Option<String>,
    /// Free text: digits match anywhere in the number, words in the description or the
    /// assignee's name.
    pub q: Option<String>,
    /// Assignee: directory user id or UPN, service id or name (case-insensitive names).
    pub assigned_to: Option<String>,
}

/// How many matches a probe counts before it stops: a driver with fewer is read to its
/// end at worst, which costs about as much as the probe itself.
pub(crate) const PROBE_CAP: i64 = 2_000;

/// The second count when every filter reached [`PROBE_CAP`] (and a first try did not
/// hold a page), for at most [`WIDE_PROBES`] filters.
const WIDE_PROBE_CAP: i64 = 50_000;
const WIDE_PROBES: usize = 4;

/// Most arms (index ranges) one page may merge, and most rows they may read together; a
/// driver needing more is not used.
const MAX_ARMS: usize = 256;
const MAX_ARM_ROWS: i64 = 64_000;

/// Driver rows a first try reads when every filter is broad: if they hold a page of
/// matches, that is the page (the matches come in E.164 order from the driver).
const TRY_ROWS: i64 = 5_000;

/// The page sizes whose statements PostgreSQL keeps prepared (see [`Plan::new`]): the
/// list's sizes a client usually asks for, plus one (the row that tells whether a next
/// page exists), and the export's.
const KEPT_PAGE_ROWS: [i64; 10] = [11, 21, 26, 51, 101, 201, 251, 501, 1001, EXPORT_PAGE_ROWS];

/// Rows a page may read beyond those asked for, so that a page of another size is read
/// by the statement of the next kept size (pages of 1 to 10 by the one of 10, 30 by the
/// one of 50) instead of being parsed and planned afresh. On the held 1M estate a
/// `tag=…` page of 1 cost PostgreSQL 422 µs of CPU, planned each time, and a kept page
/// of 10 cost it 92; a row read and dropped costs it about 3 µs (and the server nothing:
/// the rows past the page are never decoded), so 50 such rows still cost less than one
/// planning.
const MAX_UNREAD_ROWS: i64 = 50;

/// The kept page size (rows) that reads a page of `rows`, if there is one close enough.
fn kept_page_rows(rows: i64) -> Option<i64> {
    KEPT_PAGE_ROWS
        .into_iter()
        .find(|&k| k >= rows)
        .filter(|&k| k - rows <= MAX_UNREAD_ROWS)
}

/// The export's page size (`export::PAGE_ROWS`; here because the export reads through
/// this module).
pub(crate) const EXPORT_PAGE_ROWS: i64 = 5000;

/// Largest page the short first look (four rows per row of the page) is made for; an
/// export's pages are read without it.
const QUICK_TRY_MAX_PAGE: i64 = 1_001;

/// The values a page's statements bind, and the backend they are written for.
struct Params {
    statement: Statement,
    flavor: dialect::Flavor,
    /// Whether the statements that read rows (pages and first tries) stay prepared.
    keep_pages: bool,
}

impl Params {
    fn bind(&mut self, v: Value) -> String {
        self.statement.bind(v)
    }

    /// A statement that counts (a probe): kept prepared on SQLite only. On PostgreSQL its
    /// generic plan reads `numbers` in any order until it has counted enough, which is
    /// quick for a common value and a whole-table scan for a rare one.
    fn query(&self, sql: String) -> Statement {
        self.statement.with_sql(sql)
    }

    /// A statement that reads a page's rows, kept prepared when `keep_pages` says so.
    fn page_query(&self, sql: String) -> Statement {
        Statement {
            cached: self.keep_pages,
            ..self.statement.with_sql(sql)
        }
    }
}

/// Where a filter's index lives.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A column of `numbers` with an index `(column, status, e164)`; `text` for a text column.
    Column { column: &'static str, text: bool },
    /// The tag links, index `(tag_id, status, e164)`.
    Tags,
}

/// One filter that can drive: a column (or the tag links) equal to one of `values`.
#[derive(Debug, Clone)]
struct Facet {
    source: Source,
    /// Placeholders of the accepted values (any of them matches).
    values: Vec<String>,
}

impl Facet {
    /// The condition on a row `n` of numbers, in a form no index serves.
    fn residual(&self) -> String {
        let list = self.values.join(", ");
        match self.source {
            Source::Column {
                column,
                text: false,
            } => format!("(n.{column} + 0) IN ({list})"),
            Source::Column { column, text: true } => format!("(n.{column} || '') IN ({list})"),
            Source::Tags => format!(
                "EXISTS (SELECT 1 FROM number_tags x WHERE x.number_id = n.id AND x.tag_id IN ({list}))"
            ),
        }
    }

    /// `FROM … WHERE` of the index range for one value and one status (the caller adds
    /// the cursor and the other conditions), and the E.164 column it is ordered by.
    fn arm(&self, value: &str, status: &str) -> (String, &'static str) {
        self.arm_of(value, &format!("'{status}'"))
    }

    /// [`Facet::arm`] with the status as an SQL expression (a literal, or a column of an
    /// outer query).
    fn arm_of(&self, value: &str, status: &str) -> (String, &'static str) {
        match self.source {
            Source::Column { column, .. } => (
                format!("FROM numbers n WHERE n.{column} = {value} AND n.status = {status}"),
                "n.e164",
            ),
            Source::Tags => (
                format!(
                    "FROM number_tags d JOIN numbers n ON n.id = d.number_id \
                     WHERE d.tag_id = {value} AND d.status = {status}"
                ),
                "d.e164",
            ),
        }
    }

    /// Like [`Facet::arm`], for an arm that reads only the number's id and E.164 (returned
    /// first): tag links without a join to `numbers` when nothing else needs its row
    /// (`joined` false), so the arm is read from the driving index alone.
    fn narrow_arm(
        &self,
        value: &str,
        status: &str,
        joined: bool,
    ) -> (&'static str, String, &'static str) {
        match self.source {
            Source::Tags if !joined => (
                "d.number_id",
                format!("FROM number_tags d WHERE d.tag_id = {value} AND d.status = '{status}'"),
                "d.e164",
            ),
            _ => {
                let (from, order) = self.arm(value, status);
                ("n.id", from, order)
            }
        }
    }

    /// Counts up to `cap` matches (of `status` after `after`, when given).
    fn probe_sql(&self, status: Option<&str>, after: Option<&str>, cap: i64) -> String {
        let list = self.values.join(", ");
        let (from, key, e164) = match self.source {
            Source::Column { column, .. } => ("numbers n", format!("n.{column}"), "n.e164"),
            Source::Tags => ("number_tags n", "n.tag_id".to_string(), "n.e164"),
        };
        let mut sql = format!("SELECT 1 FROM {from} WHERE {key} IN ({list})");
        if let Some(s) = status {
            sql.push_str(&format!(" AND n.status = '{s}'"));
            if let Some(a) = after {
                sql.push_str(&format!(" AND {e164} > {a}"));
            }
        }
        format!("SELECT COUNT(*) AS n FROM ({sql} LIMIT {cap}) c")
    }

    /// How the arms of a page are merged: tag links of several tags can yield one
    /// number twice (a column of `numbers` cannot), so those arms drop duplicates.
    fn union(&self) -> &'static str {
        match self.source {
            Source::Tags if self.values.len() > 1 => " UNION ",
            _ => " UNION ALL ",
        }
    }

    fn arms(&self, statuses: &[&str]) -> usize {
        self.values.len() * statuses.len()
    }
}

/// Free text, as both exact conditions and (when long enough) a trigram query.
#[derive(Debug, Clone)]
struct FreeText {
    /// The exact test on a row `n` (LIKE over the number's digits, description, assignee).
    exact: String,
    /// The query for the trigram index, when every part of it has three characters or
    /// more (a trigram index cannot look up less).
    indexed: Option<dialect::TextQuery>,
}

/// The page's plan: the filters turned into SQL pieces.
struct Plan {
    params: Params,
    facets: Vec<Facet>,
    status: Option<&'static str>,
    assignee: Option<String>,
    text: Option<FreeText>,
    after: Option<String>,
    /// The statement's `LIMIT`: a kept size written into the text, else a bound marker
    /// (so pages of any size share one statement).
    limit: String,
    /// The rows a page's statement reads: those asked for, or the next kept size.
    rows: i64,
    /// The rows asked for: a page holds at most these (the first of those read).
    wanted: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The outcome of probing.
enum Choice {
    /// This driver.
    Decided(Driver),
    /// Every filter matched at least [`PROBE_CAP`] numbers (their facet indexes, in order).
    Broad(Vec<usize>),
    /// Free text, the only filter, matched at least [`PROBE_CAP`] numbers: read in E.164
    /// order it usually fills a page at once; if not, its matches lie late, and its
    /// index finds them all to be sorted.
    DenseText,
}

/// What reads the page.
enum Driver {
    /// One facet's index ranges.
    Facet(usize),
    /// The assignee indexes.
    Assignee,
    /// The trigram index.
    Text,
    /// `numbers` in E.164 order (by status when one is asked for).
    Order,
}

impl Plan {
    /// `None` when nothing can match (a scope naming no site or no tag).
    fn new(
        conn: &mut Conn,
        scope: &ScopeFilter,
        filter: &NumberFilter,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Option<Plan>> {
        let flavor = dialect::Flavor::of(conn);
        let mut params = Params {
            statement: Statement {
                cached: flavor.keeps_search_statements(),
                ..Statement::default()
            },
            flavor,
            keep_pages: flavor.keeps_search_statements(),
        };
        let mut facets = Vec::new();
        let mut keys = filter.tags.clone();
        keys.sort();
        keys.dedup();
        for key in keys {
            // The tag is looked up inside each statement (once: the subquery does not
            // depend on the row), a round trip less than reading its id first; a key no
            // tag has yields NULL, which no link equals.
            let key = params.bind(Value::Text(key));
            facets.push(Facet {
                source: Source::Tags,
                values: vec![format!("(SELECT t.id FROM tags t WHERE t.key = {key})")],
            });
        }
        let column = |column, text| Source::Column { column, text };
        let mut single = |source, v: Value, facets: &mut Vec<Facet>| {
            facets.push(Facet {
                source,
                values: vec![params.bind(v)],
            })
        };
        if let Some(v) = filter.location_id {
            single(column("location_id", false), Value::Int(v), &mut facets);
        }
        if let Some(v) = filter.range_id {
            single(column("range_id", false), Value::Int(v), &mut facets);
        }
        if let Some(v) = filter.platform_id {
            single(column("platform_id", false), Value::Int(v), &mut facets);
        }
        if let Some(v) = filter.number_type {
            single(
                column("number_type", true),
                Value::Text(v.as_str().into()),
                &mut facets,
            );
        }
        if let Some(v) = &filter.country {
            single(
                column("country", true),
                Value::Text(v.to_ascii_uppercase()),
                &mut facets,
            );
        }
        if let Some(ids) = scope.location_ids() {
            if ids.is_empty() {
                return Ok(None);
            }
            // A grant's ids are integers from our own tables, written into the text (see
            // `ScopeFilter`): bound, a grant of a thousand sites repeated in every arm
            // would exceed the backends' limits on bound values.
            let values = ids.iter().map(i64::to_string).collect();
            facets.push(Facet {
                source: column("location_id", false),
                values,
            });
        }
        if let Some(ids) = scope.tag_ids() {
            if ids.is_empty() {
                return Ok(None);
            }
            let values = ids.iter().map(i64::to_string).collect();
            facets.push(Facet {
                source: Source::Tags,
                values,
            });
        }
        let assignee = filter
            .assigned_to
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| {
                let id = params.bind(Value::Text(v.to_string()));
                let name = params.bind(Value::Text(v.to_lowercase()));
                format!(
                    "(n.assigned_id = {id} OR (n.assigned_name IS NOT NULL AND lower(n.assigned_name) = {name}))"
                )
            });
        let text = filter
            .q
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| free_text(&mut params, t));
        let after = after.map(|a| params.bind(Value::Text(a.to_string())));
        let wanted = limit.max(1);
        // On PostgreSQL a page's statement stays prepared where its plan cannot depend on
        // its values: parsing and planning a page cost more than running it (0.25 ms of a
        // `tag=…&status=…` page's 0.45). After five runs PostgreSQL may then plan it once
        // for all values (a generic plan), and that plan has one way to yield E.164 order
        // whatever the values: the driver's index (see the module's notes). Exceptions:
        // - free text: whether a pattern's trigrams are selective is known only from the
        //   pattern;
        // - a scope's ids are written into the text: one statement per grant would pile up;
        // - the page size is written into the text too (a bound `LIMIT $n` is planned
        //   for a tenth of the table, which made every generic plan look costlier than
        //   re-planning, so none was ever used), so only the usual sizes are kept, and
        //   each connection keeps a bounded number of statements; a page of another size
        //   reads as many rows as the next usual size when that is at most
        //   `MAX_UNREAD_ROWS` more.
        let kept_rows =
            (flavor == dialect::Flavor::Postgres && text.is_none() && scope.is_unrestricted())
                .then(|| kept_page_rows(wanted))
                .flatten();
        let limit = match kept_rows {
            Some(rows) => rows.to_string(),
            None => params.bind(Value::Int(wanted)),
        };
        params.keep_pages |= kept_rows.is_some();
        Ok(Some(Plan {
            params,
            facets,
            status: filter.status.map(NumberStatus::as_str),
            assignee,
            text,
            after,
            limit,
            rows: kept_rows.unwrap_or(wanted),
            wanted,
        }))
    }

    fn statuses(&self) -> Vec<&'static str> {
        match self.status {
            Some(s) => vec![s],
            None => NumberStatus::ALL.iter().map(|s| s.as_str()).collect(),
        }
    }

    fn count(&self, conn: &mut Conn, sql: String) -> StoreResult<i64> {
        Ok(self.params.query(sql).get_result::<Count>(conn)?.n)
    }

    /// Picks the driver, probing when there is a choice; [`Choice::Broad`] when every
    /// filter reached [`PROBE_CAP`].
    fn choose(&self, conn: &mut Conn) -> StoreResult<Choice> {
        if self.assignee.is_some() {
            return Ok(Choice::Decided(Driver::Assignee));
        }
        let statuses = self.statuses();
        let usable: Vec<usize> = (0..self.facets.len())
            .filter(|i| {
                let arms = self.facets[*i].arms(&statuses);
                arms <= MAX_ARMS && arms as i64 * self.rows <= MAX_ARM_ROWS
            })
            .collect();
        let indexed_text = self.text.as_ref().and_then(|t| t.indexed.as_ref());
        match (usable.as_slice(), indexed_text) {
            ([], None) => return Ok(Choice::Decided(Driver::Order)),
            ([only], None) => return Ok(Choice::Decided(Driver::Facet(*only))),
            _ => {}
        }
        let mut counts = Vec::with_capacity(usable.len());
        for &i in &usable {
            let sql = self.facets[i].probe_sql(self.status, self.after.as_deref(), PROBE_CAP);
            counts.push((self.count(conn, sql)?, i));
        }
        let best = counts.iter().copied().min_by_key(|(n, _)| *n);
        if let Some(t) = indexed_text {
            let n = self.count(conn, dialect::text_probe(t, PROBE_CAP))?;
            if n < PROBE_CAP && best.is_none_or(|(m, _)| n < m) {
                return Ok(Choice::Decided(Driver::Text));
            }
            if best.is_none() {
                return Ok(Choice::DenseText);
            }
        }
        Ok(match best {
            None => Choice::Decided(Driver::Order),
            Some((n, i)) if n < PROBE_CAP || counts.len() == 1 => Choice::Decided(Driver::Facet(i)),
            Some(_) => Choice::Broad(counts.into_iter().map(|(_, i)| i).collect()),
        })
    }

    /// Decides how to read the page. Where a cheap first try may already hold it, the try
    /// is handed to `attempt` (a label, the statement, and how many rows prove that it
    /// holds the page; `true` when it yielded that many). `None`: there is no driver, the
    /// last try's rows are the page.
    fn pick(
        &self,
        conn: &mut Conn,
        columns: &str,
        attempt: &mut dyn FnMut(&mut Conn, &str, String, i64) -> StoreResult<bool>,
    ) -> StoreResult<Option<Driver>> {
        // Free text alone: the page among the index's candidates, read once, unless there
        // are too many to sort. A probe would read the index a second time for the same
        // answer, and the lists of a number's trigrams are most of a page's cost.
        let text_tried = match self.try_text(columns) {
            Some(sql) => {
                if attempt(conn, "free text alone: its few candidates, sorted", sql, 1)? {
                    return Ok(None);
                }
                true
            }
            None => false,
        };
        // Several filters usually overlap (a pool's tag and its site): a short look along
        // the first one's index then holds the page, and no filter needs counting.
        if self.facets.len() > 1
            && self.assignee.is_none()
            && self.rows <= QUICK_TRY_MAX_PAGE
            && let Some(sql) = self.try_statement(&[0], columns, self.rows * 4)
            && attempt(
                conn,
                "several filters: a short first look",
                sql,
                self.wanted,
            )?
        {
            return Ok(None);
        }
        Ok(Some(match self.choose(conn)? {
            // The try read every candidate and none matched: the page is empty.
            Choice::Decided(Driver::Text) if text_tried => return Ok(None),
            Choice::Decided(d) => d,
            Choice::Broad(broad) => {
                if let Some(sql) = self.try_statement(&broad, columns, TRY_ROWS)
                    && attempt(conn, "every filter is broad: first try", sql, self.wanted)?
                {
                    return Ok(None);
                }
                self.narrowest(conn, &broad)?
            }
            Choice::DenseText => {
                let sql = self.try_in_order(columns);
                if attempt(
                    conn,
                    "free text matches many: first try in E.164 order",
                    sql,
                    self.wanted,
                )? {
                    return Ok(None);
                }
                Driver::Text
            }
        }))
    }

    /// Among broad filters, the one with the fewest matches counted up to
    /// [`WIDE_PROBE_CAP`] (the first few only: each count may read that many entries).
    fn narrowest(&self, conn: &mut Conn, broad: &[usize]) -> StoreResult<Driver> {
        let mut best = (i64::MAX, broad[0]);
        for &i in broad.iter().take(WIDE_PROBES) {
            let sql = self.facets[i].probe_sql(self.status, self.after.as_deref(), WIDE_PROBE_CAP);
            let n = self.count(conn, sql)?;
            if n < best.0 {
                best = (n, i);
            }
        }
        Ok(Driver::Facet(best.1))
    }

    /// A first try for broad filters whose first has one arm: its first [`TRY_ROWS`]
    /// rows, tested against the rest. Broad filters usually overlap, so this tends to
    /// hold the page; `None` when the filters do not fit it.
    fn try_statement(&self, broad: &[usize], columns: &str, rows: i64) -> Option<String> {
        let i = broad[0];
        let facet = &self.facets[i];
        let ([value], Some(status)) = (facet.values.as_slice(), self.status) else {
            return None;
        };
        let (id, key, table) = match facet.source {
            Source::Column { column, .. } => ("id", format!("{column} = {value}"), "numbers"),
            Source::Tags => ("number_id", format!("tag_id = {value}"), "number_tags"),
        };
        let after = self.after_condition("e164");
        let tried = format!(
            "SELECT {id} AS id, e164 FROM {table} WHERE {key} AND status = '{status}'{after} \
             ORDER BY e164 LIMIT {rows}"
        );
        Some(self.tried_rows(columns, &tried, &self.residual(Some(i), false)))
    }

    /// The page among the tried rows (`tried` yields `id, e164` in E.164 order) that meet
    /// `residual`, ordered by the tried rows' E.164 so that the join keeps their order and
    /// stops at a page instead of fetching every tried row to sort them. On PostgreSQL
    /// each row is fetched by a lateral subquery it cannot flatten (`OFFSET 0`): as a
    /// plain join, with statistics, it costed the 5,000 tried rows against a residual it
    /// cannot estimate and chose to hash them against a scan of all of `numbers`.
    fn tried_rows(&self, columns: &str, tried: &str, residual: &str) -> String {
        let join = match self.params.flavor {
            dialect::Flavor::Sqlite => {
                format!("JOIN numbers n ON n.id = d.id WHERE 1 = 1{residual}")
            }
            dialect::Flavor::Postgres => format!(
                "CROSS JOIN LATERAL (SELECT * FROM numbers n WHERE n.id = d.id{residual} OFFSET 0) n"
            ),
        };
        format!(
            "SELECT {columns} FROM ({tried}) d {join} ORDER BY d.e164 LIMIT {}",
            self.limit
        )
    }

    /// A first try for free text that is the only condition besides status and cursor:
    /// the page among up to [`PROBE_CAP`] candidates of the trigram index, read once
    /// (`text_hits`), and nothing when the index found that many (too many to sort: the
    /// probe then decides as usual). So any row it yields is the page, and no rows are
    /// the page when the probe then finds fewer than [`PROBE_CAP`] candidates.
    /// List pages only: an export's pages of dense text would each pay the capped read
    /// besides the probe.
    fn try_text(&self, columns: &str) -> Option<String> {
        if !self.facets.is_empty() || self.assignee.is_some() || self.rows > QUICK_TRY_MAX_PAGE {
            return None;
        }
        let t = self.text.as_ref()?.indexed.as_ref()?;
        let (candidates, rows) = dialect::text_hits(t, PROBE_CAP);
        Some(format!(
            "WITH text_hits AS MATERIALIZED ({candidates}) SELECT {columns} FROM text_hits {rows} \
             WHERE (SELECT COUNT(*) FROM text_hits) < {PROBE_CAP}{}{} \
             ORDER BY (n.e164 || '') LIMIT {}",
            self.after_condition("(n.e164 || '')"),
            self.residual(None, true),
            self.limit
        ))
    }

    /// A first try for dense free text: the first [`TRY_ROWS`] numbers in E.164 order (of
    /// the status asked for), tested against every condition.
    fn try_in_order(&self, columns: &str) -> String {
        let status = self
            .status
            .map(|s| format!(" AND status = '{s}'"))
            .unwrap_or_default();
        let after = self.after_condition("e164");
        let tried = format!(
            "SELECT id, e164 FROM numbers WHERE 1 = 1{status}{after} ORDER BY e164 LIMIT {TRY_ROWS}"
        );
        self.tried_rows(columns, &tried, &self.residual(None, false))
    }

    /// The conditions every row must meet besides the driver's own, `AND`-joined (with a
    /// leading ` AND `), none of them indexable except where `sargable_status` says.
    fn residual(&self, skip_facet: Option<usize>, status_residual: bool) -> String {
        let mut out = String::new();
        for (i, f) in self.facets.iter().enumerate() {
            if Some(i) != skip_facet {
                out.push_str(" AND ");
                out.push_str(&f.residual());
            }
        }
        if status_residual && let Some(s) = self.status {
            out.push_str(&format!(" AND (n.status || '') = '{s}'"));
        }
        if let Some(a) = &self.assignee {
            out.push_str(" AND ");
            out.push_str(a);
        }
        if let Some(t) = &self.text {
            out.push_str(" AND ");
            out.push_str(&t.exact);
        }
        out
    }

    fn after_condition(&self, column: &str) -> String {
        self.after
            .as_ref()
            .map(|a| format!(" AND {column} > {a}"))
            .unwrap_or_default()
    }

    /// The statement of a page merged from several index ranges, on SQLite: the arms read
    /// only id and E.164 (from the driving index alone where they can: SQLite's indexes
    /// carry the row id), the merge keeps the page's first `limit`, and only those rows
    /// are read from `numbers`. Arms of whole rows made SQLite build and sort every arm's
    /// rows: a page of `platform=` (four arms, one per status) cost 40% more than a page
    /// of `location=…&status=…` (one). On PostgreSQL an index entry does not carry the
    /// id, so an arm reads the row anyway and the whole-row arms stay.
    fn narrow_merge(
        &self,
        facet: &Facet,
        statuses: &[&str],
        residual: &str,
        columns: &str,
    ) -> String {
        let limit = &self.limit;
        let mut arms = Vec::new();
        for value in &facet.values {
            for status in statuses {
                let (id, from, order) = facet.narrow_arm(value, status, !residual.is_empty());
                arms.push(format!(
                    "SELECT * FROM (SELECT {id} AS id, {order} AS e164 {from}{}{residual} \
                     ORDER BY {order} LIMIT {limit}) a{}",
                    self.after_condition(order),
                    arms.len()
                ));
            }
        }
        let union = facet.union();
        format!(
            "SELECT {columns} FROM ({} ORDER BY e164 LIMIT {limit}) m \
             JOIN numbers n ON n.id = m.id ORDER BY m.e164",
            arms.join(union)
        )
    }

    /// The statement of a page of one value in several statuses, on PostgreSQL: one arm,
    /// run once per status by a lateral join, then the first `limit` of their rows. A
    /// `UNION ALL` of one arm per status is planned arm by arm (on every run where the
    /// statement is not kept): four arms took 0.5 ms to plan, against 0.1 ms to run, and
    /// a page of `platform=` served a third of what one of `location=…&status=…` did.
    fn lateral_statuses(
        &self,
        facet: &Facet,
        statuses: &[&str],
        residual: &str,
        columns: &str,
    ) -> String {
        let limit = &self.limit;
        let (from, order) = facet.arm_of(&facet.values[0], "k.status");
        let keys = statuses
            .iter()
            .map(|s| format!("('{s}')"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT x.* FROM (VALUES {keys}) k(status) CROSS JOIN LATERAL \
             (SELECT {columns} {from}{}{residual} ORDER BY {order} LIMIT {limit}) x \
             ORDER BY x.e164 LIMIT {limit}",
            self.after_condition(order)
        )
    }

    /// The page's statement: `SELECT {columns}` (over the alias `n`) of at most `limit` rows.
    fn statement(&self, driver: &Driver, columns: &str) -> String {
        let limit = &self.limit;
        match driver {
            Driver::Facet(i) => {
                let facet = &self.facets[*i];
                let residual = self.residual(Some(*i), false);
                let statuses = self.statuses();
                if facet.arms(&statuses) > 1 {
                    match self.params.flavor {
                        dialect::Flavor::Sqlite => {
                            return self.narrow_merge(facet, &statuses, &residual, columns);
                        }
                        // An export's page of 5,000 would sort four arms' rows where
                        // the union merges them in order: kept for pages that size.
                        dialect::Flavor::Postgres
                            if facet.values.len() == 1 && self.rows <= QUICK_TRY_MAX_PAGE =>
                        {
                            return self.lateral_statuses(facet, &statuses, &residual, columns);
                        }
                        dialect::Flavor::Postgres => {}
                    }
                }
                let mut arms = Vec::new();
                for value in &facet.values {
                    for status in &statuses {
                        let (from, order) = facet.arm(value, status);
                        arms.push(format!(
                            "SELECT {columns} {from}{}{residual} ORDER BY {order} LIMIT {limit}",
                            self.after_condition(order)
                        ));
                    }
                }
                if arms.len() == 1 {
                    return arms.remove(0);
                }
                let union = facet.union();
                let merged = arms
                    .iter()
                    .enumerate()
                    .map(|(k, a)| format!("SELECT * FROM ({a}) a{k}"))
                    .collect::<Vec<_>>()
                    .join(union);
                format!("{merged} ORDER BY e164 LIMIT {limit}")
            }
            Driver::Assignee | Driver::Text => {
                let from = match driver {
                    Driver::Text => dialect::text_source(
                        self.text
                            .as_ref()
                            .and_then(|t| t.indexed.as_ref())
                            .expect("the text driver is chosen only with an indexed query"),
                    ),
                    _ => "FROM numbers n WHERE 1 = 1".to_string(),
                };
                // Ordered (and the cursor compared) by an expression the E.164 index
                // cannot serve: the few matches are fetched through their own index and
                // sorted, instead of the planner walking every number in E.164 order in
                // the hope of meeting them early.
                let after = self.after_condition("(n.e164 || '')");
                format!(
                    "SELECT {columns} {from}{after}{} ORDER BY (n.e164 || '') LIMIT {limit}",
                    self.residual(None, true)
                )
            }
            Driver::Order => {
                let from = match self.status {
                    Some(s) => format!("FROM numbers n WHERE n.status = '{s}'"),
                    None => "FROM numbers n WHERE 1 = 1".to_string(),
                };
                format!(
                    "SELECT {columns} {from}{}{} ORDER BY n.e164 LIMIT {limit}",
                    self.after_condition("n.e164"),
                    self.residual(None, false)
                )
            }
        }
    }
}

/// How many of a number-like query's characters, counted from its end, the trigram index
/// is asked for (the exact condition still tests them all). An estate's numbers share
/// their leading digits (country, area, the range's block) and differ in their last ones:
/// the trigrams of `2070959999` in a range `+442070…` include `207` and `070`, each in
/// every number, and reading those index entries cost 6–14 ms a page where the last six
/// digits' trigrams cost 0.4–0.7 ms. (A description holding the query holds its tail, so
/// the tail finds a superset there too.)
const INDEXED_TAIL: usize = 6;

/// The last [`INDEXED_TAIL`] characters of `s`.
fn indexed_tail(s: &str) -> &str {
    match s.char_indices().rev().nth(INDEXED_TAIL - 1) {
        Some((at, _)) => &s[at..],
        None => s,
    }
}

/// The exact and indexed forms of a free-text query.
fn free_text(params: &mut Params, text: &str) -> FreeText {
    let words = crate::page::contains_pattern(text);
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let looks_like_number = !digits.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let w = params.bind(Value::Text(words));
    let in_words = format!(
        "(n.description <> '' AND lower(n.description) LIKE {w} ESCAPE '\\') \
         OR (n.assigned_name IS NOT NULL AND lower(n.assigned_name) LIKE {w} ESCAPE '\\')"
    );
    // The exact test reads the number through an expression no index serves: on
    // PostgreSQL the trigram index is asked for the last digits only (`condition`).
    let (exact, digits) = if looks_like_number {
        let d = params.bind(Value::Text(format!("%{digits}%")));
        (
            format!("((n.e164 || '') LIKE {d} OR {in_words})"),
            Some(digits),
        )
    } else {
        (format!("({in_words})"), None)
    };
    let long_enough = text.chars().count() >= 3 && digits.as_ref().is_none_or(|d| d.len() >= 3);
    let indexed = long_enough.then(|| {
        let tail = digits.as_deref().map(indexed_tail);
        let words = if tail.is_some() {
            indexed_tail(text)
        } else {
            text
        };
        let matcher = params
            .flavor
            .text_match(words, tail)
            .map(|m| params.bind(Value::Text(m)));
        let condition = match (&matcher, tail) {
            (None, Some(tail)) => {
                let t = params.bind(Value::Text(format!("%{tail}%")));
                format!("(n.e164 LIKE {t} OR {in_words})")
            }
            _ => format!("({in_words})"),
        };
        dialect::TextQuery { condition, matcher }
    });
    FreeText { exact, indexed }
}

/// Up to `limit` rows of the numbers matching `filter` within `scope`, after the number
/// `after`, in E.164 order: `columns` of `numbers` (over the alias `n`, in the row's field
/// order, see `rows::number_columns_of`), read by position as SQL type `ST` into `R` (see
/// [`Typed`]).
pub(crate) fn page<ST, R>(
    conn: &mut Conn,
    scope: &ScopeFilter,
    filter: &NumberFilter,
    after: Option<&str>,
    limit: i64,
    columns: &str,
) -> StoreResult<Vec<R>>
where
    for<'a> Typed<ST>: LoadQuery<'a, Conn, R>,
{
    let Some(plan) = Plan::new(conn, scope, filter, after, limit)? else {
        return Ok(Vec::new());
    };
    // The rows past those asked for (read by a kept statement of a larger size) are
    // left undecoded. The vector is sized up front: a page of 50 whole rows grown by
    // doubling copied each row up to six times.
    let read = |conn: &mut Conn, sql: String| -> StoreResult<Vec<R>> {
        let mut rows = Vec::with_capacity(plan.wanted as usize);
        for row in Typed::<ST>::new(plan.params.page_query(sql))
            .load_iter(conn)?
            .take(plan.wanted as usize)
        {
            rows.push(row?);
        }
        Ok(rows)
    };
    let mut tried = Vec::new();
    let driver = plan.pick(conn, columns, &mut |conn, _, sql, enough| {
        tried = read(conn, sql)?;
        Ok(tried.len() as i64 >= enough)
    })?;
    match driver {
        None => Ok(tried),
        Some(driver) => read(conn, plan.statement(&driver, columns)),
    }
}

/// How many numbers match `filter` within `scope` (the export's progress count).
pub(crate) fn count(
    conn: &mut Conn,
    scope: &ScopeFilter,
    filter: &NumberFilter,
) -> StoreResult<i64> {
    let Some(plan) = Plan::new(conn, scope, filter, None, 1)? else {
        return Ok(0);
    };
    let status = plan
        .status
        .map(|s| format!(" AND n.status = '{s}'"))
        .unwrap_or_default();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM numbers n WHERE 1 = 1{status}{}",
        plan.residual(None, false)
    );
    plan.count(conn, sql)
}

/// How a page of `filter` would be read: the driver, the statement and the database's
/// plan for it (for `telestate export --explain`, the benchmark and tests).
pub(crate) fn explain(
    conn: &mut Conn,
    scope: &ScopeFilter,
    filter: &NumberFilter,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<Vec<String>> {
    let Some(plan) = Plan::new(conn, scope, filter, after, limit)? else {
        return Ok(vec![
            "nothing can match (the scope names no site or no tag)".into(),
        ]);
    };
    let mut out = Vec::new();
    // The tries are shown, not run: the driver after them is the one a page falls to.
    let Some(driver) = plan.pick(conn, "n.*", &mut |conn, label, sql, enough| {
        out.push(label.to_string());
        let statement = plan.params.page_query(sql);
        out.push(format!("statement: {}", statement.numbered()));
        out.extend(dialect::explain(conn, &statement)?);
        out.push(match enough {
            1 => "then, if it yielded nothing:".to_string(),
            _ => format!("then, if it yielded fewer than {enough} rows:"),
        });
        Ok(false)
    })?
    else {
        out.push(format!(
            "driver: none (fewer than {PROBE_CAP} candidates: the free-text try's rows, even none, are the page)"
        ));
        return Ok(out);
    };
    let name = match &driver {
        Driver::Facet(i) => format!(
            "driver: {:?} ({} values)",
            plan.facets[*i].source,
            plan.facets[*i].values.len()
        ),
        Driver::Assignee => "driver: assignee".into(),
        Driver::Text => "driver: free text".into(),
        Driver::Order => "driver: E.164 order".into(),
    };
    let statement = plan.params.page_query(plan.statement(&driver, "n.*"));
    out.push(name);
    out.push(format!("statement: {}", statement.numbered()));
    out.extend(dialect::explain(conn, &statement)?);
    Ok(out)
}
