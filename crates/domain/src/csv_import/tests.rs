use super::*;

fn rows(text: &str) -> Vec<Record> {
    read_all(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
}

fn row(r: &Record) -> &ImportRow {
    match r {
        Record::Row(r) => r,
        Record::Invalid { errors, .. } => panic!("invalid: {errors:?}"),
    }
}

fn file_error(text: &[u8]) -> ImportError {
    match read_all(text) {
        Ok(r) => panic!("{text:?} read as {r:?}"),
        Err(mut e) => e.remove(0),
    }
}

#[test]
fn numbers_seen_twice_are_named_with_their_first_line_in_either_form() {
    let mut seen = Seen::with_capacity(4);
    assert_eq!(seen.claim("+442071234567", 2), Ok(()));
    assert_eq!(
        seen.claim("+442071234567", 2),
        Ok(()),
        "a line may claim again"
    );
    assert_eq!(seen.claim("+442071234567", 5), Err(2));
    assert_eq!(seen.claim("+442071234568", 6), Ok(()));
    // Extensions and other shapes are kept as text, and never meet a plain key.
    assert_eq!(seen.claim("+442071234567;ext=1", 7), Ok(()));
    assert_eq!(seen.claim("+442071234567;ext=1", 9), Err(7));
    assert_eq!(seen.claim("+0442071234567", 10), Ok(()));
    assert_eq!(packed("+0442071234567"), None);
    assert_eq!(
        packed("+1234567890123456789"),
        None,
        "too long for the integer form"
    );
    assert_eq!(packed("+14255550100"), Some(14_255_550_100));
}

#[test]
fn spreadsheet_mangling_is_accepted() {
    let text = "\u{feff}Number , STATUS,description,tags\r\n\
                '+442071234567,assigned,\"Reception, main line\",VIP; Sales\r\n\
                44 20 7123 4568,,\"two\r\nlines\",\r\n\
                +44 (0)20 7123 4569,Available,'=SUM(A1),\r\n";
    let got = rows(text);
    assert_eq!(got.len(), 3);
    let a = row(&got[0]);
    assert_eq!(a.line, 2);
    assert_eq!(a.number.to_string(), "+442071234567");
    assert_eq!(a.status, Some(Some(NumberStatus::Assigned)));
    assert_eq!(a.description.as_deref(), Some("Reception, main line"));
    let tags: Vec<&str> = a.tags.as_ref().unwrap().iter().map(Tag::name).collect();
    assert_eq!(tags, ["VIP", "Sales"]);
    let b = row(&got[1]);
    assert_eq!((b.line, b.number.to_string()), (3, "+442071234568".into()));
    assert_eq!(b.status, Some(None), "an empty status cell");
    assert_eq!(b.description.as_deref(), Some("two\r\nlines"));
    assert_eq!(b.tags, Some(vec![]), "an empty tags cell clears them");
    let c = row(&got[2]);
    assert_eq!(
        c.line, 5,
        "the quoted line break moves the next record down"
    );
    assert_eq!(c.description.as_deref(), Some("=SUM(A1)"));
    assert_eq!(c.location, None, "absent column");
}

#[test]
fn cells_are_checked_and_errors_name_line_and_column() {
    let text = "number,status,number_type,reserved_until,assigned_to_kind\n\
                +442071234567,lost,carrier_pigeon,31/12/2027,robot\n\
                +1234,,,,\n\
                +442071234567,,,,\n\
                ,available,,,\n";
    let got = rows(text);
    let errors = |r: &Record| match r {
        Record::Invalid { errors, .. } => errors
            .iter()
            .map(|e| (e.line, e.column.clone().unwrap_or_default()))
            .collect::<Vec<_>>(),
        other => panic!("expected errors, got {other:?}"),
    };
    let cols = |v: &[&str], line| v.iter().map(|c| (line, c.to_string())).collect::<Vec<_>>();
    assert_eq!(
        errors(&got[0]),
        cols(
            &[
                "status",
                "number_type",
                "assigned_to_kind",
                "reserved_until"
            ],
            2
        )
    );
    // Shaped like a number, so only full validation (for numbers not in the
    // inventory) refuses it.
    let e = row(&got[1]).check_number().unwrap_err();
    assert_eq!((e.line, e.column.as_deref()), (3, Some("number")));
    match &got[2] {
        Record::Invalid { errors, .. } => {
            assert!(errors[0].reason.contains("also on line 2"), "{errors:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(errors(&got[3]), cols(&["number"], 5));
}

#[test]
fn unreadable_files_get_one_clear_error() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "empty"),
        (b"\xEF\xBB\xBF\r\n  \n", "empty"),
        (b"number;status\n+442071234567;available\n", "semicolons"),
        (b"number\tstatus\n", "tabs"),
        (b"+442071234567,available\n", "not a header"),
        (b"\xFF\xFEn\x00u\x00", "UTF-16"),
        (b"numb\xE9r,status\n", "not UTF-8"),
        (b"status,description\n", "no number column"),
    ];
    for (text, want) in cases {
        let e = file_error(text);
        assert_eq!(e.line, 1, "{text:?}");
        assert!(e.reason.contains(want), "{text:?}: {e:?}");
    }
    let e = read_all(b"number,colour,number\n").unwrap_err();
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].column.as_deref(), Some("colour"));
    assert!(e[1].reason.contains("twice"), "{e:?}");
}

