//! The public value types of the tenant: users, numbers, statistics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An Entra user (or, with `is_resource_account`, a Teams resource account) as a test sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SimUser {
    /// Object id; `None` when adding means "generate a GUID".
    pub id: Option<String>,
    /// The sign-in name, e.g. `alice@contoso.example`.
    pub user_principal_name: String,
    /// The display name.
    pub display_name: String,
    /// Given name (a default property of `/users`).
    pub given_name: Option<String>,
    /// Surname (a default property of `/users`).
    pub surname: Option<String>,
    /// Primary SMTP address.
    pub mail: Option<String>,
    /// Mobile phone (a default property of `/users`).
    pub mobile_phone: Option<String>,
    /// Business phones; Graph allows only one (contract §2.1).
    pub business_phones: Vec<String>,
    /// Department (returned only with `$select`).
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Office location.
    pub office_location: Option<String>,
    /// Preferred language (a default property of `/users`).
    pub preferred_language: Option<String>,
    /// ISO 3166 alpha-2 usage location (returned only with `$select`).
    pub usage_location: Option<String>,
    /// City (returned only with `$select`).
    pub city: Option<String>,
    /// Country (returned only with `$select`).
    pub country: Option<String>,
    /// Whether sign-in is allowed (returned only with `$select`); true by default.
    pub account_enabled: bool,
    /// A Teams resource account (auto attendant, call queue): numbers assigned to it are
    /// `voiceApplicationAssigned` (contract §5.1).
    pub is_resource_account: bool,
}

impl Default for SimUser {
    fn default() -> Self {
        SimUser {
            id: None,
            user_principal_name: String::new(),
            display_name: String::new(),
            given_name: None,
            surname: None,
            mail: None,
            mobile_phone: None,
            business_phones: Vec::new(),
            department: None,
            job_title: None,
            office_location: None,
            preferred_language: None,
            usage_location: None,
            city: None,
            country: None,
            // New accounts are enabled in Entra unless created disabled.
            account_enabled: true,
            is_resource_account: false,
        }
    }
}

/// A telephone number in the tenant's Teams inventory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SimNumber {
    /// E.164 with or without '+' (stored with '+', as Graph displays it, contract §5.1).
    pub telephone_number: String,
    /// `directRouting`, `callingPlan` or `operatorConnect`.
    pub number_type: String,
    /// e.g. `userAssignment`, `voiceApplicationAssignment`, `conferenceAssignment`.
    pub capabilities: Vec<String>,
    /// e.g. `US`.
    pub iso_country_code: Option<String>,
    /// e.g. `Clanton`.
    pub city: Option<String>,
    /// Object id of the user or resource account holding the number.
    pub assignment_target_id: Option<String>,
    /// Emergency location id.
    pub location_id: Option<String>,
    /// `primary`, `private` or `alternate`; `None` while unassigned.
    pub assignment_category: Option<String>,
    /// Network site id (set through updateNumber).
    pub network_site_id: Option<String>,
    /// e.g. `["skipInternalVoip"]`.
    pub reverse_number_lookup_options: Vec<String>,
    /// Operator id; `None` means the simulator's fixed id for the number type.
    pub operator_id: Option<String>,
}

impl Default for SimNumber {
    fn default() -> Self {
        SimNumber {
            telephone_number: String::new(),
            number_type: "directRouting".to_owned(),
            // The capabilities of the contract's own example (§5.1), so a default number
            // can be given to users and resource accounts alike.
            capabilities: vec![
                "conferenceAssignment".to_owned(),
                "voiceApplicationAssignment".to_owned(),
                "userAssignment".to_owned(),
            ],
            iso_country_code: None,
            city: None,
            assignment_target_id: None,
            location_id: None,
            assignment_category: None,
            network_site_id: None,
            reverse_number_lookup_options: Vec::new(),
            operator_id: None,
        }
    }
}

/// What the simulator has seen and done, for assertions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimStats {
    /// Requests by "METHOD /route-template", e.g. "GET /users/delta" (version prefix dropped).
    pub requests: BTreeMap<String, u64>,
    /// Responses by HTTP status (Graph and token endpoint, not the admin API).
    pub responses: BTreeMap<u16, u64>,
    /// 429s sent, injected or for a retry that came too early.
    pub throttled: u64,
    /// Requests sent by a token (or, at the token endpoint, a client id) before the
    /// `Retry-After` it was given had elapsed.
    pub retry_after_violations: u64,
    /// assignNumber requests that reached the handler (not those answered by a fault).
    pub assign_calls: u64,
    /// unassignNumber requests that reached the handler.
    pub unassign_calls: u64,
    /// updateNumber requests that reached the handler.
    pub update_calls: u64,
    /// Long-running operations created.
    pub operations_started: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
}

impl SimStats {
    /// Requests counted for `method` and a route template such as "/users/delta".
    pub fn requests_to(&self, method: &str, route: &str) -> u64 {
        self.requests
            .get(&format!("{method} {route}"))
            .copied()
            .unwrap_or(0)
    }

    /// Responses counted with `status`.
    pub fn responses_with(&self, status: u16) -> u64 {
        self.responses.get(&status).copied().unwrap_or(0)
    }
}

/// Serde for a `Duration` as whole milliseconds, the unit of the admin API.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
