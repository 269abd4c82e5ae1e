//! E.164 telephone numbers: the only way in is [`PhoneNumber::parse`].
//!
//! Input comes from people and spreadsheets, so parsing is forgiving about punctuation and
//! strict about the result: what comes out is canonical E.164, valid per libphonenumber's
//! metadata, with the ISO country derived from it.

use std::fmt;

/// libphonenumber's region code for numbers that belong to no country (e.g. `+800`).
pub const NON_GEOGRAPHIC: &str = "001";

/// Longest extension accepted; Teams Direct Routing extensions are short digit strings.
const MAX_EXTENSION_DIGITS: usize = 15;

/// A telephone number in canonical E.164 form, e.g. `+442071234567` or `+14255550100;ext=123`.
///
/// Holding one means it was checked: the base is valid per libphonenumber metadata and the
/// extension, if any, is 1–15 digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber {
    base: String,
    extension: Option<String>,
    country: String,
}

/// Why a string is not a telephone number; each variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but blanks and punctuation.
    #[error("is empty")]
    Empty,
    /// A character that has no place in a telephone number.
    #[error("contains '{0}', which is not allowed in a telephone number")]
    InvalidCharacter(char),
    /// Digits that libphonenumber does not recognise as a number of any country.
    #[error("'{0}' is not a valid E.164 telephone number")]
    Invalid(String),
    /// An extension that is empty, too long or not digits.
    #[error("has an invalid extension '{0}' (1-15 digits expected)")]
    InvalidExtension(String),
}

impl PhoneNumber {
    /// Normalises and validates user input: drops spaces, dashes, dots, brackets and slashes,
    /// strips a spreadsheet's leading `'`, accepts a missing `+` (or a `00` international
    /// prefix) when the digits form a valid number, and keeps a `;ext=` extension.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim().trim_start_matches('\'').trim();
        let (main, ext) = split_extension(trimmed);
        // "+44 (0)20 …": the bracketed national trunk prefix is never dialled from abroad.
        let main = main.replace("(0)", "");
        let mut digits = String::with_capacity(main.len());
        let mut plus = false;
        for (i, ch) in main.trim().chars().enumerate() {
            match ch {
                '0'..='9' => digits.push(ch),
                '+' if i == 0 || (digits.is_empty() && !plus) => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' | '\t' => {}
                other => return Err(PhoneError::InvalidCharacter(other)),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        let extension = match ext {
            None => None,
            Some(e) => {
                let e = e.trim();
                if e.is_empty()
                    || e.len() > MAX_EXTENSION_DIGITS
                    || !e.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(PhoneError::InvalidExtension(e.to_string()));
                }
                Some(e.to_string())
            }
        };
        let candidates: Vec<&str> = match (plus, digits.strip_prefix("00")) {
            (true, _) => vec![&digits],
            (false, Some(rest)) => vec![&digits, rest],
            (false, None) => vec![&digits],
        };
        for candidate in candidates {
            if let Some((base, country)) = validate(candidate) {
                return Ok(PhoneNumber {
                    base,
                    extension,
                    country,
                });
            }
        }
        Err(PhoneError::Invalid(if plus {
            format!("+{digits}")
        } else {
            digits
        }))
    }

    /// The canonical E.164 base number without extension, e.g. `+14255550100`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The extension digits, if the number has one.
    pub fn extension(&self) -> Option<&str> {
        self.extension.as_deref()
    }

    /// The ISO 3166-1 alpha-2 country, or [`NON_GEOGRAPHIC`] for global services.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The digits of the base number without `+`, for arithmetic on blocks.
    pub fn digits(&self) -> &str {
        &self.base[1..]
    }

    /// The stored and displayed form: `+14255550100` or `+14255550100;ext=123`.
    pub fn as_e164(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.extension {
            Some(ext) => write!(f, "{};ext={ext}", self.base),
            None => f.write_str(&self.base),
        }
    }
}

fn split_extension(input: &str) -> (&str, Option<&str>) {
    let lower = input.to_ascii_lowercase();
    for marker in [";ext=", " ext. ", " ext ", " x "] {
        if let Some(at) = lower.find(marker) {
            return (&input[..at], Some(&input[at + marker.len()..]));
        }
    }
    (input, None)
}

