//! Who may do what, to which numbers.
//!
//! Every write in the store takes a [`Permit`], and the only ordinary way to get one is
//! [`Permit::authorize`]. Scope filtering of individual objects happens in the store's
//! queries, using the permit's [`Scope`]: an out-of-scope object is treated as absent.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::status::{ParseEnumError, vocabulary};

/// An admin's or token's role, weakest first.
// Each level includes everything below it: the derived order is the grant order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Reads what is in scope.
    Viewer,
    /// Also assigns, unassigns, reserves, releases and edits number details within scope.
    Operator,
    /// Also ranges, numbers, locations, services, imports, rules, platforms, and overrides.
    Admin,
    /// Also admin accounts, API tokens and settings; never scoped.
    Owner,
}

/// A kind of operation, each with the least role that may perform it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read anything in scope.
    Read,
    /// Day-to-day number operations.
    Operate,
    /// Structural changes to the estate.
    Manage,
    /// Bypass a reservation or a quarantine.
    Override,
    /// Govern the installation: accounts, tokens, settings.
    Govern,
}

impl Action {
    /// The least role allowed to perform this action.
    pub fn least_role(self) -> Role {
        match self {
            Action::Read => Role::Viewer,
            Action::Operate => Role::Operator,
            Action::Manage | Action::Override => Role::Admin,
            Action::Govern => Role::Owner,
        }
    }
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: &'static [Role] = &[Role::Viewer, Role::Operator, Role::Admin, Role::Owner];

    /// The wire and database word.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// True when this role may perform `action` (scope aside).
    pub fn may(self, action: Action) -> bool {
        self >= action.least_role()
    }
}

impl FromStr for Role {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
            .ok_or(ParseEnumError {
                value: s.to_string(),
                expected: "viewer operator admin owner",
            })
    }
}

impl TryFrom<String> for Role {
    type Error = ParseEnumError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of the estate a grant covers. An empty list leaves that dimension open; when
/// both are set, an object must satisfy both (its location is listed AND it carries a listed tag).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Location ids the grant covers; empty means every location.
    pub locations: Vec<String>,
    /// Tag keys (lower case) the grant covers; empty means any tags.
    pub tags: Vec<String>,
}

impl Scope {
    /// A scope that covers everything.
    pub fn unrestricted() -> Self {
        Scope::default()
    }

    /// True when neither dimension is restricted.
    pub fn is_unrestricted(&self) -> bool {
        self.locations.is_empty() && self.tags.is_empty()
    }

    /// True when an object with this location and these tag keys lies inside the scope.
    pub fn admits(&self, location_id: Option<&str>, tag_keys: &[&str]) -> bool {
        let location_ok = self.locations.is_empty()
            || location_id.is_some_and(|l| self.locations.iter().any(|s| s == l));
        let tags_ok =
            self.tags.is_empty() || tag_keys.iter().any(|t| self.tags.iter().any(|s| s == t));
        location_ok && tags_ok
    }
}

/// Who made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ActorKind {
    /// A person logged in with an admin account.
    Admin,
    /// An integration using an API token.
    Token,
    /// Telestate itself (first start, scheduler, CLI on the database).
    System,
}

vocabulary!(ActorKind {
    Admin => "admin",
    Token => "token",
    System => "system",
});

/// Who is calling (`GET /api/v1/me`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CallerKind {
    /// A person logged in with an admin account.
    Admin,
    /// An integration using an API token.
    Token,
}

vocabulary!(CallerKind {
    Admin => "admin",
    Token => "token",
});

/// Who made a change, as the audit trail records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Admin account, token or system.
    pub kind: ActorKind,
    /// The account's or token's id; `system` for Telestate itself.
    pub id: String,
    /// A name a person recognises: username, token name, or the system component.
    pub name: String,
}

/// Where a change came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Source {
    /// The web app.
    Ui,
    /// The REST API.
    Api,
    /// A CSV import.
    Import,
    /// An automation rule.
    Rule,
    /// The directory sync.
    Sync,
    /// A scheduled job.
    Scheduler,
    /// The command line, acting on the database directly.
    Cli,
}

vocabulary!(Source {
    Ui => "ui",
    Api => "api",
    Import => "import",
    Rule => "rule",
    Sync => "sync",
    Scheduler => "scheduler",
    Cli => "cli",
});

/// An authenticated caller: who it is, its role and its scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Who, for the audit trail.
    pub actor: Actor,
    /// The grant's level.
    pub role: Role,
    /// The grant's reach; ignored for owners.
    pub scope: Scope,
}

