//! Reading an import file: the export's CSV format (see [`crate::csv_row`]) as people and
//! spreadsheets hand it back.
//!
//! Tolerant of what spreadsheets do to a file — a UTF-8 byte-order mark, CRLF or LF line
//! ends, quoted cells with commas and line breaks, numbers without `+`, with spaces or
//! with a leading `'`, formula cells neutralised by the export — and strict about meaning:
//! every problem becomes an [`ImportError`] naming the line (as a spreadsheet counts it,
//! the header being line 1), the column and the reason. The reader never panics, whatever
//! the bytes (a property test below feeds it thousands of random and mangled files).
//!
//! Cell semantics: a column absent from the file leaves that field alone; an empty cell
//! clears it. Resolving names (locations, platforms, assignees) is the store's job and
//! deciding transitions is [`crate::import_plan`]'s; this module only reads and checks
//! what a line says.
//!
//! Bounded whatever the file holds: a header of more than [`MAX_COLUMNS`] columns is one
//! file error, a line longer than [`MAX_LINE_BYTES`] one error for that line, a cell
//! longer than [`MAX_CELL_CHARS`] one error for that cell, and the cells a line has beyond
//! the header's columns one error for the line, however many there are. So a line costs
//! work in proportion to its bytes and yields at most a few errors per column.

use std::{
    borrow::Cow,
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::{
    NumberStatus, NumberType, PhoneNumber, Tag,
    csv_row::{self, HEADER},
};

/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Longest reservation reason or reserved-for text, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Most columns a header may have: the format's 15 and room for empty ones spreadsheets add.
pub const MAX_COLUMNS: usize = 64;
/// Longest cell read, in characters: a description is at most 1,000, a tag list of
/// [`crate::MAX_TAGS`] tags of 64 characters about 3,300.
pub const MAX_CELL_CHARS: usize = 4096;
/// Longest line read, in bytes (its cells together; a line of the export is far below).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest physical line of a file, in bytes, delimiters and quotes included. Checked on
/// the raw bytes before parsing: the CSV parser keeps an index entry per cell, so a line
/// of a hundred million commas would cost gigabytes before any cell could be looked at.
pub const MAX_RAW_LINE_BYTES: usize = 4 * MAX_LINE_BYTES;

/// A column of the import format, in [`HEADER`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// `number` (required).
    Number,
    /// `status`: the status the number should have.
    Status,
    /// `country` (derived from the number; checked, never changed).
    Country,
    /// `location` by name or id.
    Location,
    /// `range` by name or id (checked, never changed).
    Range,
    /// `tags`, `;`-separated.
    Tags,
    /// `description`.
    Description,
    /// `platform` by name or id.
    Platform,
    /// `number_type`.
    NumberType,
    /// `assigned_to_kind`: `user` or `service`.
    AssignedToKind,
    /// `assigned_to`: a UPN or user id, a service name or id.
    AssignedTo,
    /// `reserved_reason`.
    ReservedReason,
    /// `reserved_for`.
    ReservedFor,
    /// `reserved_until`.
    ReservedUntil,
    /// `quarantined_until`.
    QuarantinedUntil,
}

impl Column {
    /// Every column, in file order.
    pub const ALL: [Column; 15] = [
        Column::Number,
        Column::Status,
        Column::Country,
        Column::Location,
        Column::Range,
        Column::Tags,
        Column::Description,
        Column::Platform,
        Column::NumberType,
        Column::AssignedToKind,
        Column::AssignedTo,
        Column::ReservedReason,
        Column::ReservedFor,
        Column::ReservedUntil,
        Column::QuarantinedUntil,
    ];

    /// The header name.
    pub fn name(self) -> &'static str {
        HEADER[self as usize]
    }

    fn from_header(cell: &str) -> Option<Column> {
        let wanted = cell.trim().to_ascii_lowercase();
        Column::ALL.into_iter().find(|c| c.name() == wanted)
    }
}

/// One problem with the file: where (line, column) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// The line as a spreadsheet shows it (the header is line 1); for a cell spanning
    /// several lines, the line where its record starts.
    pub line: u64,
    /// The column's name, when the problem is in one cell.
    pub column: Option<String>,
    /// What is wrong and what would fix it.
    pub reason: String,
}

