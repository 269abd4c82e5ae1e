//! Tags: one row per distinct label (by lower-case key), linked to numbers and ranges.

use std::collections::HashMap;

use diesel::{
    prelude::*,
    sql_types::{BigInt, Text},
};
use domain::Tag;

use crate::{
    Conn, StoreResult, dialect,
    schema::{number_tags, range_tags, tags},
};

/// Makes sure every tag exists and returns their ids, in input order.
pub(crate) fn ensure(conn: &mut Conn, wanted: &[Tag]) -> StoreResult<Vec<i64>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    dialect::insert_tags_if_absent(conn, wanted)?;
    let keys: Vec<&str> = wanted.iter().map(Tag::key).collect();
    let found: HashMap<String, i64> = tags::table
        .filter(tags::key.eq_any(&keys))
        .select((tags::key, tags::id))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(wanted
        .iter()
        .filter_map(|t| found.get(t.key()).copied())
        .collect())
}

/// The ids of existing tags with these keys (unknown keys are skipped).
pub(crate) fn ids_for_keys(conn: &mut Conn, keys: &[String]) -> StoreResult<Vec<i64>> {
    Ok(tags::table
        .filter(tags::key.eq_any(keys))
        .select(tags::id)
        .load(conn)?)
}

/// `(number id, tag id)` of the given numbers' tags, for bulk readers (export pages,
/// import planning). Numbers of one range have neighbouring ids, so a dense set is read
/// with one range scan of the index (and trimmed to the ids asked for); a scattered one
/// is probed per id.
pub(crate) fn links_of(conn: &mut Conn, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
    let (Some(&low), Some(&high)) = (ids.iter().min(), ids.iter().max()) else {
        return Ok(Vec::new());
    };
    let links = number_tags::table
        .select((number_tags::number_id, number_tags::tag_id))
        .into_boxed();
    if high - low < ids.len() as i64 * 2 {
        let wanted: std::collections::HashSet<i64> = ids.iter().copied().collect();
        let mut found: Vec<(i64, i64)> = links
            .filter(number_tags::number_id.between(low, high))
            .load(conn)?;
        found.retain(|(number, _)| wanted.contains(number));
        Ok(found)
    } else {
        Ok(links
            .filter(number_tags::number_id.eq_any(ids))
            .load(conn)?)
    }
}

/// The tag names of each number, sorted by key.
pub(crate) fn of_numbers(
    conn: &mut Conn,
    number_ids: &[i64],
) -> StoreResult<HashMap<i64, Vec<String>>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for chunk in number_ids.chunks(5000) {
        for (id, name) in crate::dialect::number_tag_names(conn, chunk)? {
            out.entry(id).or_default().push(name);
        }
    }
    for names in out.values_mut() {
        in_key_order(names);
    }
    Ok(out)
}

/// Sorts tag names by key (the name in lower case) in Rust, so that every reader lists a
/// number's tags in one order whatever the database's collation would make of `ORDER BY
/// key` (a PostgreSQL database in `en_US` puts `émea` before `fax`, code points after).
fn in_key_order(names: &mut [String]) {
    // Names usually arrive in order already (`tag_names` is written in it): checking
    // allocates nothing, where sorting allocates every key. Both compare the names a
    // character at a time, lowered.
    fn lowered(name: &str) -> impl Iterator<Item = char> + '_ {
        name.chars().flat_map(char::to_lowercase)
    }
    if !names.is_sorted_by(|a, b| lowered(a).le(lowered(b))) {
        names.sort_by_cached_key(|n| lowered(n).collect::<String>());
    }
}

/// The tag names of each range, sorted by key.
pub(crate) fn of_ranges(
    conn: &mut Conn,
    range_ids: &[i64],
) -> StoreResult<HashMap<i64, Vec<String>>> {
    let rows: Vec<(i64, String)> = range_tags::table
        .inner_join(tags::table)
        .filter(range_tags::range_id.eq_any(range_ids))
        .select((range_tags::range_id, tags::name))
        .load(conn)?;
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, name) in rows {
        out.entry(id).or_default().push(name);
    }
    for names in out.values_mut() {
        in_key_order(names);
    }
    Ok(out)
}

/// Joins a number's tag names in `numbers.tag_names`: a control character, which no tag
/// name may contain (see `domain::Tag`).
pub(crate) const TAG_NAME_SEPARATOR: char = '\u{1f}';

/// A number's tag names, recomputed from its links, joined in key order (NULL without
/// tags); `$1` is the separator. Over the row `numbers` of an `UPDATE numbers`.
const NAMES_FROM_LINKS: &str = "(SELECT string_agg(t.name, $1 ORDER BY t.key) FROM number_tags x \
     JOIN tags t ON t.id = x.tag_id WHERE x.number_id = numbers.id)";

