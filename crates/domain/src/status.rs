//! The closed vocabularies of a number: its status and how it is carried.

use std::{fmt, str::FromStr};

/// Where a number is in its life; see SPEC §2 for the transitions between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// How a Teams number is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

        impl FromStr for $ty {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($word => Ok($ty::$variant),)+
                    _ => Err(ParseEnumError { value: s.to_string(), expected: concat!($($word, " "),+) }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

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