impl ImportError {
    fn at(line: u64, column: Option<&str>, reason: impl Into<String>) -> ImportError {
        ImportError {
            line,
            column: column.map(str::to_string),
            reason: reason.into(),
        }
    }
}

/// A cell of a column that may be absent: `None` when the file has no such column
/// (leave the field), `Some(None)` for an empty cell (clear it), `Some(Some(v))` to set it.
pub type Cell<T> = Option<Option<T>>;

/// One data line, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportRow {
    /// Its line (the header is line 1).
    pub line: u64,
    /// The number in the canonical E.164 form it has *if it is valid* (`+442071234567`,
    /// `+14255550100;ext=12`): spreadsheet marks, spaces and punctuation removed, a missing
    /// `+` added. Validating against libphonenumber costs ~25 µs, too much for a million
    /// lines, so the reader stops here: a number found in the inventory under this key is
    /// valid already, and only the others go through [`ImportRow::check_number`].
    pub number: String,
    /// The number cell as written (after un-neutralising).
    pub number_cell: String,
    /// The status it should have; an empty cell leaves the status as it is.
    pub status: Cell<NumberStatus>,
    /// The ISO country as written (upper case).
    pub country: Cell<String>,
    /// A location name or id.
    pub location: Cell<String>,
    /// A range name or id.
    pub range: Cell<String>,
    /// The tag set (`Some(vec![])` clears it).
    pub tags: Option<Vec<Tag>>,
    /// The description (`Some("")` clears it).
    pub description: Option<String>,
    /// A platform name or id.
    pub platform: Cell<String>,
    /// How it is carried.
    pub number_type: Cell<NumberType>,
    /// `user` or `service`.
    pub assigned_to_kind: Cell<String>,
    /// A UPN or user id, or a service name or id.
    pub assigned_to: Cell<String>,
    /// Why it is reserved.
    pub reserved_reason: Cell<String>,
    /// For whom.
    pub reserved_for: Cell<String>,
    /// Until when (UTC).
    pub reserved_until: Cell<NaiveDateTime>,
    /// Until when it rests (UTC).
    pub quarantined_until: Cell<NaiveDateTime>,
}

impl ImportRow {
    /// Validates the number cell fully (for a number not in the inventory yet).
    pub fn check_number(&self) -> Result<PhoneNumber, ImportError> {
        PhoneNumber::parse(&self.number_cell).map_err(|e| {
            ImportError::at(
                self.line,
                Some("number"),
                format!("'{}' {e}", clip(&self.number_cell)),
            )
        })
    }
}

/// What the reader makes of one data line.
// Rows are the common case (a million per file) and live one chunk at a time: boxing
// them would cost an allocation per line to shrink the rare error variant.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A line that reads cleanly.
    Row(ImportRow),
    /// A line with problems: its number as written (normalised when it parsed) and why.
    Invalid {
        /// Its line.
        line: u64,
        /// The number cell, normalised if possible.
        number: String,
        /// Every problem found on it.
        errors: Vec<ImportError>,
    },
}

impl Record {
    /// The line it was read from.
    pub fn line(&self) -> u64 {
        match self {
            Record::Row(r) => r.line,
            Record::Invalid { line, .. } => *line,
        }
    }
}

/// Reads an import file line by line, in constant memory apart from the numbers seen
/// (to report a number that appears twice).
pub struct Reader<'a> {
    csv: csv::Reader<&'a [u8]>,
    /// The column at each position of a line; `None` for an unnamed trailing column.
    columns: Vec<Option<Column>>,
    seen: Seen,
    record: csv::ByteRecord,
    total: u64,
    offset: u64,
    body: &'a [u8],
    /// Line breaks counted in `body[..counted_to]`.
    counted_to: usize,
    breaks: u64,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn header_line(record: &csv::ByteRecord) -> u64 {
    record.position().map(|p| p.line()).unwrap_or(1).max(1)
}

const EMPTY_FILE: &str =
    "the file is empty; its first line must be the header (e.g. number,status,description)";

/// The first physical line longer than [`MAX_RAW_LINE_BYTES`], if any (1 is the first).
fn first_overlong_line(body: &[u8]) -> Option<u64> {
    body.split(|b| *b == b'\n')
        .position(|line| line.len() > MAX_RAW_LINE_BYTES)
        .map(|i| i as u64 + 1)
}

