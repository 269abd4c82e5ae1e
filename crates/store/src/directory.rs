//! The directory synced from Microsoft Entra ID: users, groups and memberships, and the
//! resolution of assignment targets (users and services).
//!
//! Telestate never edits the directory on a person's behalf: it is written only by the
//! sync (and by tests and `telestate demo`), through the audited `upsert_*` functions here.
//! Writes are select-then-insert-or-update inside the caller's transaction, because
//! `MultiConnection` has no portable `ON CONFLICT … DO UPDATE`. Users and groups are
//! flagged `deleted`, never erased, so the numbers and history that name them keep a target.
//!
//! Directory objects have no location, so scope does not hide them; the numbers listed with
//! a user are still only those inside the reader's scope.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::{
    dsl::sql,
    prelude::*,
    sql_types::{Bool, Text},
};
use domain::{Permit, Scope, TargetKind};
use serde::Serialize;

use crate::{
    Conn, StoreError, StoreResult,
    audit::{self, Change},
    lifecycle::Target,
    numbers::lower,
    page::{self, Page},
    schema::{directory_groups, directory_users, group_members, services},
    scope::ScopeFilter,
};

/// Longest id, UPN or text field accepted from the sync.
pub(crate) const MAX_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = directory_users)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) upn: String,
    #[serde(skip)]
    pub(crate) upn_key: String,
    pub(crate) display_name: String,
    pub(crate) mail: Option<String>,
    pub(crate) department: Option<String>,
    pub(crate) job_title: Option<String>,
    pub(crate) office_location: Option<String>,
    pub(crate) usage_location: Option<String>,
    pub(crate) city: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) account_enabled: bool,
    pub(crate) deleted: bool,
    #[serde(skip)]
    pub(crate) last_synced_at: NaiveDateTime,
}

/// A user as the sync reports it, checked (lengths, required fields) and normalised.
pub(crate) type CheckedUser = UserRow;

/// Checks and normalises a user from the sync, as [`upsert_user`] would store it.
pub(crate) fn checked_user(
    input: DirectoryUserInput,
    now: NaiveDateTime,
) -> StoreResult<CheckedUser> {
    input.into_row(now)
}

/// A group's synced fields and `deleted` flag: display name, mail, description, deleted.
pub(crate) type GroupFields = (String, Option<String>, Option<String>, bool);

/// A stored group's synced fields and `deleted` flag, to tell whether an upsert changed it.
pub(crate) fn group_snapshot(conn: &mut Conn, id: &str) -> StoreResult<Option<GroupFields>> {
    Ok(group_row(conn, id)?.map(|g| (g.display_name, g.mail, g.description, g.deleted)))
}

/// A group a user belongs to, as listed with the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    /// The group's Entra object id.
    pub id: String,
    /// Its display name.
    pub display_name: String,
}

/// A person synced from Entra ID, with groups and the numbers assigned to them.
#[derive(Debug, Clone, Serialize)]
pub struct DirectoryUser {
    /// Entra object id.
    pub id: String,
    /// User principal name as Entra spells it.
    pub upn: String,
    /// Lower-case UPN: list order and lookup.
    #[serde(skip)]
    pub upn_key: String,
    /// Display name.
    pub display_name: String,
    /// Primary SMTP address.
    pub mail: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Office location.
    pub office_location: Option<String>,
    /// Usage location (ISO alpha-2; Teams licensing needs it).
    pub usage_location: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country, as Entra holds it (free text).
    pub country: Option<String>,
    /// Whether the account may sign in.
    pub account_enabled: bool,
    /// Deleted in Entra (kept here, flagged).
    pub deleted: bool,
    /// Groups it belongs to (deleted groups left out), by name.
    pub groups: Vec<GroupRef>,
    /// E.164 numbers assigned to it within the reader's scope, in order.
    pub numbers: Vec<String>,
    /// When the sync last wrote it.
    #[serde(serialize_with = "crate::utc::ser")]
    pub last_synced_at: NaiveDateTime,
}

