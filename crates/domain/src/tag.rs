//! Tags: free labels, shown as entered, matched without regard to case.

use std::fmt;

/// Longest tag accepted, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// A label on numbers and ranges: trimmed, 1–64 characters, no control characters.
///
/// Two tags are the same tag when their [`Tag::key`]s are equal (case-insensitive).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tag {
    name: String,
    key: String,
}

/// Why a string cannot be a tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Blank after trimming.
    #[error("tags must not be empty")]
    Empty,
    /// Over [`MAX_TAG_CHARS`] characters.
    #[error("tag '{0}…' is longer than 64 characters")]
    TooLong(String),
    /// Holds a control character or a `;` (the CSV list separator).
    #[error("tag '{0}' contains a control character or ';'")]
    InvalidCharacter(String),
}

impl Tag {
    /// Trims and checks one label.
    pub fn parse(input: &str) -> Result<Self, TagError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(TagError::Empty);
        }
        if name.chars().count() > MAX_TAG_CHARS {
            return Err(TagError::TooLong(name.chars().take(20).collect()));
        }
        if name.chars().any(|c| c.is_control() || c == ';') {
            return Err(TagError::InvalidCharacter(name.to_string()));
        }
        Ok(Tag {
            name: name.to_string(),
            key: name.to_lowercase(),
        })
    }

    /// Parses a list and drops duplicates (by key), keeping the first spelling.
    pub fn parse_set<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<Tag>, TagError> {
        let mut out: Vec<Tag> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let tag = Tag::parse(input.as_ref())?;
            if !out.iter().any(|t| t.key == tag.key) {
                out.push(tag);
            }
        }
        Ok(out)
    }

    /// The label as entered (trimmed).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching key: the label in lower case.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_and_matched_without_case() {
        let t = Tag::parse("  Sales London ").unwrap();
        assert_eq!(t.name(), "Sales London");
        assert_eq!(t.key(), "sales london");
        let set = Tag::parse_set(&["VIP", "vip", "Sales"]).unwrap();
        assert_eq!(
            set.iter().map(Tag::name).collect::<Vec<_>>(),
            ["VIP", "Sales"]
        );
    }

    #[test]
    fn bad_tags_are_refused() {
        assert_eq!(Tag::parse("   "), Err(TagError::Empty));
        assert!(matches!(
            Tag::parse(&"x".repeat(65)),
            Err(TagError::TooLong(_))
        ));
        assert!(Tag::parse(&"é".repeat(64)).is_ok());
        assert!(matches!(
            Tag::parse("a;b"),
            Err(TagError::InvalidCharacter(_))
        ));
        assert!(matches!(
            Tag::parse("a\nb"),
            Err(TagError::InvalidCharacter(_))
        ));
    }
}
