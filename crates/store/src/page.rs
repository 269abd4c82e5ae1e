//! Keyset pages: `{items, next_cursor}` where the cursor is an opaque key of the last item.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::error::{StoreError, StoreResult};

/// Largest page a caller may ask for.
pub const MAX_LIMIT: i64 = 1000;
/// Page size when the caller does not say.
pub(crate) const DEFAULT_LIMIT: i64 = 50;

/// One page of a list and the cursor of the next, if there is more.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, in the list's stable order.
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Checks a requested page size.
pub(crate) fn limit(requested: Option<i64>) -> StoreResult<i64> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(StoreError::invalid(
            "invalid_limit",
            "limit",
            format!("{n} is outside 1..={MAX_LIMIT}"),
        )),
    }
}

/// Encodes the key of the last item on a page.
pub(crate) fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Decodes a cursor made by [`encode`]; anything else is a 400 naming `cursor`.
pub(crate) fn decode(cursor: &str) -> StoreResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        // No key we issue holds a NUL (PostgreSQL refuses one in text outright; composite
        // keys join their parts with a line feed).
        .filter(|k| !k.contains('\0'))
        .ok_or_else(|| {
            StoreError::invalid(
                "invalid_cursor",
                "cursor",
                "is not a cursor this server issued",
            )
        })
}

/// Cuts a `limit + 1` fetch down to a page, making the cursor from the last kept item.
pub(crate) fn finish<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode(&key(r)))
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

/// Parses a decoded cursor that holds an integer id.
pub(crate) fn decode_id(cursor: &str) -> StoreResult<i64> {
    decode(cursor)?.parse().map_err(|_| {
        StoreError::invalid(
            "invalid_cursor",
            "cursor",
            "is not a cursor this server issued",
        )
    })
}

/// A case-insensitive "contains" pattern for `lower(column) LIKE … ESCAPE '\'`: the text
/// lower-cased, its `\`, `%` and `_` escaped, wrapped in `%`.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