impl DirectoryUser {
    fn from_row(r: UserRow, groups: Vec<GroupRef>, numbers: Vec<String>) -> DirectoryUser {
        DirectoryUser {
            id: r.id,
            upn: r.upn,
            upn_key: r.upn_key,
            display_name: r.display_name,
            mail: r.mail,
            department: r.department,
            job_title: r.job_title,
            office_location: r.office_location,
            usage_location: r.usage_location,
            city: r.city,
            country: r.country,
            account_enabled: r.account_enabled,
            deleted: r.deleted,
            groups,
            numbers,
            last_synced_at: r.last_synced_at,
        }
    }
}

/// A user as the sync reads it from Entra; [`upsert_user`] stores it.
#[derive(Debug, Clone, Default)]
pub struct DirectoryUserInput {
    /// Entra object id (the key).
    pub id: String,
    /// User principal name.
    pub upn: String,
    /// Display name (the UPN when empty).
    pub display_name: String,
    /// Primary SMTP address.
    pub mail: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Office location.
    pub office_location: Option<String>,
    /// Usage location.
    pub usage_location: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Whether the account may sign in.
    pub account_enabled: bool,
}

fn required(field: &str, value: &str) -> StoreResult<String> {
    let t = value.trim();
    if t.is_empty() || t.chars().count() > MAX_CHARS {
        return Err(StoreError::invalid(
            "invalid_field",
            field,
            format!("must be 1-{MAX_CHARS} characters"),
        ));
    }
    Ok(t.to_string())
}

fn optional(field: &str, value: Option<String>) -> StoreResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) => {
            let t = v.trim();
            if t.chars().count() > MAX_CHARS {
                return Err(StoreError::invalid(
                    "too_long",
                    field,
                    format!("must be at most {MAX_CHARS} characters"),
                ));
            }
            Ok((!t.is_empty()).then(|| t.to_string()))
        }
    }
}

impl DirectoryUserInput {
    fn into_row(self, now: NaiveDateTime) -> StoreResult<UserRow> {
        let id = required("id", &self.id)?;
        let upn = required("upn", &self.upn)?;
        let display_name = match optional("display_name", Some(self.display_name))? {
            Some(d) => d,
            None => upn.clone(),
        };
        Ok(UserRow {
            id,
            upn_key: upn.to_lowercase(),
            upn,
            display_name,
            mail: optional("mail", self.mail)?,
            department: optional("department", self.department)?,
            job_title: optional("job_title", self.job_title)?,
            office_location: optional("office_location", self.office_location)?,
            usage_location: optional("usage_location", self.usage_location)?
                .map(|u| u.to_ascii_uppercase()),
            city: optional("city", self.city)?,
            country: optional("country", self.country)?,
            account_enabled: self.account_enabled,
            deleted: false,
            last_synced_at: now,
        })
    }
}

/// A group synced from Entra ID.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = directory_groups)]
pub struct DirectoryGroup {
    /// Entra object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Group mail address.
    pub mail: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Deleted in Entra (kept here, flagged).
    pub deleted: bool,
    /// When the sync last wrote it.
    #[serde(skip)]
    #[serde(serialize_with = "crate::utc::ser")]
    pub last_synced_at: NaiveDateTime,
}

/// A group with how many (not deleted) users belong to it.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSummary {
    /// The group.
    #[serde(flatten)]
    pub group: DirectoryGroup,
    /// Members that are not deleted.
    pub member_count: i64,
}

/// A group as the sync reads it from Entra; [`upsert_group`] stores it.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    /// Entra object id (the key).
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Group mail address.
    pub mail: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// User list filters; each one narrows the result.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Text in the display name, UPN or mail (case-insensitive).
    pub q: Option<String>,
    /// Department (case-insensitive equality).
    pub department: Option<String>,
    /// Member of this group id.
    pub group: Option<String>,
    /// Office location or city (case-insensitive equality).
    pub location: Option<String>,
    /// Whether a number (within the reader's scope) is assigned to the user.
    pub has_number: Option<bool>,
    /// Include users deleted in Entra.
    pub include_deleted: bool,
}