/// A `tag_names` value as a list in key order (a key is its name in lower case).
pub(crate) fn split_names(joined: Option<String>) -> Vec<String> {
    let mut names: Vec<String> = match joined {
        Some(j) => j.split(TAG_NAME_SEPARATOR).map(str::to_string).collect(),
        None => Vec::new(),
    };
    in_key_order(&mut names);
    names
}

/// The `tag_names` value of a number carrying exactly these tags.
pub(crate) fn joined_names(conn: &mut Conn, tag_ids: &[i64]) -> StoreResult<Option<String>> {
    if tag_ids.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = tags::table
        .filter(tags::id.eq_any(tag_ids))
        .order(tags::key)
        .select(tags::name)
        .load(conn)?;
    Ok(Some(names.join(&TAG_NAME_SEPARATOR.to_string())).filter(|j| !j.is_empty()))
}

/// Replaces a number's tags.
pub(crate) fn set_for_number(conn: &mut Conn, number_id: i64, tag_ids: &[i64]) -> StoreResult<()> {
    replace_for_numbers(conn, &[(number_id, tag_ids.to_vec())])
}

/// Replaces the tags of each number (`(number id, its tag ids)`), and their `tag_names`.
/// The caller has already written these numbers' rows in this transaction (their version),
/// so on PostgreSQL it holds their row locks: a concurrent tag writer waits for it to
/// commit, and its own refresh then reads the links this one left.
pub(crate) fn replace_for_numbers(conn: &mut Conn, sets: &[(i64, Vec<i64>)]) -> StoreResult<()> {
    let ids: Vec<i64> = sets.iter().map(|(n, _)| *n).collect();
    for chunk in ids.chunks(5000) {
        diesel::delete(number_tags::table.filter(number_tags::number_id.eq_any(chunk)))
            .execute(conn)?;
    }
    let pairs: Vec<(i64, i64)> = sets
        .iter()
        .flat_map(|(n, ts)| ts.iter().map(move |t| (*n, *t)))
        .collect();
    link(conn, &pairs)?;
    refresh_names(conn, &ids)
}

/// Adds `(number id, tag id)` links, each carrying its number's status and E.164 (what
/// the search index `number_tags_search` orders by); the caller refreshes `tag_names`.
/// Ids are integers the store itself produced, so they are written into the statement
/// (see [`crate::scope::ScopeFilter`]).
fn link(conn: &mut Conn, pairs: &[(i64, i64)]) -> StoreResult<()> {
    for chunk in pairs.chunks(1000) {
        let values = chunk
            .iter()
            .map(|(n, t)| format!("({n}, {t})"))
            .collect::<Vec<_>>()
            .join(", ");
        diesel::sql_query(format!(
            "INSERT INTO number_tags (number_id, tag_id, status, e164) \
             SELECT n.id, v.column2, n.status, n.e164 FROM (VALUES {values}) v \
             JOIN numbers n ON n.id = v.column1"
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Recomputes `tag_names` of these numbers from their links.
fn refresh_names(conn: &mut Conn, number_ids: &[i64]) -> StoreResult<()> {
    for chunk in number_ids.chunks(1000) {
        let ids = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        diesel::sql_query(format!(
            "UPDATE numbers SET tag_names = {NAMES_FROM_LINKS} WHERE id IN ({ids})"
        ))
        .bind::<Text, _>(TAG_NAME_SEPARATOR.to_string())
        .execute(conn)?;
    }
    Ok(())
}

/// Recomputes `tag_names` of every number of a range from their links, after the range's
/// tags changed.
/// Like [`replace_for_numbers`], after the caller wrote the range's number rows.
pub(crate) fn refresh_range_names(conn: &mut Conn, range_id: i64) -> StoreResult<()> {
    diesel::sql_query(format!(
        "UPDATE numbers SET tag_names = {NAMES_FROM_LINKS} WHERE range_id = $2"
    ))
    .bind::<Text, _>(TAG_NAME_SEPARATOR.to_string())
    .bind::<BigInt, _>(range_id)
    .execute(conn)?;
    Ok(())
}

/// Replaces a range's own tags.
pub(crate) fn set_for_range(conn: &mut Conn, range_id: i64, tag_ids: &[i64]) -> StoreResult<()> {
    diesel::delete(range_tags::table.filter(range_tags::range_id.eq(range_id))).execute(conn)?;
    let rows: Vec<_> = tag_ids
        .iter()
        .map(|t| (range_tags::range_id.eq(range_id), range_tags::tag_id.eq(*t)))
        .collect();
    crate::dialect::insert_batch!(conn, range_tags::table, &rows);
    Ok(())
}
