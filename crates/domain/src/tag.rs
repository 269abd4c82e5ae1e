//! Tags: free labels, shown as entered, matched without regard to case.
//!
//! Every tag list that comes from outside (a number's, a range's, a filter's, an
//! allocation pool's, an import cell's, a scope's) goes through [`Tag::parse_set`], which
//! refuses more than [`MAX_TAGS`] distinct tags: its work and the SQL it leads to (one bound
//! value per tag) stay small whatever a request holds.

use std::{collections::HashSet, fmt};

/// Longest tag accepted, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// Most distinct tags in one list (a number's, a range's, a filter, a pool).
pub const MAX_TAGS: usize = 50;

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
    /// More than [`MAX_TAGS`] distinct tags in one list.
    #[error("at most {limit} different tags are allowed")]
    TooMany {
        /// The limit, [`MAX_TAGS`].
        limit: usize,
    },
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

    /// Parses a list from outside and drops duplicates (by key), keeping the first
    /// spelling; more than [`MAX_TAGS`] distinct tags are refused.
    pub fn parse_set<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<Tag>, TagError> {
        Tag::parse_up_to(inputs, MAX_TAGS)
    }

    /// Like [`Tag::parse_set`] without the count limit, for tag sets the store already
    /// holds (an audit snapshot, a stored plan): a number may carry its range's tags and
    /// its own, more than one request may send.
    pub fn parse_stored_set<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<Tag>, TagError> {
        Tag::parse_up_to(inputs, usize::MAX)
    }

    /// Linear in the list's length: keys seen are kept in a set, and reading stops at the
    /// first tag over `limit`.
    fn parse_up_to<S: AsRef<str>>(inputs: &[S], limit: usize) -> Result<Vec<Tag>, TagError> {
        let room = inputs.len().min(limit.saturating_add(1));
        let mut out: Vec<Tag> = Vec::with_capacity(room);
        let mut seen: HashSet<String> = HashSet::with_capacity(room);
        for input in inputs {
            let tag = Tag::parse(input.as_ref())?;
            if seen.contains(&tag.key) {
                continue;
            }
            if out.len() == limit {
                return Err(TagError::TooMany { limit });
            }
            seen.insert(tag.key.clone());
            out.push(tag);
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
    fn a_set_of_more_than_the_limit_is_refused_and_duplicates_in_any_case_are_dropped() {
        let at_limit: Vec<String> = (0..MAX_TAGS).map(|i| format!("T{i}")).collect();
        assert_eq!(Tag::parse_set(&at_limit).unwrap().len(), MAX_TAGS);
        let over: Vec<String> = (0..=MAX_TAGS).map(|i| format!("T{i}")).collect();
        assert_eq!(
            Tag::parse_set(&over),
            Err(TagError::TooMany { limit: MAX_TAGS })
        );
        assert!(
            Tag::parse_set(&over)
                .unwrap_err()
                .to_string()
                .contains("at most 50")
        );
        // 40,000 distinct tags are refused at the 51st, not compared with each other.
        let many: Vec<String> = (0..40_000).map(|i| format!("tag {i}")).collect();
        assert_eq!(
            Tag::parse_set(&many),
            Err(TagError::TooMany { limit: MAX_TAGS })
        );
        // Duplicates, in any case, count once: the first spelling stays.
        let mut repeated: Vec<String> = at_limit.clone();
        repeated.extend(at_limit.iter().map(|t| t.to_lowercase()));
        repeated.push("t0".into());
        let set = Tag::parse_set(&repeated).unwrap();
        assert_eq!(set.len(), MAX_TAGS);
        assert_eq!(set[0].name(), "T0");
        let keys: std::collections::HashSet<&str> = set.iter().map(Tag::key).collect();
        assert_eq!(keys.len(), MAX_TAGS, "no key twice");
        // Sets the store holds already are read whatever their size.
        assert_eq!(Tag::parse_stored_set(&many).unwrap().len(), 40_000);
        // A bad tag is still named, before or after the limit.
        assert_eq!(Tag::parse_set(&["ok", " "]), Err(TagError::Empty));
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
