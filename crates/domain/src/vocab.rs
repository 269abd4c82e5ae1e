//! The closed vocabularies of assignments, services and import plans.
//!
//! Each word here is stored as text in the database and sent as-is on the wire; the
//! store rejects a row whose text is not one of them rather than guessing.

use serde::{Deserialize, Serialize};

use crate::status::vocabulary;

/// What a number is assigned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TargetKind {
    /// A person synced from the directory.
    User,
    /// A service (auto attendant, call queue, …).
    Service,
}

vocabulary!(TargetKind {
    User => "user",
    Service => "service",
});

// The one `{kind, id, name}` record: the store assigns to it, import plans and audit
// snapshots name assignees with it, and the wire shows it as `AssignedTarget`.
/// A user or service a number is, was or will be assigned to (the API's one target shape).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AssignedTarget))]
pub struct Target {
    /// `user` or `service`.
    pub kind: TargetKind,
    /// Directory user id or service id.
    pub id: String,
    /// UPN or service name.
    pub name: String,
}

/// What a service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ServiceKind {
    /// A Teams auto attendant.
    AutoAttendant,
    /// A Teams call queue.
    CallQueue,
    /// A Teams resource account.
    ResourceAccount,
    /// A SIP trunk.
    SipTrunk,
    /// A contact centre.
    ContactCentre,
    /// A fax line.
    Fax,
    /// A conference bridge.
    ConferenceBridge,
    /// Anything else.
    Other,
}

vocabulary!(ServiceKind {
    AutoAttendant => "auto_attendant",
    CallQueue => "call_queue",
    ResourceAccount => "resource_account",
    SipTrunk => "sip_trunk",
    ContactCentre => "contact_centre",
    Fax => "fax",
    ConferenceBridge => "conference_bridge",
    Other => "other",
});

/// How far provisioning an assignment on its platform has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProvisioningState {
    /// The number's platform needs no provisioning.
    NotRequired,
    /// A job will push the assignment to the platform.
    Pending,
    /// The platform carries the assignment.
    Provisioned,
    /// The last attempt failed; the assignment carries the error.
    Failed,
}

vocabulary!(ProvisioningState {
    NotRequired => "not_required",
    Pending => "pending",
    Provisioned => "provisioned",
    Failed => "failed",
});

/// What a platform is: where its numbers are provisioned, if anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlatformKind {
    /// A Microsoft Teams tenant, reached through Microsoft Graph.
    Teams,
    /// A URL that receives a signed JSON event for every assignment change.
    Webhook,
    /// Inventory only: nothing is provisioned.
    None,
}

vocabulary!(PlatformKind {
    Teams => "teams",
    Webhook => "webhook",
    None => "none",
});

/// What made an import plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlanKind {
    /// A CSV file.
    Import,
    /// The undoing of a change set.
    Revert,
}

vocabulary!(PlanKind {
    Import => "import",
    Revert => "revert",
});

/// Where an import plan is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlanStatus {
    /// Being made: its rows so far can be read, it cannot be applied yet.
    Planning,
    /// Made, and may be applied until it expires.
    Planned,
    /// Applied.
    Applied,
    /// Refused at apply time as stale.
    Failed,
    /// Too old to apply.
    Expired,
}

vocabulary!(PlanStatus {
    Planning => "planning",
    Planned => "planned",
    Applied => "applied",
    Failed => "failed",
    Expired => "expired",
});

/// One step of a plan row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChangeOp {
    /// Add the number.
    Create,
    /// Remove the number.
    Delete,
    /// Set one of its fields.
    Update,
    /// Assign it.
    Assign,
    /// Move it to another assignee.
    Reassign,
    /// Take it back from its assignee.
    Unassign,
    /// Hold it.
    Reserve,
    /// Free a held or quarantined number.
    Release,
    /// Rest it before reuse.
    Quarantine,
}

vocabulary!(ChangeOp {
    Create => "create",
    Delete => "delete",
    Update => "update",
    Assign => "assign",
    Reassign => "reassign",
    Unassign => "unassign",
    Reserve => "reserve",
    Release => "release",
    Quarantine => "quarantine",
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActorKind, CallerKind, NumberStatus, NumberType, Role, Source, rules};

    /// Checks that every word parses back and equals the serde name, for one vocabulary.
    fn words_agree<T>(all: &[T], word: fn(&T) -> &'static str)
    where
        T: Serialize
            + serde::de::DeserializeOwned
            + std::str::FromStr
            + PartialEq
            + std::fmt::Debug,
    {
        for v in all {
            let w = word(v);
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{w}\""));
            let back: T = serde_json::from_str(&format!("\"{w}\"")).unwrap();
            assert_eq!(&back, v);
            assert!(
                w.parse::<T>().ok().as_ref() == Some(v),
                "{w} does not parse"
            );
        }
    }

    #[test]
    fn every_vocabulary_word_is_its_serde_name_and_parses_back() {
        words_agree(NumberStatus::ALL, |v| v.as_str());
        words_agree(NumberType::ALL, |v| v.as_str());
        words_agree(Role::ALL, |v| v.as_str());
        words_agree(ActorKind::ALL, |v| v.as_str());
        words_agree(CallerKind::ALL, |v| v.as_str());
        words_agree(Source::ALL, |v| v.as_str());
        words_agree(TargetKind::ALL, |v| v.as_str());
        words_agree(ServiceKind::ALL, |v| v.as_str());
        words_agree(ProvisioningState::ALL, |v| v.as_str());
        words_agree(PlanKind::ALL, |v| v.as_str());
        words_agree(PlanStatus::ALL, |v| v.as_str());
        words_agree(ChangeOp::ALL, |v| v.as_str());
        words_agree(PlatformKind::ALL, |v| v.as_str());
        words_agree(rules::Attribute::ALL, |v| v.as_str());
        words_agree(rules::Op::ALL, |v| v.as_str());
        words_agree(rules::AssignmentCategory::ALL, |v| v.as_str());
        words_agree(rules::LeaverPolicy::ALL, |v| v.as_str());
        words_agree(rules::LeaveReason::ALL, |v| v.as_str());
        words_agree(rules::Idle::ALL, |v| v.as_str());
    }
}