/// Where the CSV text starts (after a UTF-8 BOM), or why the bytes are no CSV text at all.
fn text_start(bytes: &[u8]) -> Result<usize, Vec<ImportError>> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(vec![ImportError::at(
            1,
            None,
            "the file is UTF-16 text; save it as \"CSV UTF-8 (comma delimited)\" and upload it again",
        )]);
    }
    let offset = if bytes.starts_with(BOM) { BOM.len() } else { 0 };
    if bytes[offset..].iter().all(|b| b.is_ascii_whitespace()) {
        return Err(vec![ImportError::at(1, None, EMPTY_FILE)]);
    }
    Ok(offset)
}

/// The header's line and its cells, trimmed; errors for a header that is not UTF-8 text
/// or whose one cell shows another delimiter.
fn header_names(csv: &mut csv::Reader<&[u8]>) -> Result<(u64, Vec<String>), Vec<ImportError>> {
    let mut header = csv::ByteRecord::new();
    match csv.read_byte_record(&mut header) {
        Ok(true) => {}
        Ok(false) => return Err(vec![ImportError::at(1, None, EMPTY_FILE)]),
        Err(e) => {
            return Err(vec![ImportError::at(
                1,
                None,
                format!("the header cannot be read: {e}"),
            )]);
        }
    }
    let line = header_line(&header);
    if header.len() > MAX_COLUMNS {
        return Err(vec![ImportError::at(
            line,
            None,
            format!(
                "the header has {} columns; an import file has at most {MAX_COLUMNS} (the columns are {})",
                header.len(),
                HEADER.join(", ")
            ),
        )]);
    }
    if header.as_slice().len() > MAX_LINE_BYTES {
        return Err(vec![ImportError::at(
            line,
            None,
            format!(
                "the header is longer than {MAX_LINE_BYTES} bytes; the columns are {}",
                HEADER.join(", ")
            ),
        )]);
    }
    let mut names = Vec::with_capacity(header.len());
    for cell in header.iter() {
        match std::str::from_utf8(cell) {
            Ok(s) => names.push(s.trim().trim_start_matches('\u{feff}').to_string()),
            Err(_) => {
                return Err(vec![ImportError::at(
                    line,
                    None,
                    "the header is not UTF-8 text; save the file as \"CSV UTF-8 (comma delimited)\"",
                )]);
            }
        }
    }
    if names.len() == 1 {
        for (sep, what) in [(';', "semicolons"), ('\t', "tabs"), ('|', "vertical bars")] {
            if names[0].contains(sep) {
                return Err(vec![ImportError::at(
                    line,
                    None,
                    format!(
                        "the columns are separated by {what}, not commas; save the file as \"CSV UTF-8 (comma delimited)\""
                    ),
                )]);
            }
        }
    }
    Ok((line, names))
}

/// The column of each header cell (`None` for a trailing unnamed one), or every problem
/// with the header: not a header at all, unnamed, unknown or repeated columns, no `number`.
fn header_columns(line: u64, names: &[String]) -> Result<Vec<Option<Column>>, Vec<ImportError>> {
    if !names.iter().any(|n| Column::from_header(n).is_some()) {
        return Err(vec![ImportError::at(
            line,
            None,
            format!(
                "line {line} is not a header: the first line must name the columns, e.g. {}",
                HEADER.join(",")
            ),
        )]);
    }
    let last_named = names.iter().rposition(|n| !n.is_empty()).unwrap_or(0);
    let mut errors = Vec::new();
    let mut columns = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            if i < last_named {
                errors.push(ImportError::at(
                    line,
                    None,
                    format!("column {} of the header has no name", i + 1),
                ));
            }
            columns.push(None);
            continue;
        }
        match Column::from_header(name) {
            Some(c) if columns.contains(&Some(c)) => errors.push(ImportError::at(
                line,
                Some(c.name()),
                format!("the column {} appears twice in the header", c.name()),
            )),
            Some(c) => columns.push(Some(c)),
            None => {
                errors.push(ImportError::at(
                    line,
                    Some(clip(name)),
                    format!(
                        "unknown column '{}'; the columns are {}",
                        clip(name),
                        HEADER.join(", ")
                    ),
                ));
                columns.push(None);
            }
        }
    }
    if !columns.contains(&Some(Column::Number)) {
        errors.push(ImportError::at(
            line,
            Some("number"),
            "the header has no number column; it is required",
        ));
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(errors)
    }
}

