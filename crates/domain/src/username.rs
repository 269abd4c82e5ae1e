//! Login names: what other owners read in account lists and the audit trail must be
//! what the account is called.
//!
//! A username may hold any visible character, but none that is invisible or rearranges
//! the text around it: with a right-to-left override (U+202E) `admin\u{202E}nimda` reads
//! differently from what it is, and with a zero-width space (U+200B) `admin\u{200B}` passes
//! for `admin`. So control characters (Unicode category Cc), formatting characters (Cf,
//! which holds every bidirectional control and the zero-width characters), separators
//! other than the plain space, and the invisible fillers and selectors outside Cf are
//! refused. Leading and trailing whitespace is trimmed, as before.

/// The longest username, in characters.
pub const MAX_CHARS: usize = 100;

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_CHARS`].
    #[error("must be at most {} characters", MAX_CHARS)]
    TooLong,
    /// Holds an invisible, control or text-direction character.
    #[error("must not contain invisible, control or text-direction characters (found U+{0:04X})")]
    Hidden(u32),
}

/// The format characters (Unicode 15.1, general category Cf), as inclusive ranges.
const FORMAT: [(char, char); 21] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Characters outside Cf that render as nothing: the combining grapheme joiner, Hangul
/// and Khmer fillers, variation selectors, the braille blank, and private-use code points
/// (which no font shows the same way).
const INVISIBLE: [(char, char); 14] = [
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180D}'),
    ('\u{180F}', '\u{180F}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{E000}', '\u{F8FF}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFFE}', '\u{FFFF}'),
    ('\u{E0100}', '\u{E01EF}'),
    ('\u{F0000}', '\u{FFFFD}'),
    ('\u{100000}', '\u{10FFFD}'),
];

/// True for a character a username may not hold: a control (Cc), format (Cf) or
/// separator character other than the plain space, or an invisible filler or selector.
pub fn is_hidden(c: char) -> bool {
    let within = |ranges: &[(char, char)]| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
    c.is_control() || (c.is_whitespace() && c != ' ') || within(&FORMAT) || within(&INVISIBLE)
}

/// Checks a username and returns it trimmed.
pub fn check(raw: &str) -> Result<&str, UsernameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(UsernameError::Empty);
    }
    if name.chars().count() > MAX_CHARS {
        return Err(UsernameError::TooLong);
    }
    match name.chars().find(|&c| is_hidden(c)) {
        Some(c) => Err(UsernameError::Hidden(c.into())),
        None => Ok(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_names_in_any_script_are_accepted_and_trimmed() {
        for (raw, name) in [
            ("alice", "alice"),
            ("  bob  ", "bob"),
            ("jo.smith@contoso.example", "jo.smith@contoso.example"),
            ("Zoë Müller", "Zoë Müller"),
            ("محمد", "محمد"),
            ("שרה", "שרה"),
            ("山田 太郎", "山田 太郎"),
            ("किरण", "किरण"),
            ("ops 🙂", "ops 🙂"),
        ] {
            assert_eq!(check(raw), Ok(name), "{raw:?}");
        }
        assert_eq!(check(&"a".repeat(MAX_CHARS)).map(str::len), Ok(MAX_CHARS));
    }

    #[test]
    fn invisible_control_and_direction_characters_are_refused_wherever_they_are() {
        let hidden = [
            '\u{0000}',
            '\u{0007}',
            '\u{001B}',
            '\u{007F}',
            '\u{0085}', // Cc
            '\u{00AD}',
            '\u{061C}',
            '\u{180E}', // Cf: soft hyphen, Arabic letter mark
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}', // zero-width, marks
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}', // embeddings, overrides
            '\u{2060}',
            '\u{2064}', // word joiner, invisible plus
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}', // isolates
            '\u{206F}',
            '\u{FEFF}',
            '\u{FFF9}',
            '\u{E0001}',
            '\u{E0041}', // BOM, tags
            '\u{00A0}',
            '\u{2007}',
            '\u{2028}',
            '\u{2029}',
            '\u{3000}', // separators
            '\u{034F}',
            '\u{115F}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{2800}',
            '\u{E000}',
            '\u{E0100}',
            '\u{10FFFD}',
            '\u{FFFF}',
        ];
        for c in hidden {
            // Whitespace at either end is trimmed like any other, so only inside it counts.
            let places = if c.is_whitespace() {
                vec![format!("ad{c}min")]
            } else {
                vec![
                    format!("admin{c}"),
                    format!("ad{c}min"),
                    format!("{c}admin"),
                ]
            };
            for raw in places {
                assert_eq!(
                    check(&raw),
                    Err(UsernameError::Hidden(c.into())),
                    "U+{:04X} in {raw:?}",
                    u32::from(c)
                );
            }
        }
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        assert_eq!(check(""), Err(UsernameError::Empty));
        assert_eq!(check(" \t "), Err(UsernameError::Empty));
        assert_eq!(
            check(&"é".repeat(MAX_CHARS + 1)),
            Err(UsernameError::TooLong)
        );
    }

    #[test]
    fn the_refusal_names_the_character() {
        assert_eq!(
            check("admin\u{202E}nimda").unwrap_err().to_string(),
            "must not contain invisible, control or text-direction characters (found U+202E)"
        );
    }
}
