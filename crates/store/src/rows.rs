//! Row types shared by several modules. `dialect` returns a `NumberRow` and `numbers`
//! imports `dialect`, so the row cannot live in `numbers`: store modules must not form a
//! circle (`scripts/store-modules.sh` checks it).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::numbers;

/// A row of `numbers` as stored; [`crate::numbers::Number`] is what the rest of the store works with.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = numbers)]
pub(crate) struct NumberRow {
    pub(crate) id: i64,
    pub(crate) e164: String,
    pub(crate) base: String,
    pub(crate) extension: Option<String>,
    pub(crate) country: String,
    pub(crate) status: String,
    pub(crate) range_id: Option<i64>,
    pub(crate) location_id: Option<i64>,
    pub(crate) platform_id: Option<i64>,
    pub(crate) number_type: Option<String>,
    pub(crate) description: String,
    pub(crate) version: i64,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
    pub(crate) reserved_reason: Option<String>,
    pub(crate) reserved_for: Option<String>,
    pub(crate) reserved_by: Option<String>,
    pub(crate) reserved_until: Option<NaiveDateTime>,
    pub(crate) quarantine_since: Option<NaiveDateTime>,
    pub(crate) quarantine_until: Option<NaiveDateTime>,
    pub(crate) quarantine_reason: Option<String>,
    pub(crate) previous_assignee: Option<String>,
    pub(crate) assigned_kind: Option<String>,
    pub(crate) assigned_id: Option<String>,
    pub(crate) assigned_name: Option<String>,
    pub(crate) assigned_at: Option<NaiveDateTime>,
    pub(crate) assigned_by: Option<String>,
    pub(crate) provisioning_state: Option<String>,
    pub(crate) provisioning_error: Option<String>,
}

/// The columns of a `Selectable` row of `numbers` over the alias `n` (`n.id, n.e164, …`),
/// in the order of its fields, for statements written as text and read by position
/// ([`crate::fragments::Typed`]); a `&'static str`, computed once. Taken from diesel's own
/// rendering of the row's selection, so it cannot drift from the struct.
macro_rules! number_columns_of {
    ($row:ty) => {{
        static COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            use diesel::{QueryDsl, SelectableHelper};
            let select = $crate::schema::numbers::table.select(<$row>::as_select());
            let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&select).to_string();
            let list = sql
                .strip_prefix("SELECT ")
                .and_then(|s| s.split_once(" FROM "))
                .map(|(list, _)| list)
                .expect("diesel renders a selection as SELECT … FROM …");
            list.replace("`numbers`.", "n.").replace('`', "")
        });
        COLUMNS.as_str()
    }};
}
pub(crate) use number_columns_of;

/// [`NumberRow`]'s columns over the alias `n` (see [`number_columns_of`]).
pub(crate) fn number_columns() -> &'static str {
    number_columns_of!(NumberRow)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_number_columns_follow_the_rows_fields() {
        let columns = super::number_columns();
        assert!(columns.starts_with("n.id, n.e164, n.base, "), "{columns}");
        assert!(columns.ends_with(", n.provisioning_error"), "{columns}");
        assert_eq!(columns.split(", ").count(), 29, "{columns}");
        assert!(
            columns
                .split(", ")
                .all(|c| c.starts_with("n.") && !c.contains('`'))
        );
    }
}