impl<'a> Reader<'a> {
    /// Opens a file and reads its header; the errors say why the file cannot be read at all
    /// (empty, not UTF-8, another delimiter, no or a bad header).
    pub fn new(bytes: &'a [u8]) -> Result<Reader<'a>, Vec<ImportError>> {
        let offset = text_start(bytes)?;
        let body = &bytes[offset..];
        if let Some(line) = first_overlong_line(body) {
            return Err(vec![ImportError::at(
                line,
                None,
                format!(
                    "line {line} is longer than {MAX_RAW_LINE_BYTES} bytes; a line holds one number"
                ),
            )]);
        }
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(body);
        let (line, names) = header_names(&mut csv)?;
        let columns = header_columns(line, &names)?;
        Ok(Reader {
            csv,
            columns,
            // About one number per 60 bytes in an export; grows if there are more.
            seen: Seen::with_capacity((bytes.len() / 64).clamp(16, 4_000_000)),
            record: csv::ByteRecord::new(),
            total: bytes.len() as u64,
            offset: offset as u64,
            body,
            counted_to: 0,
            breaks: 0,
        })
    }

    /// True when the file has this column.
    pub fn has(&self, column: Column) -> bool {
        self.columns.contains(&Some(column))
    }

    /// The columns the file has, in file order.
    pub fn columns(&self) -> Vec<Column> {
        self.columns.iter().flatten().copied().collect()
    }

    /// Records that the number `key` (canonical E.164) is on `line`; the line it was
    /// first seen on when another line has it already. The reader claims each line's
    /// [`ImportRow::number`]; a caller that validates a number into another canonical form
    /// claims that form too, so two spellings of one number are caught as well.
    pub fn claim(&mut self, key: &str, line: u64) -> Result<(), u64> {
        self.seen.claim(key, line)
    }

    /// Bytes read so far and the file's size, for a progress bar.
    pub fn progress(&self) -> (u64, u64) {
        (
            (self.offset + self.csv.position().byte()).min(self.total),
            self.total,
        )
    }

    /// The line the current record's first cell is on. csv's own count lags by one after a
    /// CRLF (the LF is consumed with the next record), so lines are counted here: from the
    /// record's start, skipping line breaks, to its first byte.
    fn current_line(&mut self) -> u64 {
        let start = self
            .record
            .position()
            .map(|p| p.byte() as usize)
            .unwrap_or(self.counted_to)
            .min(self.body.len());
        let mut first = start;
        while first < self.body.len() && matches!(self.body[first], b'\r' | b'\n') {
            first += 1;
        }
        if first < self.counted_to {
            // Positions only move forward; this cannot happen, but never count backwards.
            return self.breaks + 1;
        }
        self.breaks += line_breaks(&self.body[self.counted_to..first]);
        self.counted_to = first;
        self.breaks + 1
    }

    fn read_line(&mut self) -> Option<Record> {
        let line = self.current_line();
        if self.record.as_slice().len() > MAX_LINE_BYTES {
            // One error for the line, whatever it holds: its cells are not looked at.
            let number = self
                .columns
                .iter()
                .position(|c| *c == Some(Column::Number))
                .and_then(|i| self.record.get(i))
                .map(|raw| clip(String::from_utf8_lossy(raw).trim()).to_string())
                .unwrap_or_default();
            return Some(Record::Invalid {
                line,
                number,
                errors: vec![ImportError::at(
                    line,
                    None,
                    format!("is longer than {MAX_LINE_BYTES} bytes; a line holds one number"),
                )],
            });
        }
        // Split borrows: cells borrow the record while the seen-numbers map is updated.
        let Reader {
            record,
            columns,
            seen,
            ..
        } = self;
        let mut errors = Vec::new();
        let mut cells: Cells<'_> = Default::default();
        if !split_cells(record, columns, line, &mut cells, &mut errors) {
            // Spreadsheets leave lines of empty cells behind; they say nothing.
            return None;
        }
        let number_cell = cells[Column::Number as usize]
            .take()
            .map(Cow::into_owned)
            .unwrap_or_default();
        let number = if errors.iter().any(|e| e.column.as_deref() == Some("number")) {
            // The cell was refused already (too long, not UTF-8).
            None
        } else {
            number_of(&number_cell, line, &mut errors)
        };
        if let Some(key) = &number
            && let Err(first) = seen.claim(key, line)
        {
            errors.push(ImportError::at(
                line,
                Some("number"),
                format!("{key} appears twice: also on line {first}"),
            ));
        }
        let row = typed_row(line, number_cell, &mut cells, columns, &mut errors);
        match number {
            Some(number) if errors.is_empty() => Some(Record::Row(ImportRow { number, ..row })),
            number => Some(Record::Invalid {
                line,
                number: number.unwrap_or_else(|| clip(row.number_cell.trim()).to_string()),
                errors,
            }),
        }
    }
}

/// A line's cells by [`Column`] (at most one each).
type Cells<'r> = [Option<Cow<'r, str>>; 15];