#[test]
fn number_keys_match_what_the_parser_makes_of_valid_numbers() {
    for input in [
        "+442071234567",
        "'+442071234567",
        "442071234567",
        "'442071234567",
        "00442071234567",
        "+44 20 7123 4567",
        "+1 (425) 555-0100",
        "+1.425.555.0100",
        "+14255550100;ext=123",
        "+1 425 555 0100;EXT=77",
        "+1 425 555 0100 ext. 9",
        "+39 06 6982 1234",
        "+44 (0)20 7123 4567",
    ] {
        let parsed = PhoneNumber::parse(input).unwrap().to_string();
        if let Some(key) = number_key(input) {
            // A key that differs is harmless (the number is then validated fully and
            // claimed under its canonical form), but the common spellings must agree.
            assert_eq!(key, parsed, "{input}");
        }
    }
    assert_eq!(number_key("+44 (0)20 7123 4567"), None);
    assert_eq!(number_key("abc"), None);
    assert_eq!(number_key("=1+1"), None);
    let text = "number\n+442071234567\n'442071234567\n";
    match &read_all(text.as_bytes()).unwrap()[1] {
        Record::Invalid { errors, .. } => assert!(errors[0].reason.contains("line 2")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_line_in_another_encoding_is_named() {
    let got = rows("number,description\n+442071234567,caf\u{e9}\n");
    assert_eq!(row(&got[0]).description.as_deref(), Some("café"));
    let latin1 = b"number,description\n+442071234567,ok\n+442071234568,caf\xE9\n";
    let got = read_all(latin1).unwrap();
    match &got[1] {
        Record::Invalid { line, errors, .. } => {
            assert_eq!(*line, 3);
            assert_eq!(errors[0].column.as_deref(), Some("description"));
            assert!(errors[0].reason.contains("UTF-8"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn blank_lines_and_trailing_empty_columns_are_ignored() {
    let got = rows("number,description,,\n\n,,,\n+442071234567,x,,\n");
    assert_eq!(got.len(), 1);
    assert_eq!(row(&got[0]).line, 4);
    let got = rows("number,description\n+442071234567,x,stray\n");
    assert!(matches!(&got[0], Record::Invalid { .. }));
}

fn only_errors(r: &Record) -> &[ImportError] {
    match r {
        Record::Invalid { errors, .. } => errors,
        other => panic!("expected errors, got {other:?}"),
    }
}

#[test]
fn a_header_of_too_many_columns_is_one_file_error() {
    let mut text = String::from("number");
    text.push_str(&",".repeat(200_000));
    text.push_str("\n+442071234567\n");
    let errors = read_all(text.as_bytes()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].reason.contains("200001 columns"), "{errors:?}");
    // Unknown names are one error each, but there are at most 64 of them.
    let mut text = String::from("number");
    for i in 0..200 {
        text.push_str(&format!(",c{i}"));
    }
    assert_eq!(read_all(text.as_bytes()).unwrap_err().len(), 1);
    // Spreadsheets' trailing empty columns stay welcome up to the limit.
    let text = format!("number{}\n+442071234567\n", ",".repeat(MAX_COLUMNS - 1));
    assert_eq!(rows(&text).len(), 1);
    // A long header name is clipped in the message.
    let text = format!("number,{}\n", "y".repeat(10_000));
    let errors = read_all(text.as_bytes()).unwrap_err();
    assert!(errors[0].reason.len() < 400, "{errors:?}");
}

#[test]
fn cells_beyond_the_header_are_one_error_for_the_line() {
    let mut text = String::from("number,description\n+442071234567,x");
    text.push_str(&",y".repeat(1_000));
    text.push('\n');
    let got = read_all(text.as_bytes()).unwrap();
    let errors = only_errors(&got[0]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].reason.contains("1000 cells have no column"),
        "{errors:?}"
    );
    // 100,000 extra cells make a line too long to look at: still one error.
    let mut text = String::from("number,description\n+442071234567,x");
    text.push_str(&",y".repeat(100_000));
    text.push_str("\n+442071234568,ok\n");
    let got = read_all(text.as_bytes()).unwrap();
    assert_eq!(got.len(), 2);
    let errors = only_errors(&got[0]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].reason.contains("longer than"), "{errors:?}");
    assert_eq!(row(&got[1]).line, 3, "the next line reads as usual");
}

#[test]
fn long_cells_and_lines_are_one_error_each() {
    let text = format!(
        "number,description,tags\n+442071234567,{},ok\n",
        "d".repeat(MAX_CELL_CHARS + 1)
    );
    let got = read_all(text.as_bytes()).unwrap();
    let errors = only_errors(&got[0]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].column.as_deref(), Some("description"));
    assert!(errors[0].reason.contains("4096"), "{errors:?}");
    // A too-long number cell is one error, not also "is required".
    let text = format!("number\n{}\n", "1".repeat(MAX_CELL_CHARS + 1));
    let got = read_all(text.as_bytes()).unwrap();
    assert_eq!(only_errors(&got[0]).len(), 1, "{got:?}");
    // A line over the limit: one error, its number clipped.
    let text = format!(
        "number,description,tags\n+442071234567,{},{}\n",
        "d".repeat(MAX_CELL_CHARS),
        "t;".repeat(MAX_LINE_BYTES / 2)
    );
    match &read_all(text.as_bytes()).unwrap()[0] {
        Record::Invalid {
            line,
            number,
            errors,
        } => {
            assert_eq!((*line, number.as_str()), (2, "+442071234567"));
            assert_eq!(errors.len(), 1, "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
    // The longest legitimate cells fit: 50 tags of 64 characters, 1,000-character
    // descriptions in any script.
    let tags: Vec<String> = (0..crate::MAX_TAGS)
        .map(|i| format!("{i:02}{}", "é".repeat(62)))
        .collect();
    let text = format!(
        "number,description,tags\n+442071234567,{},{}\n",
        "é".repeat(MAX_DESCRIPTION_CHARS),
        tags.join("; ")
    );
    let got = rows(&text);
    assert_eq!(row(&got[0]).tags.as_ref().unwrap().len(), crate::MAX_TAGS);
    // One more tag is the tag limit's error, naming the column.
    let text = format!("number,tags\n+442071234567,{};extra\n", tags.join(";"));
    let errors = only_errors(&read_all(text.as_bytes()).unwrap()[0]).to_vec();
    assert_eq!(errors[0].column.as_deref(), Some("tags"), "{errors:?}");
    assert!(errors[0].reason.contains("at most 50"), "{errors:?}");
}

#[test]
fn a_file_of_many_bad_lines_has_one_error_per_line() {
    let text = format!("number\n{}", "x,\n".repeat(10_000));
    let got = read_all(text.as_bytes()).unwrap();
    assert_eq!(got.len(), 10_000);
    assert!(got.iter().all(|r| only_errors(r).len() == 1));
}

#[test]
fn instants_in_the_forms_spreadsheets_leave() {
    let want = NaiveDate::from_ymd_opt(2027, 1, 31)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    for v in [
        "2027-01-31T09:00:00Z",
        "2027-01-31T10:00:00+01:00",
        "2027-01-31 09:00:00",
        "2027-01-31 09:00",
        "2027-01-31T09:00",
    ] {
        assert_eq!(parse_instant(v), Some(want), "{v}");
    }
    assert_eq!(
        parse_instant("2027-01-31"),
        want.date().and_hms_opt(0, 0, 0)
    );
    assert_eq!(parse_instant("31/01/2027"), None);
}

/// A small deterministic generator (xorshift), so the property test needs no crate and
/// every failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const VALID: &str = "\u{feff}number,status,country,location,range,tags,description,platform,number_type,\
    assigned_to_kind,assigned_to,reserved_reason,reserved_for,reserved_until,quarantined_until\r\n\
    +442071234567,assigned,GB,London,Block A,VIP;Sales,\"Reception, \"\"main\"\"\nline\",Teams,direct_routing,user,jo@example.com,,,,\r\n\
    '442071234568,reserved,GB,London,,,'=1+1,,,,,CEO,Board,2027-01-31,\r\n\
    +44 20 7123 4569,quarantined,,,,,,,,,,,,,2027-02-01T00:00:00Z\r\n";

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    let pieces: [&[u8]; 12] = [
        b",",
        b"\"",
        b"\r\n",
        b"\n",
        b";",
        b"\t",
        b"'",
        b"=",
        b"\xEF\xBB\xBF",
        b"\xFF",
        b"\xC3",
        b"+",
    ];
    for _ in 0..=rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 if !out.is_empty() => {
                let end = (at + rng.below(20)).min(out.len());
                out.drain(at.min(end)..end);
            }
            1 => {
                let p = pieces[rng.below(pieces.len())];
                out.splice(at..at, p.iter().copied());
            }
            2 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = rng.next() as u8;
            }
            _ => {
                let from = rng.below(out.len());
                let end = (from + rng.below(40)).min(out.len());
                let copy = out[from..end].to_vec();
                out.splice(at..at, copy);
            }
        }
    }
    out
}

#[test]
fn the_reader_never_panics_and_every_error_names_a_line() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases = 0;
    let check = |bytes: &[u8]| {
        let lines = line_breaks(bytes) + 1;
        let named = |e: &ImportError| e.line >= 1 && e.line <= lines && !e.reason.is_empty();
        match read_all(bytes) {
            Err(errors) => {
                assert!(!errors.is_empty());
                assert!(errors.iter().all(named), "{bytes:?}: {errors:?}");
            }
            Ok(records) => {
                for r in records {
                    assert!(r.line() >= 2 && r.line() <= lines, "{bytes:?}: {r:?}");
                    if let Record::Invalid { errors, .. } = &r {
                        assert!(!errors.is_empty());
                        assert!(errors.iter().all(named), "{bytes:?}: {errors:?}");
                    }
                }
            }
        }
    };
    for _ in 0..2_000 {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&bytes);
        cases += 1;
    }
    for _ in 0..3_000 {
        let bytes = mutate(&mut rng, VALID.as_bytes());
        check(&bytes);
        cases += 1;
    }
    assert_eq!(cases, 5_000);
}

#[test]
fn a_physical_line_of_commas_is_refused_before_it_is_parsed() {
    let mut text = b"number,description\n+442071234567,ok\n+442071234568".to_vec();
    text.extend(std::iter::repeat_n(b',', MAX_RAW_LINE_BYTES + 1));
    text.extend(b"\n+442071234569,ok\n");
    let e = file_error(&text);
    assert_eq!(e.line, 3);
    assert!(e.reason.contains("longer than"), "{}", e.reason);
    // Just under the bound still reads (trailing empty cells say nothing).
    let mut text = b"number,description\n+442071234568".to_vec();
    text.extend(std::iter::repeat_n(b',', MAX_RAW_LINE_BYTES - 20));
    text.push(b'\n');
    assert!(read_all(&text).is_ok());
}
