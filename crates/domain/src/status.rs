//! The closed vocabularies of a number: its status and how it is carried, and the
//! [`vocabulary!`] macro every closed vocabulary of the crate uses for its words.
//!
//! A vocabulary's word is its database text, its wire word and its OpenAPI enum value at
//! once: renaming a variant's word is a migration, not a refactoring. The doc comment of a
//! vocabulary enum is also its OpenAPI description. See SPEC §2 for the transitions
//! between the statuses.

use serde::{Deserialize, Serialize};

/// Where a number is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NumberStatus {
    /// Free to hand out.
    Available,
    /// Held for someone; assigning it needs an override.
    Reserved,
    /// In use by a user or a service.
    Assigned,
    /// Recently released; not to be reused until its quarantine ends.
    Quarantined,
}

/// How a number reaches Microsoft Teams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NumberType {
    /// The organisation's own SBC.
    DirectRouting,
    /// A Microsoft-certified operator.
    OperatorConnect,
    /// Microsoft as the carrier.
    CallingPlan,
}

/// A word outside a closed vocabulary; carries the accepted words for the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not one of {expected}")]
pub struct ParseEnumError {
    /// What was given.
    pub value: String,
    /// The accepted words, comma-separated.
    pub expected: &'static str,
}

/// Gives a closed vocabulary its words: `ALL`, `as_str`, a case-insensitive `FromStr` (and
/// `TryFrom<String>`, which the store's row types read through) and `Display`. The words must equal the serde `snake_case` names (a test checks each enum).
macro_rules! vocabulary {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable snake_case word used on the wire and in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $word),+ }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::status::ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // The exact word first: rows read back from the database take this path
                // without allocating.
                $(if s == $word {
                    return Ok($ty::$variant);
                })+
                match s.trim().to_ascii_lowercase().as_str() {
                    $($word => Ok($ty::$variant),)+
                    _ => Err($crate::status::ParseEnumError { value: s.to_string(), expected: concat!($($word, " "),+) }),
                }
            }
        }

        /// Compares with a word exactly as stored (no case folding).
        impl PartialEq<&str> for $ty {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::status::ParseEnumError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use vocabulary;

vocabulary!(NumberStatus {
    Available => "available",
    Reserved => "reserved",
    Assigned => "assigned",
    Quarantined => "quarantined",
});

vocabulary!(NumberType {
    DirectRouting => "direct_routing",
    OperatorConnect => "operator_connect",
    CallingPlan => "calling_plan",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in NumberStatus::ALL {
            assert_eq!(s.as_str().parse::<NumberStatus>(), Ok(*s));
        }
        for t in NumberType::ALL {
            assert_eq!(t.as_str().parse::<NumberType>(), Ok(*t));
        }
        assert_eq!(
            " Assigned ".parse::<NumberStatus>(),
            Ok(NumberStatus::Assigned)
        );
        assert!("free".parse::<NumberStatus>().is_err());
    }
}