/// Puts each cell of `record` under its column; errors for a short line, cells that are
/// not UTF-8 or too long, and (one for the line) cells beyond the header's columns.
/// False for a line of blank cells.
fn split_cells<'r>(
    record: &'r csv::ByteRecord,
    columns: &[Option<Column>],
    line: u64,
    cells: &mut Cells<'r>,
    errors: &mut Vec<ImportError>,
) -> bool {
    let width = columns.len();
    if record.len() < width {
        errors.push(ImportError::at(
            line,
            None,
            format!(
                "has {} cells but the header names {width} columns",
                record.len()
            ),
        ));
    }
    let mut blank = true;
    // Cells with something in them but no column: counted, reported once.
    let mut stray = 0_usize;
    let mut first_stray: Option<(usize, &[u8])> = None;
    for (i, raw) in record.iter().enumerate() {
        let column = columns.get(i).copied().flatten();
        let Some(c) = column else {
            if !raw.iter().all(u8::is_ascii_whitespace) {
                blank = false;
                stray += 1;
                first_stray.get_or_insert((i, raw));
            }
            continue;
        };
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => {
                errors.push(ImportError::at(
                    line,
                    Some(c.name()),
                    "is not UTF-8 text; save the file as \"CSV UTF-8 (comma delimited)\"",
                ));
                blank = false;
                continue;
            }
        };
        if !text.trim().is_empty() {
            blank = false;
        }
        if text.len() > MAX_CELL_CHARS && text.chars().count() > MAX_CELL_CHARS {
            errors.push(ImportError::at(
                line,
                Some(c.name()),
                format!("is longer than {MAX_CELL_CHARS} characters"),
            ));
            continue;
        }
        cells[c as usize] = Some(if text.starts_with('\'') {
            Cow::Owned(csv_row::unneutralise(text))
        } else {
            Cow::Borrowed(text)
        });
    }
    if let Some((i, raw)) = first_stray {
        let found = String::from_utf8_lossy(raw);
        let reason = if stray == 1 {
            format!(
                "cell {} has no column in the header (found '{}')",
                i + 1,
                clip(&found)
            )
        } else {
            format!(
                "{stray} cells have no column in the header (the header names {width}; the first, cell {}, holds '{}')",
                i + 1,
                clip(&found)
            )
        };
        errors.push(ImportError::at(line, None, reason));
    }
    !blank
}

/// The canonical key of a line's number cell, or `None` with the error (empty, not a number).
fn number_of(cell: &str, line: u64, errors: &mut Vec<ImportError>) -> Option<String> {
    if cell.trim().is_empty() {
        errors.push(ImportError::at(line, Some("number"), "is required"));
        return None;
    }
    match number_key(cell) {
        Some(key) => Some(key),
        // Not even the shape of a number: let the real parser say what is wrong.
        None => match PhoneNumber::parse(cell) {
            Ok(n) => Some(n.to_string()),
            Err(e) => {
                errors.push(ImportError::at(
                    line,
                    Some("number"),
                    format!("'{}' {e}", clip(cell)),
                ));
                None
            }
        },
    }
}

