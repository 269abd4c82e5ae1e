//! SPEC §2's status table as data, and the one decision every transition goes through.
//!
//! The store turns a decision into a conditional `UPDATE … WHERE status IN (from)` and
//! checks the affected-row count, so no race can slip between this check and the write.
//! When the update touches nothing, the store re-reads the number and asks [`decide`]
//! again to explain the refusal.

use crate::status::NumberStatus::{self, *};

/// A change of a number's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// available → reserved.
    Reserve,
    /// available (reserved, quarantined with override) → assigned; assigned → assigned
    /// (a reassign, only when asked for: an assign never takes a number from its holder).
    Assign,
    /// assigned → quarantined (or available with override).
    Unassign,
    /// available → quarantined.
    Quarantine,
    /// reserved / quarantined → available.
    Release,
}

impl Transition {
    /// The audit verb.
    pub fn verb(self) -> &'static str {
        match self {
            Transition::Reserve => "reserve",
            Transition::Assign => "assign",
            Transition::Unassign => "unassign",
            Transition::Quarantine => "quarantine",
            Transition::Release => "release",
        }
    }
}

/// What the caller asked to bypass, and whether its role may.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `override_reservation`: assign a reserved number.
    pub reservation: bool,
    /// `override_quarantine`: assign a quarantined number, release a quarantine early, or
    /// unassign straight to available.
    pub quarantine: bool,
    /// The caller's role holds the override permission (admin and above).
    pub permitted: bool,
    /// `reassign: true`: move an assigned number to another target. Without it, assigning
    /// a held number is refused, so two callers racing for one free number never overwrite
    /// each other. It needs no extra permission: it only says the caller means it.
    pub reassign: bool,
}

/// Why a transition is refused; the store adds the current state and dates to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 409: the number is reserved (assign with `override_reservation` as admin).
    Reserved,
    /// 409: the number is still quarantined (assign with `override_quarantine` as admin).
    Quarantined,
    /// 409: the number is assigned; unassign it first (or, to assign it to someone else,
    /// ask for a reassign).
    Assigned,
    /// 409: the action needs an assigned number.
    NotAssigned,
    /// 409: the action needs an available number.
    NotAvailable,
    /// 409: only a reserved or quarantined number can be released.
    NotHeld,
    /// 403: the override was asked for by a role without the permission.
    OverrideForbidden,
}

impl Refusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Reserved => "number_reserved",
            Refusal::Quarantined => "number_quarantined",
            Refusal::Assigned => "number_assigned",
            Refusal::NotAssigned => "number_not_assigned",
            Refusal::NotAvailable => "number_not_available",
            Refusal::NotHeld => "number_not_held",
            Refusal::OverrideForbidden => "override_forbidden",
        }
    }
}

/// The statuses from which `t` may start given the overrides, or the refusal for `current`.
///
/// `quarantine_over` says whether the number's quarantine has already ended (an expired
/// quarantine the scheduler has not yet released does not need an override).
pub fn decide(
    t: Transition,
    current: NumberStatus,
    o: Overrides,
    quarantine_over: bool,
) -> Result<(), Refusal> {
    // Releasing a running quarantine is the override itself: admins may, others learn
    // when it ends.
    if (t, current) == (Transition::Release, Quarantined) && !quarantine_over {
        return if o.permitted {
            Ok(())
        } else {
            Err(Refusal::Quarantined)
        };
    }
    let wants_override = match (t, current) {
        (Transition::Assign, Reserved) => Some(o.reservation),
        (Transition::Assign, Quarantined) if !quarantine_over => Some(o.quarantine),
        _ => None,
    };
    if let Some(asked) = wants_override {
        if !asked {
            return Err(match current {
                Reserved => Refusal::Reserved,
                _ => Refusal::Quarantined,
            });
        }
        if !o.permitted {
            return Err(Refusal::OverrideForbidden);
        }
        return Ok(());
    }
    match (t, current) {
        (Transition::Reserve, Available) | (Transition::Quarantine, Available) => Ok(()),
        (Transition::Reserve | Transition::Quarantine, Reserved) => Err(Refusal::Reserved),
        (Transition::Reserve | Transition::Quarantine, Quarantined) => Err(Refusal::Quarantined),
        (Transition::Reserve | Transition::Quarantine, Assigned) => Err(Refusal::Assigned),
        (Transition::Assign, Assigned) if !o.reassign => Err(Refusal::Assigned),
        (Transition::Assign, Available | Assigned | Quarantined) => Ok(()),
        (Transition::Assign, Reserved) => Ok(()),
        (Transition::Unassign, Assigned) => {
            if o.quarantine && !o.permitted {
                Err(Refusal::OverrideForbidden)
            } else {
                Ok(())
            }
        }
        (Transition::Unassign, _) => Err(Refusal::NotAssigned),
        (Transition::Release, Reserved | Quarantined) => Ok(()),
        (Transition::Release, _) => Err(Refusal::NotHeld),
    }
}

