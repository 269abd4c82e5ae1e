//! The closed vocabularies of the API, for the OpenAPI document only.
//!
//! The wire types keep these fields as strings (the server parses and checks them, and a
//! bad word is a 400 naming the field); these enums give the spec — and the clients
//! generated from it — the exact words each field takes.

use utoipa::ToSchema;

/// Where a number is in its lifecycle.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum NumberStatus {
    Available,
    Reserved,
    Assigned,
    Quarantined,
}

/// How a number reaches Microsoft Teams.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum NumberType {
    DirectRouting,
    OperatorConnect,
    CallingPlan,
}

/// An admin's or token's role, weakest first.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
    Owner,
}

/// What a number is assigned to.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum TargetKind {
    User,
    Service,
}

/// What a service is.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ServiceKind {
    AutoAttendant,
    CallQueue,
    ResourceAccount,
    SipTrunk,
    ContactCentre,
    Fax,
    ConferenceBridge,
    Other,
}

/// Where a change came from.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Source {
    Ui,
    Api,
    Import,
    Rule,
    Sync,
    Scheduler,
    Cli,
}

/// Who made a change.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ActorKind {
    Admin,
    Token,
    System,
}

/// Who is calling (`GET /api/v1/me`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CallerKind {
    Admin,
    Token,
}

/// How far provisioning an assignment on its platform has got.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ProvisioningState {
    NotRequired,
    Pending,
    Provisioned,
    Failed,
}

/// What made an import plan.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PlanKind {
    Import,
    Revert,
}

/// Where an import plan is.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum PlanStatus {
    Planning,
    Planned,
    Applied,
    Failed,
    Expired,
}

/// One step of a plan row.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ChangeOp {
    Create,
    Delete,
    Update,
    Assign,
    Reassign,
    Unassign,
    Reserve,
    Release,
    Quarantine,
}