/// The groups (not deleted) of each user among `ids`, by name then id.
fn groups_of(conn: &mut Conn, ids: &[String]) -> StoreResult<HashMap<String, Vec<GroupRef>>> {
    let mut out: HashMap<String, Vec<GroupRef>> = HashMap::new();
    for chunk in ids.chunks(1000) {
        // No join: the schema does not let these tables share a query in diesel's DSL.
        let rows: Vec<(String, String, String)> = group_members::table
            .filter(group_members::user_id.eq_any(chunk))
            .filter(sql::<Bool>(
                "EXISTS (SELECT 1 FROM directory_groups g WHERE g.id = group_members.group_id AND NOT g.deleted)",
            ))
            .select((
                group_members::user_id,
                group_members::group_id,
                sql::<Text>(
                    "(SELECT g.display_name FROM directory_groups g WHERE g.id = group_members.group_id)",
                ),
            ))
            .load(conn)?;
        for (user, id, display_name) in rows {
            out.entry(user)
                .or_default()
                .push(GroupRef { id, display_name });
        }
    }
    for groups in out.values_mut() {
        groups.sort_by(|a, b| {
            (a.display_name.to_lowercase(), &a.id).cmp(&(b.display_name.to_lowercase(), &b.id))
        });
    }
    Ok(out)
}

fn complete(conn: &mut Conn, scope: &Scope, rows: Vec<UserRow>) -> StoreResult<Vec<DirectoryUser>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut groups = groups_of(conn, &ids)?;
    let mut numbers = crate::assigned::assigned_numbers(conn, scope, TargetKind::User, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let g = groups.remove(&r.id).unwrap_or_default();
            let n = numbers.remove(&r.id).unwrap_or_default();
            DirectoryUser::from_row(r, g, n)
        })
        .collect())
}