/// The line's cells read as typed values (a column the file lacks stays `None`); errors
/// for cells that do not read. `number` is left empty for the caller to fill.
fn typed_row(
    line: u64,
    number_cell: String,
    cells: &mut Cells<'_>,
    columns: &[Option<Column>],
    errors: &mut Vec<ImportError>,
) -> ImportRow {
    let mut row = Parsed { line, errors };
    let mut take = |c: Column| -> Option<Cow<'_, str>> {
        if columns.contains(&Some(c)) {
            Some(cells[c as usize].take().unwrap_or_default())
        } else {
            None
        }
    };
    ImportRow {
        line,
        number: String::new(),
        number_cell,
        status: take(Column::Status).map(|v| row.status(&v)),
        country: take(Column::Country).map(|v| row.country(&v)),
        location: take(Column::Location).map(|v| trimmed(&v)),
        range: take(Column::Range).map(|v| trimmed(&v)),
        tags: take(Column::Tags).map(|v| row.tags(&v)),
        description: take(Column::Description).map(|v| row.description(v.into_owned())),
        platform: take(Column::Platform).map(|v| trimmed(&v)),
        number_type: take(Column::NumberType).map(|v| row.number_type(&v)),
        assigned_to_kind: take(Column::AssignedToKind).map(|v| row.kind(&v)),
        assigned_to: take(Column::AssignedTo).map(|v| trimmed(&v)),
        reserved_reason: take(Column::ReservedReason)
            .map(|v| row.reason(Column::ReservedReason, &v)),
        reserved_for: take(Column::ReservedFor).map(|v| row.reason(Column::ReservedFor, &v)),
        reserved_until: take(Column::ReservedUntil).map(|v| row.instant(Column::ReservedUntil, &v)),
        quarantined_until: take(Column::QuarantinedUntil)
            .map(|v| row.instant(Column::QuarantinedUntil, &v)),
    }
}

/// A fast, non-cryptographic hash (FxHash) for the numbers seen: SipHash's resistance to
/// crafted collisions buys nothing for a file an admin uploads, and a million lookups
/// add up.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// The numbers seen so far, each with the line that has it. A plain E.164 key (`+` and
/// digits, no leading zero) is kept as the integer of its digits — a million of them take
/// ~20 MB instead of ~70 MB as strings; anything else (extensions) as its text.
struct Seen {
    plain: HashMap<u64, u64, FxBuild>,
    other: HashMap<String, u64, FxBuild>,
}

impl Seen {
    fn with_capacity(numbers: usize) -> Seen {
        Seen {
            plain: HashMap::with_capacity_and_hasher(numbers, FxBuild::default()),
            other: HashMap::default(),
        }
    }

    /// Records `key` on `line`; `Err(first line)` when another line has it already.
    fn claim(&mut self, key: &str, line: u64) -> Result<(), u64> {
        let first = match packed(key) {
            Some(k) => *self.plain.entry(k).or_insert(line),
            None => match self.other.get(key) {
                Some(first) => *first,
                None => {
                    self.other.insert(key.to_string(), line);
                    line
                }
            },
        };
        if first == line { Ok(()) } else { Err(first) }
    }
}

/// `+` and 1–18 digits without a leading zero, as the integer of the digits (distinct
/// keys give distinct integers).
fn packed(key: &str) -> Option<u64> {
    let digits = key.strip_prefix('+')?;
    if digits.is_empty()
        || digits.len() > 18
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

impl Iterator for Reader<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            match self.csv.read_byte_record(&mut self.record) {
                Ok(true) => {
                    if let Some(r) = self.read_line() {
                        return Some(r);
                    }
                }
                Ok(false) => return None,
                // Reading from memory cannot fail on IO, and byte records skip UTF-8
                // checks; should csv report anything else, it is one bad line, not a panic.
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0).max(1);
                    return Some(Record::Invalid {
                        line,
                        number: String::new(),
                        errors: vec![ImportError::at(line, None, format!("cannot be read: {e}"))],
                    });
                }
            }
        }
    }
}

/// Reads a whole file: the file-level errors (then no rows), or every record.
pub fn read_all(bytes: &[u8]) -> Result<Vec<Record>, Vec<ImportError>> {
    Ok(Reader::new(bytes)?.collect())
}

