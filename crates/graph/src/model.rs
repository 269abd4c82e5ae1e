//! The Graph objects the client returns and sends, and the tolerant parsing of the shapes the
//! documentation shows for them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::GraphError;

/// One page of a delta round: its changes and, on the round's last page, the link to
/// start the next round from.
#[derive(Clone, Debug, PartialEq)]
pub struct DeltaPage<T> {
    /// The page's changes, in the order Graph sent them (one per group for groups).
    pub changes: Vec<T>,
    /// The `@odata.deltaLink` to store and pass back verbatim next time; only on the last
    /// page, so a caller that stores it after applying that page has applied the round.
    pub delta_link: Option<String>,
}

/// An Entra user with the fields the inventory keeps.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The object id (GUID).
    pub id: String,
    /// The sign-in name; personal data, never to be logged.
    pub user_principal_name: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// The primary SMTP address.
    pub mail: Option<String>,
    /// The department.
    pub department: Option<String>,
    /// The job title.
    pub job_title: Option<String>,
    /// The office location.
    pub office_location: Option<String>,
    /// The ISO 3166 alpha-2 usage location (licensing country).
    pub usage_location: Option<String>,
    /// The city.
    pub city: Option<String>,
    /// The country.
    pub country: Option<String>,
    /// Whether the account can sign in.
    pub account_enabled: Option<bool>,
}

/// One user change from `/users/delta`.
// Unboxed on purpose: the worker matches on `Upsert(User)` directly, and a page's changes
// are a Vec read once, so the size difference costs nothing worth an indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserChange {
    /// The user was created, restored or changed; all selected fields are current.
    Upsert(User),
    /// The user was deleted: `permanent` for reason "deleted", soft-deleted (restorable) for "changed".
    Removed {
        /// The user's object id.
        id: String,
        /// True for a permanent delete, false for a soft delete.
        permanent: bool,
    },
}

/// An Entra group with the fields the inventory keeps.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The object id (GUID).
    pub id: String,
    /// The display name.
    pub display_name: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The group's mail address.
    pub mail: Option<String>,
}

/// One group change from a page of `/groups/delta` (a group's sightings on one page merged).
///
/// A large group's membership arrives in chunks, the group repeated on later pages; each
/// chunk is a delta of its own, so applying the chunks as they come gives the round's
/// membership change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChange {
    /// The group was created or changed (all its selected fields are current), with user
    /// members added and removed.
    Upsert {
        /// The group's current fields.
        group: Group,
        /// User ids that became members.
        members_added: Vec<String>,
        /// User ids that stopped being members (or were deleted).
        members_removed: Vec<String>,
    },
    /// Membership changes of a group sighted without any of its fields, as Graph repeats a
    /// large group with further member chunks; its fields are unknown, not cleared.
    Members {
        /// The group's object id.
        id: String,
        /// User ids that became members.
        members_added: Vec<String>,
        /// User ids that stopped being members (or were deleted).
        members_removed: Vec<String>,
    },
    /// The group was deleted: `permanent` for reason "deleted", soft-deleted for "changed".
    Removed {
        /// The group's object id.
        id: String,
        /// True for a permanent delete, false for a soft delete.
        permanent: bool,
    },
}

/// The kind of a Teams telephone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumberType {
    /// A number routed through the tenant's own SBCs.
    DirectRouting,
    /// A Microsoft Calling Plan number.
    CallingPlan,
    /// A number from an Operator Connect carrier.
    OperatorConnect,
}

impl NumberType {
    /// The camelCase wire value, e.g. `directRouting`.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::DirectRouting => "directRouting",
            NumberType::CallingPlan => "callingPlan",
            NumberType::OperatorConnect => "operatorConnect",
        }
    }

    /// Parses a wire value in any case (the docs show both `directRouting` and `DirectRouting`).
    pub fn parse(s: &str) -> Option<NumberType> {
        [
            NumberType::DirectRouting,
            NumberType::CallingPlan,
            NumberType::OperatorConnect,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::str::FromStr for NumberType {
    type Err = GraphError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NumberType::parse(s).ok_or_else(|| GraphError::Decode(format!("unknown numberType {s:?}")))
    }
}

impl Serialize for NumberType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NumberType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        NumberType::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown numberType {s:?}")))
    }
}

