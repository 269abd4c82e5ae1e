//! Telestate's pure domain model.
//!
//! Nothing in this crate does IO, reads the clock or draws randomness: callers pass `now`
//! and ids in. That keeps every rule testable as a table and lets the web app (compiled to
//! WebAssembly) validate input with exactly the code the server uses.

pub mod authz;
pub mod csv_import;
pub mod csv_row;
pub mod import_plan;
pub mod lifecycle;
pub mod phone;
pub mod range;
pub mod rules;
pub mod snapshot;
pub mod status;
pub mod tag;
pub mod username;
pub mod vocab;

pub use authz::{
    Action, Actor, ActorKind, CallerKind, Denied, Permit, Principal, Role, Scope, Source,
};
pub use lifecycle::{Overrides, Refusal, Transition};
pub use phone::{PhoneError, PhoneNumber};
pub use range::{NumberBlock, RangeError};
pub use status::{NumberStatus, NumberType, ParseEnumError};
pub use tag::{MAX_TAGS, Tag, TagError};
pub use vocab::{
    ChangeOp, PlanKind, PlanStatus, PlatformKind, ProvisioningState, ServiceKind, Target,
    TargetKind,
};