/// The canonical form a number cell has if it is a valid number, or `None` when it is not
/// even shaped like one. Mirrors the normalisation of [`PhoneNumber::parse`] (which stays
/// the judge of validity): a leading `'`, spaces, dashes, dots, brackets, slashes and a
/// bracketed trunk `(0)` go; a missing `+` is added, a `00` prefix read as `+`.
pub fn number_key(cell: &str) -> Option<String> {
    let trimmed = cell.trim().trim_start_matches('\'').trim();
    let lower = trimmed.to_ascii_lowercase();
    let (main, ext) = match [";ext=", " ext. ", " ext ", " x "]
        .iter()
        .find_map(|m| lower.find(m).map(|at| (at, m.len())))
    {
        Some((at, len)) => (&trimmed[..at], Some(trimmed.get(at + len..)?.trim())),
        None => (trimmed, None),
    };
    if main.contains("(0)") {
        // The trunk prefix changes the digits; only the full parser knows the result.
        return None;
    }
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for (i, ch) in main.trim().chars().enumerate() {
        match ch {
            '0'..='9' => digits.push(ch),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' | '\t' => {}
            _ => return None,
        }
    }
    let digits = match digits.strip_prefix("00") {
        Some(rest) if !plus => rest,
        _ => digits.as_str(),
    };
    if !(3..=15).contains(&digits.len()) || digits.starts_with('0') {
        return None;
    }
    match ext {
        None => Some(format!("+{digits}")),
        Some(e) if (1..=15).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_digit()) => {
            Some(format!("+{digits};ext={e}"))
        }
        Some(_) => None,
    }
}

/// Line breaks as a spreadsheet counts them: LF, CRLF, or a lone CR.
fn line_breaks(bytes: &[u8]) -> u64 {
    let mut n = 0;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'\n' => n += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => n += 1,
            _ => {}
        }
    }
    n
}

fn trimmed(v: &str) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// At most 40 characters of a cell, for messages.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Checks the cells of one line, collecting errors.
struct Parsed<'e> {
    line: u64,
    errors: &'e mut Vec<ImportError>,
}

impl Parsed<'_> {
    fn error(&mut self, c: Column, reason: String) {
        self.errors
            .push(ImportError::at(self.line, Some(c.name()), reason));
    }

    fn status(&mut self, v: &str) -> Option<NumberStatus> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        NumberStatus::ALL
            .iter()
            .copied()
            .find(|s| s.as_str().eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                self.error(
                    Column::Status,
                    format!(
                        "'{}' is not a status: use available, reserved, assigned or quarantined",
                        clip(v)
                    ),
                )
            })
            .ok()
    }

    fn country(&mut self, v: &str) -> Option<String> {
        trimmed(v).map(|c| c.to_ascii_uppercase())
    }

    fn tags(&mut self, v: &str) -> Vec<Tag> {
        Tag::parse_set(&csv_row::split_tags(v)).unwrap_or_else(|e| {
            self.error(Column::Tags, e.to_string());
            Vec::new()
        })
    }

    fn description(&mut self, v: String) -> String {
        if v.chars().count() > MAX_DESCRIPTION_CHARS {
            self.error(
                Column::Description,
                format!("is longer than {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
        v
    }

    fn number_type(&mut self, v: &str) -> Option<NumberType> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        if let Some(t) = NumberType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(v))
        {
            return Some(t);
        }
        v.to_ascii_lowercase()
            .parse()
            .map_err(|e: crate::ParseEnumError| self.error(Column::NumberType, e.to_string()))
            .ok()
    }

    fn kind(&mut self, v: &str) -> Option<String> {
        let v = v.trim().to_ascii_lowercase();
        match v.as_str() {
            "" => None,
            "user" | "service" => Some(v),
            other => {
                self.error(
                    Column::AssignedToKind,
                    format!("'{}' is not user or service", clip(other)),
                );
                None
            }
        }
    }

    fn reason(&mut self, c: Column, v: &str) -> Option<String> {
        let v = trimmed(v)?;
        if v.chars().count() > MAX_REASON_CHARS {
            self.error(c, format!("is longer than {MAX_REASON_CHARS} characters"));
        }
        Some(v)
    }

    fn instant(&mut self, c: Column, v: &str) -> Option<NaiveDateTime> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        parse_instant(v)
            .ok_or_else(|| {
                self.error(
                    c,
                    format!(
                        "'{}' is not a date: use 2027-01-31 or 2027-01-31T09:00:00Z (UTC)",
                        clip(v)
                    ),
                )
            })
            .ok()
    }
}

/// Reads an instant the way the export writes it (RFC 3339) or a spreadsheet leaves it
/// (`2027-01-31 09:00`, `2027-01-31`); times without an offset are UTC.
pub fn parse_instant(v: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.naive_utc());
    }
    let v = v.trim_end_matches(['Z', 'z']).trim();
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

#[cfg(test)]
mod tests;