/// A Teams telephone number and what it is assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberAssignment {
    /// Graph's opaque key for the number.
    pub id: String,
    /// The number, always with a leading '+'.
    pub telephone_number: String,
    /// The number's kind; `None` for `internalError` and values this client does not know.
    #[serde(default, deserialize_with = "lenient_number_type")]
    pub number_type: Option<NumberType>,
    /// e.g. `activated`, `assignmentPending`.
    #[serde(default)]
    pub activation_state: Option<String>,
    /// The user or resource account object id the number is assigned to.
    #[serde(default)]
    pub assignment_target_id: Option<String>,
    /// e.g. `unassigned`, `userAssigned`, `voiceApplicationAssigned`.
    #[serde(default)]
    pub assignment_status: Option<String>,
    /// e.g. `primary`, `private`, `alternate`.
    #[serde(default)]
    pub assignment_category: Option<String>,
    /// The emergency (LIS) location id.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The number's country, e.g. `US`.
    #[serde(default)]
    pub iso_country_code: Option<String>,
    /// What the number may be assigned to, e.g. `userAssignment`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub capabilities: Vec<String>,
}

fn lenient_number_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NumberType>, D::Error> {
    // internalError and unknownFutureValue are documented values that are not a usable type.
    Ok(Option::<String>::deserialize(d)?.and_then(|s| NumberType::parse(&s)))
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// The body of the `assignNumber` action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignNumber {
    /// The number, with or without '+'.
    pub telephone_number: String,
    /// The user or resource account object id.
    pub assignment_target_id: String,
    /// The number's kind.
    pub number_type: NumberType,
    /// `primary` (Graph's default), `private` or `alternate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_category: Option<String>,
    /// The emergency (LIS) location id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
}

/// The body of the `updateNumber` action; `None` keeps a field, `Some("")` clears it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateNumber {
    /// The number to update.
    pub telephone_number: String,
    /// The emergency location id; `Some("")` clears it, `None` keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_id: Option<String>,
    /// The network site id; `Some("")` clears it, `None` keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_site_id: Option<String>,
    /// e.g. `["skipInternalVoip"]`; `None` keeps the current options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse_number_lookup_options: Option<Vec<String>>,
}

/// The body of the `unassignNumber` action.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnassignNumber<'a> {
    pub telephone_number: &'a str,
    pub number_type: NumberType,
}

/// Where a long-running number operation can be polled: the absolute URL from the Location header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperationLocation(pub String);

impl OperationLocation {
    /// The operation id, from either documented form: `operations('ID')` or `operations/ID`.
    pub fn id(&self) -> Option<String> {
        let path = self.0.split(['?', '#']).next().unwrap_or_default();
        let (_, rest) = path.rsplit_once("operations")?;
        let id = if let Some(keyed) = rest.strip_prefix('(') {
            let keyed = keyed.strip_suffix(')')?;
            keyed.trim_matches(|c| c == '\'' || c == '"')
        } else {
            rest.strip_prefix('/')?.trim_end_matches('/')
        };
        (!id.is_empty() && !id.contains('/')).then(|| id.to_owned())
    }
}

/// A long-running number operation (`telephoneNumberLongRunningOperation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The operation id.
    pub id: String,
    /// The operation's overall status.
    pub status: OperationStatus,
    /// The per-number outcome.
    pub numbers: Vec<OperationNumber>,
}

impl Operation {
    /// The first statusDetail of a failed number, for the job's error text.
    pub fn failure_detail(&self) -> Option<String> {
        self.numbers
            .iter()
            .filter(|n| n.status == OperationStatus::Failed)
            .find_map(|n| n.status_detail.clone())
    }
}