impl Principal {
    /// The scope that applies: owners are never scoped.
    pub fn effective_scope(&self) -> Scope {
        if self.role == Role::Owner {
            Scope::unrestricted()
        } else {
            self.scope.clone()
        }
    }
}

/// A refusal: the caller's role is below what the action needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {role} role may not do this; it needs {needed} or above")]
pub struct Denied {
    /// The caller's role.
    pub role: Role,
    /// The least role the action needs.
    pub needed: Role,
}

/// Proof that a caller was authorized for an action; carries what the audit trail needs.
#[derive(Clone, Debug)]
pub struct Permit {
    actor: Actor,
    role: Role,
    scope: Scope,
    source: Source,
    request_id: Option<String>,
    change_set_id: Option<String>,
}

impl Permit {
    /// Checks the principal's role against the action and mints a permit.
    pub fn authorize(
        principal: &Principal,
        action: Action,
        source: Source,
        request_id: Option<String>,
    ) -> Result<Permit, Denied> {
        if !principal.role.may(action) {
            return Err(Denied {
                role: principal.role,
                needed: action.least_role(),
            });
        }
        Ok(Permit {
            actor: principal.actor.clone(),
            role: principal.role,
            scope: principal.effective_scope(),
            source,
            request_id,
            change_set_id: None,
        })
    }

    /// A permit for Telestate itself (first start, CLI, scheduler): owner-level and unscoped.
    pub fn system(component: &str, source: Source) -> Permit {
        Permit {
            actor: Actor {
                kind: ActorKind::System,
                id: "system".into(),
                name: component.into(),
            },
            role: Role::Owner,
            scope: Scope::unrestricted(),
            source,
            request_id: None,
            change_set_id: None,
        }
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The acting role (for override decisions inside a write).
    pub fn role(&self) -> Role {
        self.role
    }

    /// The reach of the permit.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The channel, for the audit trail.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The request that carried the change, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The same permit, with every change it records grouped under change set `id` (an
    /// import, a bulk action, a revert), so the group can be listed and reverted.
    pub fn with_change_set(mut self, id: impl Into<String>) -> Permit {
        self.change_set_id = Some(id.into());
        self
    }

    /// The same permit with another source (an import applied through the API is `import`).
    pub fn with_source(mut self, source: Source) -> Permit {
        self.source = source;
        self
    }

    /// The change set the permit's changes belong to, if any.
    pub fn change_set_id(&self) -> Option<&str> {
        self.change_set_id.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        let table = [
            (Role::Viewer, [true, false, false, false, false]),
            (Role::Operator, [true, true, false, false, false]),
            (Role::Admin, [true, true, true, true, false]),
            (Role::Owner, [true, true, true, true, true]),
        ];
        let actions = [
            Action::Read,
            Action::Operate,
            Action::Manage,
            Action::Override,
            Action::Govern,
        ];
        for (role, allowed) in table {
            for (action, want) in actions.iter().zip(allowed) {
                assert_eq!(role.may(*action), want, "{role} {action:?}");
            }
        }
    }

    #[test]
    fn scopes_need_every_restricted_dimension() {
        let s = Scope {
            locations: vec!["1".into()],
            tags: vec!["sales".into()],
        };
        assert!(s.admits(Some("1"), &["sales", "x"]));
        assert!(!s.admits(Some("1"), &["x"]));
        assert!(!s.admits(Some("2"), &["sales"]));
        assert!(!s.admits(None, &["sales"]));
        let loc_only = Scope {
            locations: vec!["1".into()],
            tags: vec![],
        };
        assert!(loc_only.admits(Some("1"), &[]));
        assert!(Scope::unrestricted().admits(None, &[]));
    }

    #[test]
    fn owners_are_never_scoped() {
        let p = Principal {
            actor: Actor {
                kind: ActorKind::Admin,
                id: "1".into(),
                name: "o".into(),
            },
            role: Role::Owner,
            scope: Scope {
                locations: vec!["1".into()],
                tags: vec![],
            },
        };
        let permit = Permit::authorize(&p, Action::Govern, Source::Api, None).unwrap();
        assert!(permit.scope().is_unrestricted());
        let viewer = Principal {
            role: Role::Viewer,
            ..p
        };
        assert_eq!(
            Permit::authorize(&viewer, Action::Operate, Source::Api, None).unwrap_err(),
            Denied {
                role: Role::Viewer,
                needed: Role::Operator
            }
        );
    }
}