fn user_row(conn: &mut Conn, id: &str) -> StoreResult<Option<UserRow>> {
    Ok(directory_users::table
        .filter(directory_users::id.eq(id.to_string()))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// One directory user by Entra object id (deleted ones too, flagged).
pub fn get_user(conn: &mut Conn, scope: &Scope, id: &str) -> StoreResult<DirectoryUser> {
    let row = user_row(conn, id)?.ok_or_else(|| StoreError::not_found("user", id))?;
    Ok(complete(conn, scope, vec![row])?.remove(0))
}

/// A page of directory users ordered by UPN.
pub fn list_users(
    conn: &mut Conn,
    scope: &Scope,
    filter: &UserFilter,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<DirectoryUser>> {
    let limit = page::limit(limit)?;
    let mut q = directory_users::table
        .select(UserRow::as_select())
        .order(directory_users::upn_key.asc())
        .into_boxed();
    if let Some(c) = cursor {
        q = q.filter(directory_users::upn_key.gt(page::decode(c)?));
    }
    if !filter.include_deleted {
        q = q.filter(directory_users::deleted.eq(false));
    }
    if let Some(text) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = crate::page::contains_pattern(text);
        q = q.filter(
            directory_users::upn_key
                .like(p.clone())
                .escape('\\')
                .or(lower(directory_users::display_name)
                    .like(p.clone())
                    .escape('\\'))
                .or(lower(sql::<Text>("COALESCE(directory_users.mail, '')"))
                    .like(p)
                    .escape('\\')),
        );
    }
    if let Some(d) = filter.department.as_deref().map(str::trim) {
        q = q.filter(
            lower(sql::<Text>("COALESCE(directory_users.department, '')")).eq(d.to_lowercase()),
        );
    }
    if let Some(l) = filter.location.as_deref().map(str::trim) {
        let l = l.to_lowercase();
        q = q.filter(
            lower(sql::<Text>("COALESCE(directory_users.office_location, '')"))
                .eq(l.clone())
                .or(lower(sql::<Text>("COALESCE(directory_users.city, '')")).eq(l)),
        );
    }
    if let Some(g) = filter.group.as_deref().map(str::trim) {
        q = q.filter(
            sql::<Bool>(
                "EXISTS (SELECT 1 FROM group_members gm WHERE gm.user_id = directory_users.id AND gm.group_id = ",
            )
            .bind::<Text, _>(g.to_string())
            .sql(")"),
        );
    }
    if let Some(want) = filter.has_number {
        let in_scope = ScopeFilter::resolve(conn, scope)?
            .condition("n")
            .map(|c| format!(" AND {c}"))
            .unwrap_or_default();
        // The kind's word and the scope's ids are the store's own values, never user text.
        let exists = format!(
            "EXISTS (SELECT 1 FROM numbers n WHERE n.assigned_kind = '{}' \
             AND n.assigned_id = directory_users.id{in_scope})",
            TargetKind::User.as_str()
        );
        q = q.filter(sql::<Bool>(&if want {
            exists
        } else {
            format!("NOT {exists}")
        }));
    }
    let rows = q.limit(limit + 1).load(conn)?;
    let page = page::finish(rows, limit, |r| r.upn_key.clone());
    Ok(Page {
        items: complete(conn, scope, page.items)?,
        next_cursor: page.next_cursor,
    })
}

/// A page of groups (not deleted) ordered by name, with member counts.
pub fn list_groups(
    conn: &mut Conn,
    q: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> StoreResult<Page<GroupSummary>> {
    let limit = page::limit(limit)?;
    let name_key = lower(directory_groups::display_name);
    let mut query = directory_groups::table
        .filter(directory_groups::deleted.eq(false))
        .select((DirectoryGroup::as_select(), name_key))
        .order((name_key.asc(), directory_groups::id.asc()))
        .into_boxed();
    if let Some(c) = cursor {
        let decoded = page::decode(c)?;
        let (key, id) = decoded.rsplit_once('\n').ok_or_else(|| {
            StoreError::invalid(
                "invalid_cursor",
                "cursor",
                "is not a cursor this server issued",
            )
        })?;
        query = query.filter(
            name_key.gt(key.to_string()).or(name_key
                .eq(key.to_string())
                .and(directory_groups::id.gt(id.to_string()))),
        );
    }
    if let Some(text) = q.map(str::trim).filter(|t| !t.is_empty()) {
        let p = crate::page::contains_pattern(text);
        query = query.filter(name_key.like(p).escape('\\'));
    }
    // The sort key comes from SQL so the cursor compares exactly as the database orders.
    let rows: Vec<(DirectoryGroup, String)> = query.limit(limit + 1).load(conn)?;
    let page = page::finish(rows, limit, |(g, key)| format!("{key}\n{}", g.id));
    let ids: Vec<String> = page.items.iter().map(|(g, _)| g.id.clone()).collect();
    let mut counts = member_counts(conn, &ids)?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|(group, _)| GroupSummary {
                member_count: counts.remove(&group.id).unwrap_or(0),
                group,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

fn member_counts(conn: &mut Conn, ids: &[String]) -> StoreResult<HashMap<String, i64>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> = group_members::table
        .filter(group_members::group_id.eq_any(ids))
        .filter(sql::<Bool>(
            "EXISTS (SELECT 1 FROM directory_users u WHERE u.id = group_members.user_id AND NOT u.deleted)",
        ))
        .group_by(group_members::group_id)
        .select((group_members::group_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Stores a user as Entra reports it: inserts it, or updates it in place (clearing a
/// `deleted` flag, since Entra reports a restored user like any other). Audited as
/// `directory_user.upsert` only when something other than the sync time changed.
pub fn upsert_user(
    conn: &mut Conn,
    permit: &Permit,
    input: DirectoryUserInput,
) -> StoreResult<DirectoryUser> {
    let now = crate::now();
    let new = input.into_row(now)?;
    let before = user_row(conn, &new.id)?;
    // Entra's UPNs are unique at any moment, so a stored user still holding this UPN was
    // renamed or purged there and its update has not arrived yet: its stale key makes way.
    let stale: Vec<String> = directory_users::table
        .filter(directory_users::upn_key.eq(&new.upn_key))
        .filter(directory_users::id.ne(&new.id))
        .select(directory_users::id)
        .load(conn)?;
    for other in stale {
        diesel::update(directory_users::table.filter(directory_users::id.eq(&other)))
            .set(directory_users::upn_key.eq(format!("{}#{other}", new.upn_key)))
            .execute(conn)?;
    }
    let values = (
        directory_users::upn.eq(&new.upn),
        directory_users::upn_key.eq(&new.upn_key),
        directory_users::display_name.eq(&new.display_name),
        directory_users::mail.eq(&new.mail),
        directory_users::department.eq(&new.department),
        directory_users::job_title.eq(&new.job_title),
        directory_users::office_location.eq(&new.office_location),
        directory_users::usage_location.eq(&new.usage_location),
        directory_users::city.eq(&new.city),
        directory_users::country.eq(&new.country),
        directory_users::account_enabled.eq(new.account_enabled),
        directory_users::deleted.eq(false),
        directory_users::last_synced_at.eq(now),
    );
    match &before {
        None => {
            diesel::insert_into(directory_users::table)
                .values((directory_users::id.eq(&new.id), values))
                .execute(conn)?;
        }
        Some(_) => {
            diesel::update(directory_users::table.filter(directory_users::id.eq(&new.id)))
                .set(values)
                .execute(conn)?;
        }
    }
    let changed = match &before {
        None => true,
        Some(b) => {
            let mut b = b.clone();
            b.last_synced_at = now;
            b != new
        }
    };
    if changed {
        audit::record(
            conn,
            permit,
            Change {
                action: "directory_user.upsert",
                entity_kind: "directory_user",
                entity_id: &new.id,
                before: before.as_ref().and_then(audit::snapshot),
                after: audit::snapshot(&new),
            },
        )?;
    }
    get_user(conn, permit.scope(), &new.id)
}

/// Flags a user as deleted in Entra (kept, with its memberships, for history and targets).
pub fn mark_user_deleted(conn: &mut Conn, permit: &Permit, id: &str) -> StoreResult<DirectoryUser> {
    let before = user_row(conn, id)?.ok_or_else(|| StoreError::not_found("user", id))?;
    if !before.deleted {
        let now = crate::now();
        diesel::update(directory_users::table.filter(directory_users::id.eq(id.to_string())))
            .set((
                directory_users::deleted.eq(true),
                directory_users::last_synced_at.eq(now),
            ))
            .execute(conn)?;
        let after = UserRow {
            deleted: true,
            last_synced_at: now,
            ..before.clone()
        };
        audit::record(
            conn,
            permit,
            Change {
                action: "directory_user.delete",
                entity_kind: "directory_user",
                entity_id: id,
                before: audit::snapshot(&before),
                after: audit::snapshot(&after),
            },
        )?;
    }
    get_user(conn, permit.scope(), id)
}

fn group_row(conn: &mut Conn, id: &str) -> StoreResult<Option<DirectoryGroup>> {
    Ok(directory_groups::table
        .filter(directory_groups::id.eq(id.to_string()))
        .select(DirectoryGroup::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a group as Entra reports it (inserting or updating in place, clearing `deleted`).
/// Audited as `directory_group.upsert` only when something other than the sync time changed.
pub fn upsert_group(
    conn: &mut Conn,
    permit: &Permit,
    input: GroupInput,
) -> StoreResult<DirectoryGroup> {
    let now = crate::now();
    let new = DirectoryGroup {
        id: required("id", &input.id)?,
        display_name: required("display_name", &input.display_name)?,
        mail: optional("mail", input.mail)?,
        description: optional("description", input.description)?,
        deleted: false,
        last_synced_at: now,
    };
    let before = group_row(conn, &new.id)?;
    let values = (
        directory_groups::display_name.eq(&new.display_name),
        directory_groups::mail.eq(&new.mail),
        directory_groups::description.eq(&new.description),
        directory_groups::deleted.eq(false),
        directory_groups::last_synced_at.eq(now),
    );
    let changed = match &before {
        None => {
            diesel::insert_into(directory_groups::table)
                .values((directory_groups::id.eq(&new.id), values))
                .execute(conn)?;
            true
        }
        Some(b) => {
            diesel::update(directory_groups::table.filter(directory_groups::id.eq(&new.id)))
                .set(values)
                .execute(conn)?;
            (&b.display_name, &b.mail, &b.description, b.deleted)
                != (&new.display_name, &new.mail, &new.description, false)
        }
    };
    if changed {
        audit::record(
            conn,
            permit,
            Change {
                action: "directory_group.upsert",
                entity_kind: "directory_group",
                entity_id: &new.id,
                before: before.as_ref().and_then(audit::snapshot),
                after: audit::snapshot(&new),
            },
        )?;
    }
    Ok(new)
}

/// Flags a group as deleted in Entra; it drops out of listings and users' group lists.
pub fn mark_group_deleted(conn: &mut Conn, permit: &Permit, id: &str) -> StoreResult<()> {
    let before = group_row(conn, id)?.ok_or_else(|| StoreError::not_found("group", id))?;
    if before.deleted {
        return Ok(());
    }
    let now = crate::now();
    diesel::update(directory_groups::table.filter(directory_groups::id.eq(id.to_string())))
        .set((
            directory_groups::deleted.eq(true),
            directory_groups::last_synced_at.eq(now),
        ))
        .execute(conn)?;
    let after = DirectoryGroup {
        deleted: true,
        last_synced_at: now,
        ..before.clone()
    };
    audit::record(
        conn,
        permit,
        Change {
            action: "directory_group.delete",
            entity_kind: "directory_group",
            entity_id: id,
            before: audit::snapshot(&before),
            after: audit::snapshot(&after),
        },
    )
}

/// Replaces a group's members with `user_ids`; returns how many are stored.
///
/// Ids not in the directory are skipped: Entra groups also hold devices, contacts, service
/// principals and nested groups, which Telestate does not sync. Audited as
/// `directory_group.members` (before and after member lists) when the set changed.
pub fn set_group_members<S: AsRef<str>>(
    conn: &mut Conn,
    permit: &Permit,
    group_id: &str,
    user_ids: &[S],
) -> StoreResult<usize> {
    if group_row(conn, group_id)?.is_none() {
        return Err(StoreError::not_found("group", group_id));
    }
    let asked: BTreeSet<String> = user_ids
        .iter()
        .map(|u| u.as_ref().trim().to_string())
        .filter(|u| !u.is_empty())
        .collect();
    let asked: Vec<String> = asked.into_iter().collect();
    let mut wanted = BTreeSet::new();
    for chunk in asked.chunks(1000) {
        let known: Vec<String> = directory_users::table
            .filter(directory_users::id.eq_any(chunk))
            .select(directory_users::id)
            .load(conn)?;
        wanted.extend(known);
    }
    let current: BTreeSet<String> = group_members::table
        .filter(group_members::group_id.eq(group_id.to_string()))
        .select(group_members::user_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    if current == wanted {
        return Ok(wanted.len());
    }
    let removed: Vec<String> = current.difference(&wanted).cloned().collect();
    for chunk in removed.chunks(1000) {
        diesel::delete(
            group_members::table
                .filter(group_members::group_id.eq(group_id.to_string()))
                .filter(group_members::user_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    let added: Vec<_> = wanted
        .difference(&current)
        .map(|u| {
            (
                group_members::group_id.eq(group_id.to_string()),
                group_members::user_id.eq(u.clone()),
            )
        })
        .collect();
    for chunk in added.chunks(500) {
        crate::dialect::insert_batch!(conn, group_members::table, chunk);
    }
    audit::record(
        conn,
        permit,
        Change {
            action: "directory_group.members",
            entity_kind: "directory_group",
            entity_id: group_id,
            before: Some(serde_json::json!({ "members": current })),
            after: Some(serde_json::json!({ "members": wanted })),
        },
    )?;
    Ok(wanted.len())
}

/// Resolves an assignment target: its name is the UPN for users and the service's name
/// for services.
///
/// `kind` is `user` (`id` is an Entra object id or a UPN, case-insensitive) or `service`
/// (`id` is the service's id or its name, case-insensitive). A deleted user is refused with
/// 409 `target_deleted` and a disabled one with 409 `target_disabled`; an unknown target is
/// 400 `unknown_target` on `target.id`, an unknown kind 400 `invalid_field` on `target.kind`.
pub fn resolve_target(conn: &mut Conn, kind: &str, id: &str) -> StoreResult<Target> {
    let wanted = id.trim();
    let unknown = || {
        StoreError::invalid(
            "unknown_target",
            "target.id",
            format!("no {kind} '{wanted}' exists"),
        )
    };
    // Exact words only (no trimming or case folding), as the API has always taken them.
    match TargetKind::ALL.iter().copied().find(|k| k.as_str() == kind) {
        Some(TargetKind::User) => {
            let mut row = if wanted.is_empty() {
                None
            } else {
                user_row(conn, wanted)?
            };
            if row.is_none() && !wanted.is_empty() {
                row = directory_users::table
                    .filter(directory_users::upn_key.eq(wanted.to_lowercase()))
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()?;
            }
            let u = row.ok_or_else(unknown)?;
            let details = serde_json::json!({ "kind": TargetKind::User, "id": u.id, "upn": u.upn });
            if u.deleted {
                return Err(StoreError::Conflict {
                    code: "target_deleted",
                    message: format!(
                        "user '{}' was deleted in the directory; choose another target",
                        u.upn
                    ),
                    details,
                });
            }
            if !u.account_enabled {
                return Err(StoreError::Conflict {
                    code: "target_disabled",
                    message: format!(
                        "user '{}' is disabled in the directory; enable the account or choose another target",
                        u.upn
                    ),
                    details,
                });
            }
            Ok(Target {
                kind: TargetKind::User,
                id: u.id,
                name: u.upn,
            })
        }
        Some(TargetKind::Service) => {
            let mut found: Option<(i64, String)> = None;
            if let Ok(n) = wanted.parse::<i64>() {
                found = services::table
                    .filter(services::id.eq(n))
                    .select((services::id, services::name))
                    .first(conn)
                    .optional()?;
            }
            if found.is_none() && !wanted.is_empty() {
                found = services::table
                    .filter(services::name_key.eq(wanted.to_lowercase()))
                    .select((services::id, services::name))
                    .first(conn)
                    .optional()?;
            }
            let (sid, name) = found.ok_or_else(unknown)?;
            // Hold the service until commit, as a foreign key would: a concurrent delete
            // waits for this assignment and then sees the service in use.
            crate::dialect::lock_ref(conn, crate::dialect::RefTable::Services, sid)?;
            Ok(Target {
                kind: TargetKind::Service,
                id: sid.to_string(),
                name,
            })
        }
        None => Err(StoreError::invalid(
            "invalid_field",
            "target.kind",
            format!("'{kind}' is not a target kind; use 'user' or 'service'"),
        )),
    }
}