/// The statuses a transition's conditional update accepts, given the overrides in force.
pub fn from_statuses(t: Transition, o: Overrides) -> Vec<NumberStatus> {
    NumberStatus::ALL
        .iter()
        .copied()
        .filter(|s| decide(t, *s, o, false).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: Overrides = Overrides {
        reservation: false,
        quarantine: false,
        permitted: false,
        reassign: false,
    };
    const OPERATOR_ASKS: Overrides = Overrides {
        reservation: true,
        quarantine: true,
        permitted: false,
        reassign: true,
    };
    const ADMIN_ASKS: Overrides = Overrides {
        reservation: true,
        quarantine: true,
        permitted: true,
        reassign: true,
    };
    const REASSIGN: Overrides = Overrides {
        reassign: true,
        ..NONE
    };

    #[test]
    fn every_from_to_pair_of_the_status_table() {
        use Refusal as R;
        use Transition as T;
        // (transition, from, overrides, expected)
        let table: &[(T, NumberStatus, Overrides, Result<(), R>)] = &[
            (T::Reserve, Available, NONE, Ok(())),
            (T::Reserve, Reserved, NONE, Err(R::Reserved)),
            (T::Reserve, Assigned, NONE, Err(R::Assigned)),
            (T::Reserve, Quarantined, NONE, Err(R::Quarantined)),
            (T::Assign, Available, NONE, Ok(())),
            (T::Assign, Assigned, NONE, Err(R::Assigned)),
            (T::Assign, Assigned, REASSIGN, Ok(())),
            (T::Assign, Available, REASSIGN, Ok(())),
            (T::Assign, Reserved, NONE, Err(R::Reserved)),
            (
                T::Assign,
                Reserved,
                OPERATOR_ASKS,
                Err(R::OverrideForbidden),
            ),
            (T::Assign, Reserved, ADMIN_ASKS, Ok(())),
            (T::Assign, Quarantined, NONE, Err(R::Quarantined)),
            (
                T::Assign,
                Quarantined,
                OPERATOR_ASKS,
                Err(R::OverrideForbidden),
            ),
            (T::Assign, Quarantined, ADMIN_ASKS, Ok(())),
            (T::Unassign, Assigned, NONE, Ok(())),
            (
                T::Unassign,
                Assigned,
                OPERATOR_ASKS,
                Err(R::OverrideForbidden),
            ),
            (T::Unassign, Assigned, ADMIN_ASKS, Ok(())),
            (T::Unassign, Available, NONE, Err(R::NotAssigned)),
            (T::Unassign, Reserved, NONE, Err(R::NotAssigned)),
            (T::Unassign, Quarantined, NONE, Err(R::NotAssigned)),
            (T::Quarantine, Available, NONE, Ok(())),
            (T::Quarantine, Assigned, NONE, Err(R::Assigned)),
            (T::Quarantine, Reserved, NONE, Err(R::Reserved)),
            (T::Quarantine, Quarantined, NONE, Err(R::Quarantined)),
            (T::Release, Reserved, NONE, Ok(())),
            (T::Release, Quarantined, NONE, Err(R::Quarantined)),
            (T::Release, Quarantined, OPERATOR_ASKS, Err(R::Quarantined)),
            (T::Release, Quarantined, ADMIN_ASKS, Ok(())),
            (T::Release, Available, NONE, Err(R::NotHeld)),
            (T::Release, Assigned, NONE, Err(R::NotHeld)),
        ];
        for (t, from, o, want) in table {
            assert_eq!(
                decide(*t, *from, *o, false),
                *want,
                "{t:?} from {from:?} with {o:?}"
            );
        }
    }

    #[test]
    fn an_ended_quarantine_needs_no_override() {
        assert_eq!(decide(Transition::Assign, Quarantined, NONE, true), Ok(()));
        assert_eq!(decide(Transition::Release, Quarantined, NONE, true), Ok(()));
    }

    #[test]
    fn conditional_updates_accept_exactly_the_allowed_statuses() {
        assert_eq!(from_statuses(Transition::Assign, NONE), [Available]);
        assert_eq!(
            from_statuses(Transition::Assign, REASSIGN),
            [Available, Assigned]
        );
        assert_eq!(
            from_statuses(Transition::Assign, ADMIN_ASKS),
            [Available, Reserved, Assigned, Quarantined]
        );
        assert_eq!(from_statuses(Transition::Release, NONE), [Reserved]);
        assert_eq!(from_statuses(Transition::Unassign, NONE), [Assigned]);
    }
}
