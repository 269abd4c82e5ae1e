//! Which numbers are assigned to which targets: shared by `directory` (users) and
//! `services`, so neither imports the other for it (store modules must not form a circle;
//! `scripts/store-modules.sh` checks it).

use std::collections::HashMap;

use diesel::prelude::*;
use domain::{Scope, TargetKind};

use crate::{
    Conn, StoreResult,
    schema::numbers,
    scope::{ScopeFilter, scoped},
};

/// E.164 numbers assigned to each target of `kind` among `ids`, within `scope`, in order.
pub(crate) fn assigned_numbers(
    conn: &mut Conn,
    scope: &Scope,
    kind: TargetKind,
    ids: &[String],
) -> StoreResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sf = ScopeFilter::resolve(conn, scope)?;
    for chunk in ids.chunks(1000) {
        let rows: Vec<(Option<String>, String)> = scoped(
            numbers::table
                .select((numbers::assigned_id, numbers::e164))
                .into_boxed(),
            &sf,
        )
        .filter(numbers::assigned_kind.eq(kind.as_str()))
        .filter(numbers::assigned_id.eq_any(chunk.to_vec()))
        .order(numbers::e164.asc())
        .load(conn)?;
        for (id, e164) in rows {
            if let Some(id) = id {
                out.entry(id).or_default().push(e164);
            }
        }
    }
    Ok(out)
}
