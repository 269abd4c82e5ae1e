//! Blocks of consecutive numbers, as created by a range.

use crate::phone::PhoneNumber;

/// A checked block of consecutive numbers: same country, same length, `start ≤ end`, no
/// extensions, and at most the configured size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberBlock {
    start: PhoneNumber,
    end: PhoneNumber,
    first: u64,
    len: u64,
}

/// Why a start/end pair is not a block; `field` names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Ranges hold plain numbers; extensions are added one by one.
    #[error("range bounds must not carry an extension")]
    Extension,
    /// Start and end are in different countries.
    #[error("start is in {start} but end is in {end}; a range stays in one country")]
    CountryMismatch { start: String, end: String },
    /// Start and end have different digit counts.
    #[error("start and end must have the same number of digits")]
    LengthMismatch,
    /// End comes before start.
    #[error("end must not be lower than start")]
    Reversed,
    /// More numbers than the configured maximum.
    #[error("the range holds {len} numbers; at most {max} are allowed")]
    TooLarge { len: u64, max: u64 },
}

impl NumberBlock {
    /// Checks a block from its bounds against the maximum size.
    pub fn new(start: PhoneNumber, end: PhoneNumber, max_len: u64) -> Result<Self, RangeError> {
        if start.extension().is_some() || end.extension().is_some() {
            return Err(RangeError::Extension);
        }
        if start.country() != end.country() {
            return Err(RangeError::CountryMismatch {
                start: start.country().into(),
                end: end.country().into(),
            });
        }
        if start.digits().len() != end.digits().len() {
            return Err(RangeError::LengthMismatch);
        }
        // At most 15 digits, so both fit in a u64.
        let first: u64 = start
            .digits()
            .parse()
            .map_err(|_| RangeError::LengthMismatch)?;
        let last: u64 = end
            .digits()
            .parse()
            .map_err(|_| RangeError::LengthMismatch)?;
        if last < first {
            return Err(RangeError::Reversed);
        }
        let len = last - first + 1;
        if len > max_len {
            return Err(RangeError::TooLarge { len, max: max_len });
        }
        Ok(NumberBlock {
            start,
            end,
            first,
            len,
        })
    }

    /// The lowest number.
    pub fn start(&self) -> &PhoneNumber {
        &self.start
    }

    /// The highest number.
    pub fn end(&self) -> &PhoneNumber {
        &self.end
    }

    /// How many numbers the block holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a block holds at least its start.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The start's digits as an integer, for generating the block in SQL.
    pub fn first_value(&self) -> u64 {
        self.first
    }

    /// The country all numbers of the block share.
    pub fn country(&self) -> &str {
        self.start.country()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    #[test]
    fn blocks_check_their_bounds() {
        let ok = NumberBlock::new(n("+442070000000"), n("+442070000999"), 1_000_000).unwrap();
        assert_eq!(ok.len(), 1000);
        assert_eq!(ok.first_value(), 442070000000);
        let cases = [
            (
                n("+442070000000"),
                n("+14255550100"),
                10,
                RangeError::CountryMismatch {
                    start: "GB".into(),
                    end: "US".into(),
                },
            ),
            (
                n("+442070000999"),
                n("+442070000000"),
                10_000,
                RangeError::Reversed,
            ),
            (
                n("+442070000000"),
                n("+442070000999"),
                999,
                RangeError::TooLarge {
                    len: 1000,
                    max: 999,
                },
            ),
            (
                n("+14255550100;ext=1"),
                n("+14255550199"),
                100,
                RangeError::Extension,
            ),
            (
                n("+4930123456"),
                n("+49301234567"),
                10_000_000,
                RangeError::LengthMismatch,
            ),
        ];
        for (start, end, max, want) in cases {
            assert_eq!(NumberBlock::new(start, end, max), Err(want));
        }
    }
}
