//! The CSV column contract shared by `telestate export` and `telestate import`.
//!
//! [`HEADER`] is the stable column order: the exporter writes it and the importer expects
//! it, so a file exported from one estate imports into another unchanged. Append new
//! columns at the end; never reorder or rename one.
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//! as a formula (CSV injection), and several trim leading blanks first, so `" =1+1"` is
//! one too. The exporter passes every free-text cell through
//! [`neutralise`], which prefixes such a cell with `'`; the importer passes the same cells
//! through [`unneutralise`], its exact inverse, so descriptions round-trip byte for byte.
//! The `number` column is the exception: an E.164 number starts with `+`, so it is written
//! as it is, and the importer accepts `'+44…`, `+44…` and `44…` alike.

use std::borrow::Cow;

/// The column names, in file order.
pub const HEADER: [&str; 15] = [
    "number",
    "status",
    "country",
    "location",
    "range",
    "tags",
    "description",
    "platform",
    "number_type",
    "assigned_to_kind",
    "assigned_to",
    "reserved_reason",
    "reserved_for",
    "reserved_until",
    "quarantined_until",
];

/// Separates the tags inside the `tags` cell (a tag may not contain it).
pub const TAG_SEPARATOR: char = ';';

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// True when the cell, after any leading `'`s, starts with a formula trigger, or does so
/// after leading whitespace (which spreadsheets may trim before they look).
///
/// Skipping the leading quotes is what makes [`unneutralise`] an exact inverse: `'=1`
/// (a value someone already escaped by hand) is exported as `''=1` and comes back as `'=1`.
/// That holds because prefixing a `'` never changes the answer, whatever else is skipped.
fn needs_quote(cell: &str) -> bool {
    let unquoted = cell.trim_start_matches('\'');
    unquoted.starts_with(FORMULA_TRIGGERS.as_slice())
        || unquoted
            .trim_start_matches(|c: char| c == '\'' || blank(c))
            .starts_with(FORMULA_TRIGGERS.as_slice())
}

/// White space, and the invisible characters a spreadsheet skips as well (a byte-order
/// mark, zero-width spaces and joiners, the word joiner) before reading a formula.
fn blank(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{feff}' | '\u{200b}'..='\u{200d}' | '\u{2060}')
}

/// Makes a free-text cell safe to open in a spreadsheet by prefixing `'` when needed
/// (borrowed when it is safe as it is, which is almost always).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_quote(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Undoes [`neutralise`]: strips the one `'` it added, and leaves every other cell alone.
pub fn unneutralise(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest.to_string(),
        _ => cell.to_string(),
    }
}

/// Joins tag names into one `tags` cell.
pub fn join_tags<S: AsRef<str>>(tags: &[S]) -> String {
    let mut out = String::new();
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            out.push(TAG_SEPARATOR);
        }
        out.push_str(tag.as_ref());
    }
    out
}

/// Splits a `tags` cell into trimmed, non-empty tag names.
pub fn split_tags(cell: &str) -> Vec<&str> {
    cell.split(TAG_SEPARATOR)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_restored_exactly() {
        let table = [
            // (cell, as exported)
            ("=SUM(A1)", "'=SUM(A1)"),
            ("+44 20", "'+44 20"),
            ("-1", "'-1"),
            ("@x", "'@x"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=", "''="),
            ("''=1", "'''=1"),
            ("'-", "''-"),
            ("=", "'="),
            ("a=b", "a=b"),
            ("total = 3", "total = 3"),
            ("x-1", "x-1"),
            // Blanks before a trigger do not hide it.
            (" =1+1", "' =1+1"),
            ("\u{feff}=1+1", "'\u{feff}=1+1"),
            ("\u{200b} @x", "'\u{200b} @x"),
            ("  =1", "'  =1"),
            (" \t=1", "' \t=1"),
            ("\t =1", "'\t =1"),
            (" +44", "' +44"),
            (" @x", "' @x"),
            ("\u{a0}=1", "'\u{a0}=1"),
            ("\u{3000}-1", "'\u{3000}-1"),
            ("\n=1", "'\n=1"),
            ("' =1", "'' =1"),
            (" '=1", "' '=1"),
            (" ", " "),
            ("  text = 1", "  text = 1"),
            (" 'quoted'", " 'quoted'"),
            ("'quoted'", "'quoted'"),
            ("''", "''"),
            ("'", "'"),
            ("", ""),
            ("plain text", "plain text"),
            ("Zürich =", "Zürich ="),
        ];
        for (cell, exported) in table {
            assert_eq!(neutralise(cell), exported, "neutralise({cell:?})");
            assert_eq!(unneutralise(exported), cell, "unneutralise({exported:?})");
        }
    }

    #[test]
    fn every_short_cell_round_trips_and_is_exported_safe() {
        // Every string of up to five of these characters: blanks, quotes, triggers, text.
        let alphabet = [
            ' ', '\'', '=', '-', 'a', '\t', '\u{a0}', '\u{feff}', '\u{200b}',
        ];
        let mut cells = vec![String::new()];
        let mut longest = vec![String::new()];
        for _ in 0..5 {
            longest = longest
                .iter()
                .flat_map(|c| alphabet.iter().map(move |a| format!("{c}{a}")))
                .collect();
            cells.extend(longest.iter().cloned());
        }
        for cell in &cells {
            let exported = neutralise(cell);
            assert_eq!(&unneutralise(&exported), cell, "round trip of {cell:?}");
            let seen = exported.trim_start_matches(blank);
            assert!(
                exported.starts_with('\'')
                    || !(exported.starts_with(FORMULA_TRIGGERS.as_slice())
                        || seen.starts_with(FORMULA_TRIGGERS.as_slice())),
                "{cell:?} is exported as the formula {exported:?}"
            );
        }
    }

    #[test]
    fn unneutralise_leaves_hand_written_quotes_alone() {
        assert_eq!(unneutralise("'hello"), "'hello");
        assert_eq!(unneutralise("it's"), "it's");
        assert_eq!(unneutralise("'"), "'");
        assert_eq!(unneutralise("'+44"), "+44");
    }

    #[test]
    fn tags_join_and_split_with_semicolons() {
        assert_eq!(join_tags(&["VIP", "Sales London"]), "VIP;Sales London");
        assert_eq!(join_tags::<&str>(&[]), "");
        assert_eq!(split_tags(" VIP ; Sales London;;"), ["VIP", "Sales London"]);
        assert!(split_tags("").is_empty());
    }

    #[test]
    fn the_header_order_is_the_contract() {
        assert_eq!(
            HEADER.join(","),
            "number,status,country,location,range,tags,description,platform,number_type,\
             assigned_to_kind,assigned_to,reserved_reason,reserved_for,reserved_until,\
             quarantined_until"
        );
    }
}
