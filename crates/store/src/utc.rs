//! Serialises stored (UTC, naive) timestamps as RFC 3339 with `Z`, so audit snapshots and
//! error details show times exactly as the API does.

use chrono::NaiveDateTime;
use serde::Serializer;

/// For `NaiveDateTime` fields.
pub(crate) fn ser<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    )
}

/// For `Option<NaiveDateTime>` fields.
pub(crate) fn ser_opt<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser(t, s),
        None => s.serialize_none(),
    }
}
