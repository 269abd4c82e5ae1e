//! The audit trail's picture of a number: what the `before` and `after` of every
//! `number.*` audit record hold, and what a revert restores.
//!
//! Audit records are kept forever, so this format is a contract with every record already
//! written. One type writes it ([`NumberSnapshot::to_json`], [`NumberSnapshot::to_text`])
//! and the same type reads it back ([`NumberSnapshot::from_json`]); nothing else may
//! read a number record by key name. Renaming, removing or retyping a field is a new
//! format: bump [`FORMAT`], write `"format": N` into new records, and make `from_json`
//! migrate the older ones. The golden test at the bottom fails on any change that does
//! not.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{NumberStatus, NumberType, ProvisioningState, Target, TargetKind};

/// The format new records are written in. Format 1 (the first) writes no `format` key.
pub const FORMAT: u32 = 1;

/// A number's whole state at one moment, as an audit record keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberSnapshot {
    /// Canonical E.164, with `;ext=` when it has an extension.
    pub number: String,
    /// The base number without extension.
    pub base: String,
    /// The extension digits, if any.
    pub extension: Option<String>,
    /// ISO country derived from the number.
    pub country: String,
    /// Its status.
    pub status: NumberStatus,
    /// Its range's id.
    pub range_id: Option<i64>,
    /// Its location's id.
    pub location_id: Option<i64>,
    /// Its platform's id.
    pub platform_id: Option<i64>,
    /// How it is carried.
    pub number_type: Option<NumberType>,
    /// Free text.
    pub description: String,
    /// Tag names as entered, sorted by key.
    pub tags: Vec<String>,
    /// Its version after the change.
    pub version: i64,
    /// When it was added.
    #[serde(with = "utc")]
    pub created_at: NaiveDateTime,
    /// When it last changed.
    #[serde(with = "utc")]
    pub updated_at: NaiveDateTime,
    /// Set while reserved.
    pub reservation: Option<Reservation>,
    /// Set while quarantined.
    pub quarantine: Option<Quarantine>,
    /// Set while assigned.
    pub assignment: Option<Assignment>,
    /// The reason given with the status change that led to this state (after-states of
    /// transitions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why and for whom a number is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    /// Why it is held.
    pub reason: String,
    /// Who or what it is held for (free text).
    pub reserved_for: Option<String>,
    /// Who reserved it.
    pub reserved_by: String,
    /// When the scheduler releases it.
    #[serde(with = "utc_opt")]
    pub expires_at: Option<NaiveDateTime>,
}

/// A number resting after use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    /// Since when.
    #[serde(with = "utc")]
    pub since: NaiveDateTime,
    /// Until when; the scheduler releases it then.
    #[serde(with = "utc")]
    pub until: NaiveDateTime,
    /// Why.
    pub reason: Option<String>,
    /// Who had it before, for a number that was assigned.
    pub previous_assignee: Option<Target>,
}

/// Who or what a number is assigned to, and how far provisioning it has got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// A user or a service.
    pub kind: TargetKind,
    /// The directory user's or service's id.
    pub id: String,
    /// UPN or service name when assigned.
    pub name: String,
    /// When.
    #[serde(with = "utc")]
    pub assigned_at: NaiveDateTime,
    /// By whom.
    pub assigned_by: String,
    /// How far provisioning on the number's platform has got.
    pub provisioning_state: ProvisioningState,
    /// The last provisioning error.
    pub provisioning_error: Option<String>,
}

impl Assignment {
    /// The assignee without the assignment's bookkeeping.
    pub fn target(&self) -> Target {
        Target {
            kind: self.kind,
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// Why an audit record's number snapshot cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not JSON, or not the shape of its format.
    #[error("the audit record's number snapshot cannot be read: {0}")]
    Unreadable(String),
    /// Written by a newer release than this one.
    #[error("the audit record's number snapshot has format {0}, newer than this release reads")]
    UnknownFormat(u64),
}

impl NumberSnapshot {
    /// The snapshot as a JSON value, for an audit record.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The snapshot as JSON text, for audit records written in bulk.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a snapshot of any format this release knows.
    pub fn from_json(text: &str) -> Result<NumberSnapshot, SnapshotError> {
        let mut value: Value =
            serde_json::from_str(text).map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
        let format = match value.as_object_mut().and_then(|m| m.remove("format")) {
            None => 1,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| SnapshotError::Unreadable("format is not a number".into()))?,
        };
        match format {
            1 => {
                serde_json::from_value(value).map_err(|e| SnapshotError::Unreadable(e.to_string()))
            }
            other => Err(SnapshotError::UnknownFormat(other)),
        }
    }
}

/// RFC 3339 in UTC with microseconds and `Z`: how the API shows instants, so a record's
/// times read exactly as the number's did on the wire.
mod utc {
    use chrono::{DateTime, NaiveDateTime, SecondsFormat};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.naive_utc())
            .map_err(D::Error::custom)
    }
}

/// [`utc`] for optional instants.
mod utc_opt {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::utc::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::utc")] NaiveDateTime);
        Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;

