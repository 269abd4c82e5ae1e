//! Row types shared by several modules. `dialect` returns a `NumberRow` and `numbers`
//! imports `dialect`, so the row cannot live in `numbers`: store modules must not form a
//! circle (`scripts/store-modules.sh` checks it).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::numbers;

/// A row of `numbers` as stored; [`crate::numbers::Number`] is what the rest of the store works with.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = numbers)]
pub(crate) struct NumberRow {
    pub(crate) id: i64,
    pub(crate) e164: String,
    pub(crate) base: String,
    pub(crate) extension: Option<String>,
    pub(crate) country: String,
    pub(crate) status: String,
    pub(crate) range_id: Option<i64>,
    pub(crate) location_id: Option<i64>,
    pub(crate) platform_id: Option<i64>,
    pub(crate) number_type: Option<String>,
    pub(crate) description: String,
    pub(crate) version: i64,
    pub(crate) created_at: NaiveDateTime,
    pub(crate) updated_at: NaiveDateTime,
    pub(crate) reserved_reason: Option<String>,
    pub(crate) reserved_for: Option<String>,
    pub(crate) reserved_by: Option<String>,
    pub(crate) reserved_until: Option<NaiveDateTime>,
    pub(crate) quarantine_since: Option<NaiveDateTime>,
    pub(crate) quarantine_until: Option<NaiveDateTime>,
    pub(crate) quarantine_reason: Option<String>,
    pub(crate) previous_assignee: Option<String>,
    pub(crate) assigned_kind: Option<String>,
    pub(crate) assigned_id: Option<String>,
    pub(crate) assigned_name: Option<String>,
    pub(crate) assigned_at: Option<NaiveDateTime>,
    pub(crate) assigned_by: Option<String>,
    pub(crate) provisioning_state: Option<String>,
    pub(crate) provisioning_error: Option<String>,
}