/// The status of an operation or of one number in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationStatus {
    /// Queued.
    NotStarted,
    /// In progress.
    Running,
    /// Done and applied.
    Succeeded,
    /// Done and not applied; see `statusDetail`.
    Failed,
    /// Done without doing anything (v1.0 only).
    Skipped,
    /// A value this client does not know (e.g. `unknownFutureValue`), kept verbatim.
    Unknown(String),
}

impl OperationStatus {
    /// Parses a wire value in any case.
    pub fn parse(s: &str) -> OperationStatus {
        match s.to_ascii_lowercase().as_str() {
            "notstarted" => OperationStatus::NotStarted,
            "running" => OperationStatus::Running,
            "succeeded" => OperationStatus::Succeeded,
            "failed" => OperationStatus::Failed,
            "skipped" => OperationStatus::Skipped,
            _ => OperationStatus::Unknown(s.to_owned()),
        }
    }

    /// Whether the operation will not change any more (succeeded, failed or skipped).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            OperationStatus::Succeeded | OperationStatus::Failed | OperationStatus::Skipped
        )
    }
}

impl<'de> Deserialize<'de> for OperationStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .map(|s| OperationStatus::parse(&s))
            .unwrap_or(OperationStatus::Unknown(String::new())))
    }
}

/// The outcome for one number in an operation.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationNumber {
    /// The URL of the number assignment the operation touched.
    #[serde(default)]
    pub resource_location: Option<String>,
    /// This number's status.
    #[serde(default = "unknown_status")]
    pub status: OperationStatus,
    /// Why it failed, in Graph's words.
    #[serde(default)]
    pub status_detail: Option<String>,
}

fn unknown_status() -> OperationStatus {
    OperationStatus::Unknown(String::new())
}

#[derive(Deserialize)]
struct OperationWire {
    id: String,
    #[serde(default = "unknown_status")]
    status: OperationStatus,
    #[serde(default, deserialize_with = "null_as_empty_numbers")]
    numbers: Vec<OperationNumber>,
}

fn null_as_empty_numbers<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<OperationNumber>, D::Error> {
    Ok(Option::<Vec<OperationNumber>>::deserialize(d)?.unwrap_or_default())
}

/// Parses one entity that Graph may return at the top level or, as the docs' examples show,
/// wrapped in `{"value": {…}}`. Both shapes are accepted here and nowhere else.
pub(crate) fn parse_entity<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, GraphError> {
    let mut value: Value = parse_json(body, what)?;
    if let Value::Object(map) = &mut value
        && !map.contains_key("id")
        && map.get("value").is_some_and(Value::is_object)
    {
        value = map.remove("value").unwrap_or(Value::Null);
    }
    serde_json::from_value(value).map_err(|e| GraphError::Decode(format!("{what}: {e}")))
}

/// Parses a Graph operation in either shape.
pub(crate) fn parse_operation(body: &[u8]) -> Result<Operation, GraphError> {
    let wire: OperationWire = parse_entity(body, "operation")?;
    Ok(Operation {
        id: wire.id,
        status: wire.status,
        numbers: wire.numbers,
    })
}

/// The items of a collection page: the standard `"value": [ … ]`, or the docs' example shape
/// `"value": { … }` (one object). Both shapes are accepted here and nowhere else.
pub(crate) fn collection_items(value: Option<Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(items)) => items,
        Some(item @ Value::Object(_)) => vec![item],
        _ => Vec::new(),
    }
}