    fn at(h: u32, micros: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, 1)
            .and_then(|d| d.and_hms_micro_opt(h, 0, 0, micros))
            .expect("a valid instant")
    }

    /// Every field set, so a renamed optional field cannot hide behind `None`.
    fn full() -> NumberSnapshot {
        NumberSnapshot {
            number: "+442071230001;ext=12".into(),
            base: "+442071230001".into(),
            extension: Some("12".into()),
            country: "GB".into(),
            status: NumberStatus::Quarantined,
            range_id: Some(3),
            location_id: Some(7),
            platform_id: Some(2),
            number_type: Some(NumberType::DirectRouting),
            description: "Reception".into(),
            tags: vec!["London".into(), "sales".into()],
            version: 9,
            created_at: at(8, 0),
            updated_at: at(9, 120_000),
            reservation: Some(Reservation {
                reason: "VIP".into(),
                reserved_for: Some("CEO office".into()),
                reserved_by: "alice".into(),
                expires_at: Some(at(10, 5)),
            }),
            quarantine: Some(Quarantine {
                since: at(11, 0),
                until: at(12, 0),
                reason: Some("left".into()),
                previous_assignee: Some(Target {
                    kind: TargetKind::User,
                    id: "u-1".into(),
                    name: "jo@contoso.example".into(),
                }),
            }),
            assignment: Some(Assignment {
                kind: TargetKind::Service,
                id: "4".into(),
                name: "Main IVR".into(),
                assigned_at: at(13, 0),
                assigned_by: "bob".into(),
                provisioning_state: ProvisioningState::Failed,
                provisioning_error: Some("timeout".into()),
            }),
            reason: Some("moved desk".into()),
        }
    }

    /// Format 1 as the first release wrote it (`serde_json::to_string` of the store's
    /// number; records written through a JSON value have their keys sorted, which no
    /// reader minds). Never edit this string: records like it are in every database.
    const FORMAT_1: &str = concat!(
        r#"{"number":"+442071230001;ext=12","base":"+442071230001","extension":"12","#,
        r#""country":"GB","status":"quarantined","range_id":3,"location_id":7,"platform_id":2,"#,
        r#""number_type":"direct_routing","description":"Reception","tags":["London","sales"],"#,
        r#""version":9,"created_at":"2026-03-01T08:00:00.000000Z","#,
        r#""updated_at":"2026-03-01T09:00:00.120000Z","#,
        r#""reservation":{"reason":"VIP","reserved_for":"CEO office","reserved_by":"alice","#,
        r#""expires_at":"2026-03-01T10:00:00.000005Z"},"#,
        r#""quarantine":{"since":"2026-03-01T11:00:00.000000Z","#,
        r#""until":"2026-03-01T12:00:00.000000Z","reason":"left","#,
        r#""previous_assignee":{"kind":"user","id":"u-1","name":"jo@contoso.example"}},"#,
        r#""assignment":{"kind":"service","id":"4","name":"Main IVR","#,
        r#""assigned_at":"2026-03-01T13:00:00.000000Z","assigned_by":"bob","#,
        r#""provisioning_state":"failed","provisioning_error":"timeout"},"#,
        r#""reason":"moved desk"}"#
    );

    #[test]
    fn records_of_the_first_format_read_back_field_for_field() {
        assert_eq!(NumberSnapshot::from_json(FORMAT_1), Ok(full()));
    }

    #[test]
    fn the_current_format_writes_what_the_first_release_wrote() {
        // Fails when a field is renamed, retyped or reordered without a new FORMAT and a
        // migration in `from_json`.
        assert_eq!(FORMAT, 1);
        assert_eq!(full().to_text(), FORMAT_1);
        assert_eq!(
            full().to_json(),
            serde_json::from_str::<Value>(FORMAT_1).expect("golden JSON")
        );
    }

    #[test]
    fn a_bare_available_number_reads_with_nulls_and_without_a_reason() {
        let text = r#"{"number":"+15550100","base":"+15550100","extension":null,"country":"US","status":"available","range_id":null,"location_id":null,"platform_id":null,"number_type":null,"description":"","tags":[],"version":1,"created_at":"2026-03-01T08:00:00.000000Z","updated_at":"2026-03-01T08:00:00.000000Z","reservation":null,"quarantine":null,"assignment":null}"#;
        let s = NumberSnapshot::from_json(text).expect("reads");
        assert_eq!(s.status, NumberStatus::Available);
        assert_eq!(s.reason, None);
        assert_eq!(s.to_text(), text);
    }

    #[test]
    fn unknown_fields_newer_formats_and_garbage_are_errors_not_guesses() {
        let renamed = FORMAT_1.replace("\"location_id\"", "\"site_id\"");
        assert!(matches!(
            NumberSnapshot::from_json(&renamed),
            Err(SnapshotError::Unreadable(_))
        ));
        let newer = FORMAT_1.replacen('{', r#"{"format":2,"#, 1);
        assert_eq!(
            NumberSnapshot::from_json(&newer),
            Err(SnapshotError::UnknownFormat(2))
        );
        let explicit = FORMAT_1.replacen('{', r#"{"format":1,"#, 1);
        assert_eq!(NumberSnapshot::from_json(&explicit), Ok(full()));
        assert!(NumberSnapshot::from_json("not json").is_err());
        assert!(NumberSnapshot::from_json("[1,2]").is_err());
    }
}
