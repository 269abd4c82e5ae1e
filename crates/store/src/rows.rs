//! Row types shared by several modules. `dialect` returns a `NumberRow` and `numbers`
//! imports `dialect`, so the row cannot live in `numbers`: store modules must not form a
//! circle (`scripts/store-modules.sh` checks it).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::{
    deserialize::{self, FromSql},
    pg::Pg,
    prelude::*,
    sql_types::{Nullable, Timestamp},
    sqlite::Sqlite,
};

use crate::{db::MultiBackend, schema::numbers};

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
    #[diesel(deserialize_as = Stamp)]
    pub(crate) created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub(crate) updated_at: NaiveDateTime,
    pub(crate) reserved_reason: Option<String>,
    pub(crate) reserved_for: Option<String>,
    pub(crate) reserved_by: Option<String>,
    #[diesel(deserialize_as = MaybeStamp)]
    pub(crate) reserved_until: Option<NaiveDateTime>,
    #[diesel(deserialize_as = MaybeStamp)]
    pub(crate) quarantine_since: Option<NaiveDateTime>,
    #[diesel(deserialize_as = MaybeStamp)]
    pub(crate) quarantine_until: Option<NaiveDateTime>,
    pub(crate) quarantine_reason: Option<String>,
    pub(crate) previous_assignee: Option<String>,
    pub(crate) assigned_kind: Option<String>,
    pub(crate) assigned_id: Option<String>,
    pub(crate) assigned_name: Option<String>,
    #[diesel(deserialize_as = MaybeStamp)]
    pub(crate) assigned_at: Option<NaiveDateTime>,
    pub(crate) assigned_by: Option<String>,
    pub(crate) provisioning_state: Option<String>,
    pub(crate) provisioning_error: Option<String>,
}

/// A timestamp column read into a `NaiveDateTime` (`#[diesel(deserialize_as = Stamp)]`).
/// SQLite stores timestamps as text, and diesel reads them by trying chrono format
/// strings, each parsed anew: 6% of a list page's CPU for the two timestamps of each row.
/// The layout diesel writes (`YYYY-MM-DD HH:MM:SS[.fraction]`) is read here by position;
/// anything else goes to diesel's reading. PostgreSQL's binary timestamps are diesel's.
#[derive(diesel::deserialize::FromSqlRow)]
pub(crate) struct Stamp(NaiveDateTime);

impl From<Stamp> for NaiveDateTime {
    fn from(s: Stamp) -> NaiveDateTime {
        s.0
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1–9 digits of fraction, else `None`.
fn fixed_layout_stamp(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if b.len() < 19 || punctuation.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            num(20..b.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    Some(date.and_time(time))
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(
        mut value: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        if let Some(t) = fixed_layout_stamp(value.read_text()) {
            return Ok(Stamp(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(
        value: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, MultiBackend> for Stamp {
    fn from_sql(
        value: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        value.from_sql::<Stamp, Timestamp>()
    }
}

/// A nullable timestamp column read like [`Stamp`] (`#[diesel(deserialize_as =
/// MaybeStamp)]`): a page's assigned, reserved and quarantined numbers carry one or two
/// such times, which diesel read through chrono's format strings (1.6% of the server's
/// CPU for a free-text page on the held SQLite estate, half of whose rows are assigned).
#[derive(diesel::deserialize::FromSqlRow)]
pub(crate) struct MaybeStamp(Option<NaiveDateTime>);

impl From<MaybeStamp> for Option<NaiveDateTime> {
    fn from(s: MaybeStamp) -> Option<NaiveDateTime> {
        s.0
    }
}

impl<DB> FromSql<Nullable<Timestamp>, DB> for MaybeStamp
where
    DB: diesel::backend::Backend,
    Stamp: FromSql<Timestamp, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        Stamp::from_sql(value).map(|s| MaybeStamp(Some(s.0)))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(value) => Self::from_sql(value),
            None => Ok(MaybeStamp(None)),
        }
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_fixed_layout_reads_what_chrono_reads_and_declines_the_rest() {
        for text in [
            "2026-12-03 18:25:04",
            "2026-12-03 18:25:04.5",
            "2026-12-03 18:25:04.123456",
            "2026-12-03 18:25:04.123456789",
            "1999-01-31 00:00:00.000001",
            "2024-02-29 23:59:59.999",
        ] {
            let chrono = chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap();
            assert_eq!(super::fixed_layout_stamp(text), Some(chrono), "{text}");
        }
        for text in [
            "",
            "2026-12-03",
            "2026-12-03T18:25:04",
            "2026-12-03 18:25",
            "2026-12-03 18:25:04.",
            "2026-12-03 18:25:04.1234567890",
            "2026-12-03 18:25:04Z",
            "2026-13-03 18:25:04",
            "2023-02-29 18:25:04",
            "2026-12-03 24:00:00",
            "2026-12-03 18:25:0x",
            "+026-12-03 18:25:04",
            "2026-12-03 18:25:04.12a",
        ] {
            assert_eq!(super::fixed_layout_stamp(text), None, "{text}");
        }
    }

    #[test]
    fn the_number_columns_follow_the_rows_fields() {
        let columns = crate::rows::number_columns_of!(super::NumberRow);
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