/// Parses a JSON body, naming what it was meant to be on failure (never echoing the body,
/// which may hold personal data).
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, GraphError> {
    serde_json::from_slice(body).map_err(|e| GraphError::Decode(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_types_parse_in_any_case_and_serialize_camel_case() {
        assert_eq!(
            NumberType::parse("DirectRouting"),
            Some(NumberType::DirectRouting)
        );
        assert_eq!(
            NumberType::parse("callingplan"),
            Some(NumberType::CallingPlan)
        );
        assert_eq!(NumberType::parse("internalError"), None);
        assert_eq!(
            serde_json::to_string(&NumberType::OperatorConnect)
                .ok()
                .as_deref(),
            Some("\"operatorConnect\"")
        );
    }

    #[test]
    fn the_documented_number_assignment_parses_with_unknown_fields_ignored() {
        let body = br##"{"@odata.type":"#microsoft.graph.teamsAdministration.numberAssignment","id":"YmMy","telephoneNumber":"+12023456788","operatorId":"7a20","numberType":"directRouting","activationState":"activated","capabilities":["conferenceAssignment","userAssignment"],"locationId":null,"civicAddressId":null,"networkSiteId":null,"assignmentTargetId":"22ed","assignmentCategory":"primary","portInStatus":null,"assignmentStatus":"userAssigned","isoCountryCode":null,"city":null,"numberSource":"online","supportedCustomerActions":["locationUpdate"],"reverseNumberLookupOptions":[]}"##;
        let number: NumberAssignment = parse_entity(body, "number").expect("parses");
        assert_eq!(number.telephone_number, "+12023456788");
        assert_eq!(number.number_type, Some(NumberType::DirectRouting));
        assert_eq!(number.capabilities.len(), 2);
        assert_eq!(number.location_id, None);
    }

    #[test]
    fn an_internal_error_number_type_is_none_not_a_decode_failure() {
        let body = br#"{"value":{"id":"a","telephoneNumber":"+1","numberType":"internalError","capabilities":null}}"#;
        let number: NumberAssignment = parse_entity(body, "number").expect("parses");
        assert_eq!(number.number_type, None);
        assert!(number.capabilities.is_empty());
    }

    #[test]
    fn an_operation_parses_wrapped_and_bare() {
        let bare = br#"{"id":"op","status":"failed","numbers":[{"resourceLocation":"x","status":"failed","statusDetail":"Telephone Number '+1' has already been assigned to another user"}]}"#;
        let wrapped = br#"{"value":{"id":"op","status":"failed","numbers":[{"resourceLocation":"x","status":"failed","statusDetail":"Telephone Number '+1' has already been assigned to another user"}]}}"#;
        let a = parse_operation(bare).expect("bare");
        assert_eq!(a, parse_operation(wrapped).expect("wrapped"));
        assert_eq!(
            a.failure_detail().as_deref(),
            Some("Telephone Number '+1' has already been assigned to another user")
        );
    }

    #[test]
    fn unknown_operation_statuses_are_kept_and_not_finished() {
        assert_eq!(
            OperationStatus::parse("Succeeded"),
            OperationStatus::Succeeded
        );
        let future = OperationStatus::parse("unknownFutureValue");
        assert_eq!(
            future,
            OperationStatus::Unknown("unknownFutureValue".into())
        );
        assert!(!future.is_finished());
        assert!(OperationStatus::Skipped.is_finished());
    }

    #[test]
    fn operation_ids_come_out_of_both_location_forms() {
        let keyed = OperationLocation(
            "https://graph.microsoft.com/v1.0/admin/teams/telephoneNumberManagement/operations('QXNz')".into(),
        );
        let slashed = OperationLocation(
            "https://graph.microsoft.com/v1.0/admin/teams/telephoneNumberManagement/operations/QXNz".into(),
        );
        assert_eq!(keyed.id().as_deref(), Some("QXNz"));
        assert_eq!(slashed.id().as_deref(), Some("QXNz"));
        assert_eq!(OperationLocation("https://x/operations".into()).id(), None);
    }

    #[test]
    fn update_number_skips_kept_fields_and_sends_empty_to_clear() {
        let update = UpdateNumber {
            telephone_number: "+12061234567".into(),
            location_id: Some(String::new()),
            network_site_id: None,
            reverse_number_lookup_options: None,
        };
        assert_eq!(
            serde_json::to_string(&update).ok().as_deref(),
            Some(r#"{"telephoneNumber":"+12061234567","locationId":""}"#)
        );
    }

    #[test]
    fn a_collection_value_may_be_an_array_or_a_single_object() {
        assert_eq!(collection_items(Some(serde_json::json!([1, 2]))).len(), 2);
        assert_eq!(
            collection_items(Some(serde_json::json!({"id": "a"}))).len(),
            1
        );
        assert!(collection_items(None).is_empty());
    }
}