/// Checks `+digits` against libphonenumber and returns the canonical form and country.
fn validate(digits: &str) -> Option<(String, String)> {
    // E.164 allows at most 15 digits; libphonenumber would otherwise try to be clever.
    if digits.len() > 15 || digits.len() < 3 {
        return None;
    }
    let parsed = phonenumber::parse(None, format!("+{digits}")).ok()?;
    if !parsed.is_valid() {
        return None;
    }
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    let country = match parsed.country().id() {
        Some(id) => format!("{id:?}"),
        None => NON_GEOGRAPHIC.to_string(),
    };
    Some((e164, country))
}

/// True when `code` is an ISO 3166-1 alpha-2 country that libphonenumber knows.
pub fn is_known_country(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && code.parse::<phonenumber::country::Id>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_accepts_what_people_and_spreadsheets_type() {
        let cases = [
            ("+44 20 7123 4567", "+442071234567", "GB"),
            ("+44 (0)20 7123 4567", "+442071234567", "GB"),
            ("+44 020 7123 4567", "+442071234567", "GB"),
            ("442071234567", "+442071234567", "GB"),
            ("'+442071234567", "+442071234567", "GB"),
            ("'442071234567", "+442071234567", "GB"),
            ("00442071234567", "+442071234567", "GB"),
            ("+1 (425) 555-0100", "+14255550100", "US"),
            ("+1.425.555.0100", "+14255550100", "US"),
            ("+49 30 123456", "+4930123456", "DE"),
            ("+33 1 42 68 53 00", "+33142685300", "FR"),
            ("+61 2 9374 4000", "+61293744000", "AU"),
            ("+81 3-3224-9999", "+81332249999", "JP"),
            ("+91 22 2778 2222", "+912227782222", "IN"),
            ("+55 11 3065-2000", "+551130652000", "BR"),
            ("+14255550100;ext=123", "+14255550100;ext=123", "US"),
            ("+1 425 555 0100;EXT=77", "+14255550100;ext=77", "US"),
            ("+1 425 555 0100 ext. 9", "+14255550100;ext=9", "US"),
            ("+800 1234 5678", "+80012345678", "001"),
        ];
        for (input, want, country) in cases {
            let got = PhoneNumber::parse(input);
            if country.is_empty() {
                assert!(got.is_err(), "{input:?} should be refused, got {got:?}");
                continue;
            }
            let got = got.unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got.to_string(), want, "{input:?}");
            assert_eq!(got.country(), country, "{input:?}");
        }
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        let cases = [
            ("", PhoneError::Empty),
            ("  - ", PhoneError::Empty),
            ("+1234", PhoneError::Invalid("+1234".into())),
            ("abc", PhoneError::InvalidCharacter('a')),
            ("+44 20 7123 456a", PhoneError::InvalidCharacter('a')),
            ("=1+1", PhoneError::InvalidCharacter('=')),
            (
                "+4420712345678901234",
                PhoneError::Invalid("+4420712345678901234".into()),
            ),
            ("+14255550100;ext=", PhoneError::InvalidExtension("".into())),
            (
                "+14255550100;ext=12a",
                PhoneError::InvalidExtension("12a".into()),
            ),
            (
                "+14255550100;ext=1234567890123456",
                PhoneError::InvalidExtension("1234567890123456".into()),
            ),
            ("++442071234567", PhoneError::InvalidCharacter('+')),
        ];
        for (input, want) in cases {
            assert_eq!(PhoneNumber::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn extensions_are_distinct_numbers_sharing_a_base() {
        let a = PhoneNumber::parse("+14255550100").unwrap();
        let b = PhoneNumber::parse("+14255550100;ext=1").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.base(), b.base());
        assert_eq!(b.extension(), Some("1"));
    }

    #[test]
    fn country_codes_are_checked_against_the_metadata() {
        assert!(is_known_country("GB"));
        assert!(is_known_country("US"));
        assert!(!is_known_country("gb"));
        assert!(!is_known_country("XX"));
        assert!(!is_known_country("GBR"));
    }
}
