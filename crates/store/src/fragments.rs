//! SQL fragments that keep a statement cacheable.
//!
//! diesel prepares a statement once per connection and reuses it when it can key it: by
//! type for static queries, by SQL text for dynamic (boxed) ones — unless some part of the
//! query declares itself unsafe to cache. `sql()` literals and `eq_any` on SQLite (an
//! `IN (?, ?, …)` list as long as its values) both do, so a list page with a tag filter
//! was parsed and planned afresh on every request: a third of SQLite's CPU in the list
//! benchmark, and on PostgreSQL an extra round trip for the `Parse`. The fragments here
//! write the same SQL with bound values and a text that depends only on their shape.

use diesel::{
    QueryResult,
    backend::Backend,
    expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate},
    query_builder::{AstPass, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{BigInt, Bool, HasSqlType, Text},
};

/// `EXISTS (…)`: the number in the enclosing query (`numbers.id`) carries the tag.
/// Correlated, so it probes an index per row instead of materialising every tagged
/// number (diesel's DSL has no correlated subqueries).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HasTag(pub i64);

/// [`HasTag`] by the tag's key, looked up inside the statement (an uncorrelated
/// subquery, evaluated once); a key no tag has matches nothing.
#[derive(Debug, Clone)]
pub(crate) struct HasTagKey(pub String);

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

dynamic_bool_expression!(HasTag);
dynamic_bool_expression!(IdIn);
dynamic_bool_expression!(HasTagKey);

impl<DB> QueryFragment<DB> for HasTag
where
    DB: Backend + HasSqlType<BigInt>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "EXISTS (SELECT 1 FROM number_tags nt WHERE nt.number_id = numbers.id AND nt.tag_id = ",
        );
        out.push_bind_param::<BigInt, _>(&self.0)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<DB> QueryFragment<DB> for HasTagKey
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(
            "EXISTS (SELECT 1 FROM number_tags nt WHERE nt.number_id = numbers.id \
             AND nt.tag_id = (SELECT t.id FROM tags t WHERE t.key = ",
        );
        out.push_bind_param::<Text, _>(&self.0)?;
        out.push_sql("))");
        Ok(())
    }
}

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
