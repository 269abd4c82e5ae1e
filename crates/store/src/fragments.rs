//! SQL fragments that keep a statement cacheable.
//!
//! diesel prepares a statement once per connection and reuses it when it can key it: by
//! type for static queries, by SQL text for dynamic (boxed) ones — unless some part of the
//! query declares itself unsafe to cache. `sql()` literals and `eq_any` on SQLite (an
//! `IN (?, ?, …)` list as long as its values) both do, so a list page with a tag filter
//! was parsed and planned afresh on every request: a third of SQLite's CPU in the list
//! benchmark, and on PostgreSQL an extra round trip for the `Parse`. The fragments here
//! write the same SQL with bound values and a text that depends only on their shape.

use std::marker::PhantomData;

use diesel::{
    QueryResult, RunQueryDsl,
    backend::Backend,
    expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate},
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{BigInt, Bool, HasSqlType, Text},
};

/// `column IN (…)` over ids, the list padded (by repeating its last id) to a power of
/// two of at least 8, so that lists of similar length share one SQL text and so one
/// prepared statement. An empty list matches nothing.
#[derive(Debug, Clone)]
pub(crate) struct IdIn {
    column: &'static str,
    ids: Vec<i64>,
}

impl IdIn {
    /// `column` is a fixed, qualified column name (`number_tags.number_id`).
    pub(crate) fn new(column: &'static str, ids: &[i64]) -> IdIn {
        let mut ids = ids.to_vec();
        if let Some(&last) = ids.last() {
            let padded = ids.len().next_power_of_two().max(8);
            ids.resize(padded, last);
        }
        IdIn { column, ids }
    }
}

// Dynamic queries are cached by their SQL text, which these fragments make depend on
// their shape only; a static id would wrongly share one statement between shapes.
macro_rules! dynamic_bool_expression {
    ($t:ty) => {
        impl QueryId for $t {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl Expression for $t {
            type SqlType = Bool;
        }

        impl<QS> AppearsOnTable<QS> for $t {}

        impl<QS> SelectableExpression<QS> for $t {}

        impl<G> ValidGrouping<G> for $t {
            type IsAggregate = is_aggregate::Never;
        }
    };
}

dynamic_bool_expression!(IdIn);

impl<DB> QueryFragment<DB> for IdIn
where
    DB: Backend + HasSqlType<BigInt>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.ids.is_empty() {
            out.push_sql("1 = 0");
            return Ok(());
        }
        out.push_sql(self.column);
        out.push_sql(" IN (");
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<BigInt, _>(id)?;
        }
        out.push_sql(")");
        Ok(())
    }
}

/// A value bound to a [`Statement`].
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A `BIGINT`.
    Int(i64),
    /// A `TEXT`.
    Text(String),
}

/// A whole statement written as text, with the markers [`Statement::bind`] returns
/// standing for its values (a marker may appear several times: each place is bound, with
/// the backend's own placeholder).
///
/// `sql_query` would do, but it is never cached. A `Statement` is, when `cached`: diesel
/// prepares it once per connection and SQL text. PostgreSQL then switches it to one
/// generic plan for all values after five runs, so only statements whose plan cannot
/// depend on their values are kept there (see `search`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Statement {
    /// The SQL with markers.
    pub(crate) sql: String,
    /// The values the markers stand for.
    pub(crate) values: Vec<Value>,
    /// Whether diesel may keep it prepared.
    pub(crate) cached: bool,
}

/// Delimits a marker: a control character no SQL we write contains (values are bound,
/// never written into the text, so no input can forge one).
const MARK: char = '\u{1}';

impl Statement {
    /// Adds a value and returns its marker.
    pub(crate) fn bind(&mut self, v: Value) -> String {
        self.values.push(v);
        format!("{MARK}{}{MARK}", self.values.len() - 1)
    }

    /// The same values with another text (the values' markers stay valid).
    pub(crate) fn with_sql(&self, sql: String) -> Statement {
        Statement {
            sql,
            values: self.values.clone(),
            cached: self.cached,
        }
    }

    /// The text with each marker written as PostgreSQL's `$n` (`n` the value's position
    /// from 1), as `PREPARE` takes it.
    pub(crate) fn numbered(&self) -> String {
        self.sql
            .split(MARK)
            .enumerate()
            .map(|(i, part)| match part.parse::<usize>() {
                Ok(k) if i % 2 == 1 => format!("${}", k + 1),
                _ => part.to_string(),
            })
            .collect()
    }

    /// The values as SQL literals, in order (text quoted, quotes doubled), as `EXECUTE`
    /// takes them.
    pub(crate) fn literals(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|v| match v {
                Value::Int(n) => n.to_string(),
                Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
            })
            .collect()
    }
}

impl QueryId for Statement {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Statement {
    type SqlType = diesel::sql_types::Untyped;
}

impl<C> RunQueryDsl<C> for Statement {}

/// A [`Statement`] whose rows are read by position as SQL type `ST` (typically
/// `SelectBy<Row, _>`, its columns written in the row's field order): diesel then reads
/// each value by index. An untyped `Statement` is read by column name, which looks every
/// field up among the row's columns: a tenth of a page's CPU for a row of 29 columns.
pub(crate) struct Typed<ST> {
    statement: Statement,
    row: PhantomData<ST>,
}

impl<ST> Typed<ST> {
    pub(crate) fn new(statement: Statement) -> Typed<ST> {
        Typed {
            statement,
            row: PhantomData,
        }
    }
}

impl<ST> QueryId for Typed<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Typed<ST> {
    type SqlType = ST;
}

impl<ST, C> RunQueryDsl<C> for Typed<ST> {}

impl<ST, DB> QueryFragment<DB> for Typed<ST>
where
    DB: Backend,
    Statement: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.statement.walk_ast(out)
    }
}

impl<DB> QueryFragment<DB> for Statement
where
    DB: Backend + HasSqlType<BigInt> + HasSqlType<Text>,
    i64: ToSql<BigInt, DB>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !self.cached {
            out.unsafe_to_cache_prepared();
        }
        for (i, part) in self.sql.split(MARK).enumerate() {
            if i % 2 == 0 {
                out.push_sql(part);
                continue;
            }
            let value = part
                .parse::<usize>()
                .ok()
                .and_then(|k| self.values.get(k))
                .ok_or_else(|| {
                    diesel::result::Error::QueryBuilderError(
                        format!("statement refers to an unbound value {part:?}").into(),
                    )
                })?;
            match value {
                Value::Int(v) => out.push_bind_param::<BigInt, _>(v)?,
                Value::Text(v) => out.push_bind_param::<Text, _>(v)?,
            }
        }
        Ok(())
    }
}
