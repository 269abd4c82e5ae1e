//! The directory sync's and the reconciliation's writes: users and groups from Entra ID
//! in batches, the delta links and the run's outcome per platform, and the snapshot of
//! Teams' number assignments that drift is computed from.
//!
//! One worker syncs a platform at a time: it must hold the lease `sync:<platform id>`
//! ([`take_lease`]), renewed while it runs. Delta links are stored only with a run that
//! finished, so a run that dies is simply repeated from the previous links. Users and
//! groups Entra no longer lists are flagged `deleted`, never erased: a full sync flags
//! its platform's objects it did not see ([`sweep`]).

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use domain::Permit;

use crate::{
    Conn, StoreResult,
    audit::{self, Change},
    dialect,
    directory::{self, DirectoryUserInput, GroupInput},
    schema::{
        directory_groups as g, directory_users as u, group_members as m, platform_sync as s,
        platforms, teams_numbers as t,
    },
};

/// How often a Teams platform is synced when its settings name no interval.
pub const DEFAULT_INTERVAL_SECONDS: i64 = 900;
/// Users or groups written per statement batch.
const BATCH: usize = 500;
/// Longest number kept from Teams' listing (E.164 is 16 bytes; an extension adds some).
const MAX_TEAMS_NUMBER_BYTES: usize = 64;
/// Longest other text kept from Teams' listing, in characters.
const MAX_TEAMS_TEXT_CHARS: usize = 256;

/// A Teams platform whose sync is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The platform.
    pub platform_id: i64,
    /// Its name (the sync's actor is `platform:<name>`).
    pub name: String,
    /// Someone asked for it (`POST /platforms/{id}/sync`) rather than the interval.
    pub requested: bool,
}

/// A Teams platform's id, name, interval, sync request and last start.
type DueRow = (
    i64,
    String,
    Option<i32>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// Teams platforms whose sync is due at `now`: asked for, never run, or last started an
/// interval ago.
pub fn due(conn: &mut Conn, now: NaiveDateTime) -> StoreResult<Vec<Due>> {
    let rows: Vec<DueRow> = platforms::table
        .left_join(s::table.on(s::platform_id.eq(platforms::id)))
        .filter(platforms::kind.eq("teams"))
        .select((
            platforms::id,
            platforms::name,
            platforms::sync_interval_seconds,
            s::requested_at.nullable(),
            s::started_at.nullable(),
        ))
        .order(platforms::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, name, interval, requested, started)| {
            let interval =
                Duration::seconds(interval.map(i64::from).unwrap_or(DEFAULT_INTERVAL_SECONDS));
            let requested = requested.is_some_and(|r| r <= now);
            let stale = started.is_none_or(|st| st + interval <= now);
            (requested || stale).then_some(Due {
                platform_id: id,
                name,
                requested,
            })
        })
        .collect())
}

/// The lease's name for a platform's sync.
fn lease_name(platform_id: i64) -> String {
    format!("sync:{platform_id}")
}

/// Takes (or renews) the sync lease of a platform for `holder` for `ttl`; `false` when
/// another worker holds it.
pub fn take_lease(
    conn: &mut Conn,
    platform_id: i64,
    holder: &str,
    ttl: std::time::Duration,
) -> StoreResult<bool> {
    let now = crate::now();
    let until = now + Duration::milliseconds(ttl.as_millis() as i64);
    dialect::take_lease(conn, &lease_name(platform_id), holder, now, until)
}

/// Gives the sync lease back (at the end of a run), if `holder` has it.
pub fn release_lease(conn: &mut Conn, platform_id: i64, holder: &str) -> StoreResult<()> {
    use crate::schema::leases;
    diesel::update(
        leases::table
            .filter(leases::name.eq(lease_name(platform_id)))
            .filter(leases::holder.eq(holder.to_string())),
    )
    .set(leases::expires_at.eq(crate::now() - Duration::seconds(1)))
    .execute(conn)?;
    Ok(())
}

/// Where a run starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The users delta link of the last finished run (`None`: full sync).
    pub users_delta_link: Option<String>,
    /// The groups delta link of the last finished run.
    pub groups_delta_link: Option<String>,
    /// When this run started (a full run's [`sweep`] flags objects not seen since).
    pub started_at: NaiveDateTime,
}

/// Records that a run starts now (clearing the request that asked for it) and returns
/// the links it continues from.
pub fn begin(conn: &mut Conn, platform_id: i64) -> StoreResult<Start> {
    let now = crate::now();
    ensure_row(conn, platform_id)?;
    diesel::update(s::table.find(platform_id))
        .set((
            s::started_at.eq(Some(now)),
            s::requested_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    let (users_delta_link, groups_delta_link) = s::table
        .find(platform_id)
        .select((s::users_delta_link, s::groups_delta_link))
        .first(conn)?;
    Ok(Start {
        users_delta_link,
        groups_delta_link,
        started_at: now,
    })
}

fn ensure_row(conn: &mut Conn, platform_id: i64) -> StoreResult<()> {
    let exists: Option<i64> = s::table
        .find(platform_id)
        .select(s::platform_id)
        .first(conn)
        .optional()?;
    if exists.is_none() {
        diesel::insert_into(s::table)
            .values(s::platform_id.eq(platform_id))
            .execute(conn)?;
    }
    Ok(())
}

/// What a finished (or failed) run reports on its platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The users delta link to continue from; `None` keeps the stored one (a failed run).
    pub users_delta_link: Option<String>,
    /// The groups delta link to continue from; `None` keeps the stored one.
    pub groups_delta_link: Option<String>,
    /// The run read everything (no delta link, or an expired one).
    pub full: bool,
    /// Users created or changed.
    pub users_changed: i64,
    /// Users flagged deleted.
    pub users_removed: i64,
    /// Groups created, changed or flagged deleted.
    pub groups_changed: i64,
    /// Membership rows added or removed.
    pub memberships: i64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// Stores a run's outcome and, when it finished, its delta links.
pub fn finish(conn: &mut Conn, platform_id: i64, outcome: &Outcome) -> StoreResult<()> {
    ensure_row(conn, platform_id)?;
    let now = crate::now();
    diesel::update(s::table.find(platform_id))
        .set((
            s::finished_at.eq(Some(now)),
            s::duration_ms.eq(Some(outcome.duration_ms)),
            s::full_sync.eq(outcome.full),
            s::users_changed.eq(outcome.users_changed),
            s::users_removed.eq(outcome.users_removed),
            s::groups_changed.eq(outcome.groups_changed),
            s::memberships.eq(outcome.memberships),
            s::error.eq(outcome
                .error
                .as_ref()
                .map(|e| e.chars().take(2000).collect::<String>())),
        ))
        .execute(conn)?;
    if let Some(link) = &outcome.users_delta_link {
        diesel::update(s::table.find(platform_id))
            .set(s::users_delta_link.eq(Some(link)))
            .execute(conn)?;
    }
    if let Some(link) = &outcome.groups_delta_link {
        diesel::update(s::table.find(platform_id))
            .set(s::groups_delta_link.eq(Some(link)))
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets a platform's delta links, so its next run is a full sync (an expired link).
pub fn forget_links(conn: &mut Conn, platform_id: i64) -> StoreResult<()> {
    ensure_row(conn, platform_id)?;
    diesel::update(s::table.find(platform_id))
        .set((
            s::users_delta_link.eq(None::<String>),
            s::groups_delta_link.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, PartialEq, Debug)]
struct Stored {
    id: String,
    upn: String,
    display_name: String,
    mail: Option<String>,
    department: Option<String>,
    job_title: Option<String>,
    office_location: Option<String>,
    usage_location: Option<String>,
    city: Option<String>,
    country: Option<String>,
    account_enabled: bool,
    deleted: bool,
    platform_id: Option<i64>,
}

/// Stores users as Entra reports them, in batches: new ones inserted, changed ones
/// updated, unchanged ones only stamped as seen. Audited per created or changed user
/// (`directory_user.upsert`, one statement per batch). A user whose UPN another stored
/// user still holds goes through [`directory::upsert_user`], which resolves the clash.
/// Returns how many users were created or changed.
pub fn upsert_users(
    conn: &mut Conn,
    permit: &Permit,
    platform_id: i64,
    users: Vec<DirectoryUserInput>,
) -> StoreResult<i64> {
    let mut changed = 0i64;
    let mut batch = Vec::with_capacity(BATCH);
    for user in users {
        batch.push(user);
        if batch.len() == BATCH {
            changed += upsert_user_batch(conn, permit, platform_id, std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        changed += upsert_user_batch(conn, permit, platform_id, batch)?;
    }
    Ok(changed)
}

fn upsert_user_batch(
    conn: &mut Conn,
    permit: &Permit,
    platform_id: i64,
    users: Vec<DirectoryUserInput>,
) -> StoreResult<i64> {
    let now = crate::now();
    // The last report of an id wins (Graph may repeat an object within a round).
    let mut wanted: HashMap<String, Stored> = HashMap::with_capacity(users.len());
    let mut order = Vec::with_capacity(users.len());
    let mut unusable = 0usize;
    for input in users {
        // One odd object must not stop the sync of all the others (the run would fail,
        // and every run after it, from the same delta link).
        let Some(row) = synced_user(input).and_then(|u| directory::checked_user(u, now).ok())
        else {
            unusable += 1;
            continue;
        };
        if !wanted.contains_key(&row.id) {
            order.push(row.id.clone());
        }
        wanted.insert(row.id.clone(), row_to_stored(row, platform_id));
    }
    if unusable > 0 {
        tracing::warn!(
            platform.id = platform_id,
            users = unusable,
            "directory users left out: their id or UPN is empty, too long or has control characters"
        );
    }
    let existing: HashMap<String, Stored> = u::table
        .filter(u::id.eq_any(&order))
        .select((
            u::id,
            u::upn,
            u::display_name,
            u::mail,
            u::department,
            u::job_title,
            u::office_location,
            u::usage_location,
            u::city,
            u::country,
            u::account_enabled,
            u::deleted,
            u::platform_id,
        ))
        .load::<Stored>(conn)?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    // UPN keys held by another stored user: those users take the careful path.
    let keys: Vec<String> = order
        .iter()
        .map(|id| wanted[id].upn.to_lowercase())
        .collect();
    let clashing: HashSet<String> = u::table
        .filter(u::upn_key.eq_any(&keys))
        .select((u::id, u::upn_key))
        .load::<(String, String)>(conn)?
        .into_iter()
        .filter_map(|(id, key)| {
            let mine = order
                .iter()
                .find(|o| wanted[*o].upn.to_lowercase() == key)?;
            (*mine != id).then(|| mine.clone())
        })
        .collect();
    let mut inserts = Vec::new();
    let mut audits: Vec<(String, Option<serde_json::Value>, serde_json::Value)> = Vec::new();
    let mut seen = Vec::new();
    for id in &order {
        let new = &wanted[id];
        if clashing.contains(id) {
            // Audited there, when something changed.
            directory::upsert_user(conn, permit, stored_to_input(new))?;
            set_platform(conn, id, platform_id)?;
            continue;
        }
        match existing.get(id) {
            None => {
                inserts.push(new);
                audits.push((id.clone(), None, user_json(new)));
            }
            Some(old) if old == new => seen.push(id.clone()),
            Some(old) => {
                diesel::update(u::table.filter(u::id.eq(id)))
                    .set((
                        u::upn.eq(&new.upn),
                        u::upn_key.eq(new.upn.to_lowercase()),
                        u::display_name.eq(&new.display_name),
                        u::mail.eq(&new.mail),
                        u::department.eq(&new.department),
                        u::job_title.eq(&new.job_title),
                        u::office_location.eq(&new.office_location),
                        u::usage_location.eq(&new.usage_location),
                        u::city.eq(&new.city),
                        u::country.eq(&new.country),
                        u::account_enabled.eq(new.account_enabled),
                        u::deleted.eq(false),
                        u::last_synced_at.eq(now),
                        u::platform_id.eq(Some(platform_id)),
                    ))
                    .execute(conn)?;
                audits.push((id.clone(), Some(user_json(old)), user_json(new)));
            }
        }
    }
    let rows: Vec<_> = inserts
        .iter()
        .map(|n| {
            (
                u::id.eq(&n.id),
                u::upn.eq(&n.upn),
                u::upn_key.eq(n.upn.to_lowercase()),
                u::display_name.eq(&n.display_name),
                u::mail.eq(&n.mail),
                u::department.eq(&n.department),
                u::job_title.eq(&n.job_title),
                u::office_location.eq(&n.office_location),
                u::usage_location.eq(&n.usage_location),
                u::city.eq(&n.city),
                u::country.eq(&n.country),
                u::account_enabled.eq(n.account_enabled),
                (
                    u::deleted.eq(false),
                    u::last_synced_at.eq(now),
                    u::platform_id.eq(Some(platform_id)),
                ),
            )
        })
        .collect();
    // 15 values a row, 1,000 rows: below the bundled SQLite's 32,766 bound parameters
    // and PostgreSQL's 65,535; on PostgreSQL each statement is a round trip.
    for chunk in rows.chunks(1000) {
        crate::dialect::insert_batch!(conn, u::table, chunk);
    }
    for chunk in seen.chunks(BATCH) {
        diesel::update(u::table.filter(u::id.eq_any(chunk)))
            .set(u::last_synced_at.eq(now))
            .execute(conn)?;
    }
    let changed = audits.len() as i64;
    audit::record_many(
        conn,
        permit,
        audits
            .iter()
            .map(|(id, before, after)| Change {
                action: "directory_user.upsert",
                entity_kind: "directory_user",
                entity_id: id,
                before: before.clone(),
                after: Some(after.clone()),
            })
            .collect(),
    )?;
    Ok(changed + clashing.len() as i64)
}

/// Text as the directory stores it: without control characters (PostgreSQL refuses NUL)
/// and clipped to `max` characters.
fn clean(v: &str, max: usize) -> String {
    v.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// A synced user fit to store: descriptive fields cleaned and clipped (a 10 KB display
/// name is shown clipped, not refused); `None` when its keys (id, UPN) are unusable —
/// clipping a key would name another object.
fn synced_user(u: DirectoryUserInput) -> Option<DirectoryUserInput> {
    let max = directory::MAX_CHARS;
    let key_ok = |k: &str| k.chars().count() <= max && !k.chars().any(char::is_control);
    if !key_ok(&u.id) || !key_ok(&u.upn) {
        return None;
    }
    let opt = |v: Option<String>| v.map(|v| clean(&v, max));
    Some(DirectoryUserInput {
        display_name: clean(&u.display_name, max),
        mail: opt(u.mail),
        department: opt(u.department),
        job_title: opt(u.job_title),
        office_location: opt(u.office_location),
        usage_location: opt(u.usage_location),
        city: opt(u.city),
        country: opt(u.country),
        ..u
    })
}

fn set_platform(conn: &mut Conn, id: &str, platform_id: i64) -> StoreResult<()> {
    diesel::update(u::table.filter(u::id.eq(id)))
        .set(u::platform_id.eq(Some(platform_id)))
        .execute(conn)?;
    Ok(())
}

fn row_to_stored(r: directory::CheckedUser, platform_id: i64) -> Stored {
    Stored {
        id: r.id,
        upn: r.upn,
        display_name: r.display_name,
        mail: r.mail,
        department: r.department,
        job_title: r.job_title,
        office_location: r.office_location,
        usage_location: r.usage_location,
        city: r.city,
        country: r.country,
        account_enabled: r.account_enabled,
        deleted: false,
        platform_id: Some(platform_id),
    }
}

fn stored_to_input(s: &Stored) -> DirectoryUserInput {
    DirectoryUserInput {
        id: s.id.clone(),
        upn: s.upn.clone(),
        display_name: s.display_name.clone(),
        mail: s.mail.clone(),
        department: s.department.clone(),
        job_title: s.job_title.clone(),
        office_location: s.office_location.clone(),
        usage_location: s.usage_location.clone(),
        city: s.city.clone(),
        country: s.country.clone(),
        account_enabled: s.account_enabled,
    }
}

fn user_json(s: &Stored) -> serde_json::Value {
    serde_json::json!({
        "id": s.id, "upn": s.upn, "display_name": s.display_name, "mail": s.mail,
        "department": s.department, "job_title": s.job_title,
        "office_location": s.office_location, "usage_location": s.usage_location,
        "city": s.city, "country": s.country, "account_enabled": s.account_enabled,
        "deleted": s.deleted,
    })
}

/// Flags users Entra reports removed (soft or permanent: both are kept, flagged
/// `deleted`); unknown ids are skipped. Returns how many were newly flagged.
pub fn remove_users(conn: &mut Conn, permit: &Permit, ids: &[String]) -> StoreResult<i64> {
    let mut flagged = 0;
    for id in ids {
        let live: Option<bool> = u::table
            .filter(u::id.eq(id))
            .select(u::deleted)
            .first(conn)
            .optional()?;
        if live == Some(false) {
            directory::mark_user_deleted(conn, permit, id)?;
            flagged += 1;
        }
    }
    Ok(flagged)
}

/// Stores groups as Entra reports them (audited when changed); returns how many changed.
pub fn upsert_groups(
    conn: &mut Conn,
    permit: &Permit,
    platform_id: i64,
    groups: Vec<GroupInput>,
) -> StoreResult<i64> {
    let mut changed = 0;
    let max = directory::MAX_CHARS;
    for group in groups {
        // As for users: an odd group is cleaned, or left out when its id is unusable.
        if !usable_key(&group.id) {
            tracing::warn!(
                platform.id = platform_id,
                "a directory group was left out: its id is empty, too long or has control characters"
            );
            continue;
        }
        let display_name = clean(&group.display_name, max);
        let group = GroupInput {
            display_name: if display_name.trim().is_empty() {
                group.id.clone()
            } else {
                display_name
            },
            mail: group.mail.map(|v| clean(&v, max)),
            description: group.description.map(|v| clean(&v, max)),
            id: group.id,
        };
        let id = group.id.clone();
        let before = directory::group_snapshot(conn, &id)?;
        let after = directory::upsert_group(conn, permit, group)?;
        diesel::update(g::table.filter(g::id.eq(&id)))
            .set(g::platform_id.eq(Some(platform_id)))
            .execute(conn)?;
        if before.as_ref()
            != Some(&(
                after.display_name.clone(),
                after.mail.clone(),
                after.description.clone(),
                false,
            ))
        {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Notes a group Entra sighted without any of its fields (a large group's further member
/// chunk): a stored, live group is only stamped as seen (its fields are unknown, not
/// cleared); an unknown or flagged one is stored, under its id for a name when it has none
/// yet, so its members can be written. Returns how many groups were created or changed.
pub fn touch_group(
    conn: &mut Conn,
    permit: &Permit,
    platform_id: i64,
    id: &str,
) -> StoreResult<i64> {
    if !usable_key(id) {
        tracing::warn!(
            platform.id = platform_id,
            "a directory group was left out: its id is empty, too long or has control characters"
        );
        return Ok(0);
    }
    match directory::group_snapshot(conn, id)? {
        Some((_, _, _, false)) => {
            diesel::update(g::table.filter(g::id.eq(id)))
                .set((
                    g::last_synced_at.eq(crate::now()),
                    g::platform_id.eq(Some(platform_id)),
                ))
                .execute(conn)?;
            Ok(0)
        }
        stored => {
            let (display_name, mail, description) = match stored {
                Some((name, mail, description, _)) => (name, mail, description),
                None => (id.to_owned(), None, None),
            };
            upsert_groups(
                conn,
                permit,
                platform_id,
                vec![GroupInput {
                    id: id.to_owned(),
                    display_name,
                    mail,
                    description,
                }],
            )
        }
    }
}

/// The user ids a group holds now.
pub fn member_ids(conn: &mut Conn, group_id: &str) -> StoreResult<HashSet<String>> {
    Ok(m::table
        .filter(m::group_id.eq(group_id))
        .select(m::user_id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Whether an Entra id can be stored and looked up: not blank, at most
/// `directory::MAX_CHARS` characters, no control characters (PostgreSQL refuses a NUL even
/// in a lookup, which would fail the whole write).
fn usable_key(id: &str) -> bool {
    !id.trim().is_empty()
        && id.chars().count() <= directory::MAX_CHARS
        && !id.chars().any(char::is_control)
}

/// Flags groups Entra reports removed; returns how many were newly flagged.
pub fn remove_groups(conn: &mut Conn, permit: &Permit, ids: &[String]) -> StoreResult<i64> {
    let mut flagged = 0;
    for id in ids {
        let live: Option<bool> = g::table
            .filter(g::id.eq(id))
            .select(g::deleted)
            .first(conn)
            .optional()?;
        if live == Some(false) {
            directory::mark_group_deleted(conn, permit, id)?;
            flagged += 1;
        }
    }
    Ok(flagged)
}

/// Applies membership changes to one group: adds `added` (users not in the directory are
/// skipped), removes `removed`. Audited as `directory_group.members` with the ids added and
/// removed. A group that is not stored (its id was unusable, so it was left out) has no
/// members to change. Returns how many rows changed.
pub fn change_members(
    conn: &mut Conn,
    permit: &Permit,
    group_id: &str,
    added: &[String],
    removed: &[String],
) -> StoreResult<i64> {
    if !usable_key(group_id)
        || (!added.is_empty() && directory::group_snapshot(conn, group_id)?.is_none())
    {
        return Ok(0);
    }
    // An unusable id names no stored user (and PostgreSQL would refuse to look it up).
    let added: Vec<&String> = added.iter().filter(|id| usable_key(id)).collect();
    let removed: Vec<&String> = removed.iter().filter(|id| usable_key(id)).collect();
    let current = member_ids(conn, group_id)?;
    let mut known = HashSet::new();
    for chunk in added.chunks(BATCH) {
        known.extend(
            u::table
                .filter(u::id.eq_any(chunk))
                .select(u::id)
                .load::<String>(conn)?,
        );
    }
    let to_add: Vec<&String> = added
        .iter()
        .copied()
        .filter(|id| known.contains(*id) && !current.contains(*id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let to_remove: Vec<&String> = removed
        .iter()
        .copied()
        .filter(|id| current.contains(*id))
        .collect();
    if to_add.is_empty() && to_remove.is_empty() {
        return Ok(0);
    }
    let rows: Vec<_> = to_add
        .iter()
        .map(|uid| (m::group_id.eq(group_id), m::user_id.eq(*uid)))
        .collect();
    for chunk in rows.chunks(BATCH) {
        crate::dialect::insert_batch!(conn, m::table, chunk);
    }
    for chunk in to_remove.chunks(BATCH) {
        diesel::delete(
            m::table
                .filter(m::group_id.eq(group_id))
                .filter(m::user_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    audit::record(
        conn,
        permit,
        Change {
            action: "directory_group.members",
            entity_kind: "directory_group",
            entity_id: group_id,
            before: None,
            after: Some(serde_json::json!({ "added": to_add, "removed": to_remove })),
        },
    )?;
    Ok((to_add.len() + to_remove.len()) as i64)
}

/// After a full run that started at `started_at`: flags the platform's users and groups
/// that the run did not see as deleted (Entra no longer lists them). Returns how many
/// users and groups were flagged.
pub fn sweep(
    conn: &mut Conn,
    permit: &Permit,
    platform_id: i64,
    started_at: NaiveDateTime,
) -> StoreResult<(i64, i64)> {
    let users: Vec<String> = u::table
        .filter(u::platform_id.eq(platform_id))
        .filter(u::last_synced_at.lt(started_at))
        .filter(u::deleted.eq(false))
        .select(u::id)
        .load(conn)?;
    let groups: Vec<String> = g::table
        .filter(g::platform_id.eq(platform_id))
        .filter(g::last_synced_at.lt(started_at))
        .filter(g::deleted.eq(false))
        .select(g::id)
        .load(conn)?;
    Ok((
        remove_users(conn, permit, &users)?,
        remove_groups(conn, permit, &groups)?,
    ))
}

/// One number as Teams lists it (`numberAssignments`), in the inventory's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsNumber {
    /// E.164 with `+` (and `;ext=` when Teams has one).
    pub e164: String,
    /// `direct_routing`, `calling_plan`, `operator_connect`, or `None` when Teams says
    /// something else.
    pub number_type: Option<String>,
    /// The user or resource account it is assigned to in Teams.
    pub assignment_target_id: Option<String>,
    /// Teams' `assignmentStatus` (`unassigned`, `userAssigned`, …).
    pub assignment_status: Option<String>,
    /// Teams' `activationState`.
    pub activation_state: Option<String>,
    /// The emergency location id Teams holds for it.
    pub location_id: Option<String>,
    /// Teams' `isoCountryCode`.
    pub iso_country_code: Option<String>,
}

/// Replaces the platform's snapshot of Teams' numbers with a fresh listing.
pub fn replace_teams_numbers(
    conn: &mut Conn,
    platform_id: i64,
    numbers: &[TeamsNumber],
) -> StoreResult<()> {
    diesel::delete(t::table.filter(t::platform_id.eq(platform_id))).execute(conn)?;
    // Teams' answer is not trusted to be clean: a number that cannot be one (too long,
    // control characters) is left out, a repeated number keeps its first entry (the
    // snapshot's key), other text is cleaned and clipped.
    let mut seen = HashSet::new();
    let numbers: Vec<TeamsNumber> = numbers
        .iter()
        .filter(|n| {
            n.e164.len() <= MAX_TEAMS_NUMBER_BYTES
                && !n.e164.chars().any(char::is_control)
                && seen.insert(n.e164.as_str())
        })
        .map(|n| {
            let opt = |v: &Option<String>| v.as_deref().map(|v| clean(v, MAX_TEAMS_TEXT_CHARS));
            TeamsNumber {
                e164: n.e164.clone(),
                number_type: opt(&n.number_type),
                assignment_target_id: opt(&n.assignment_target_id),
                assignment_status: opt(&n.assignment_status),
                activation_state: opt(&n.activation_state),
                location_id: opt(&n.location_id),
                iso_country_code: opt(&n.iso_country_code),
            }
        })
        .collect();
    let rows: Vec<_> = numbers
        .iter()
        .map(|n| {
            (
                t::platform_id.eq(platform_id),
                t::e164.eq(&n.e164),
                t::number_type.eq(&n.number_type),
                t::assignment_target_id.eq(&n.assignment_target_id),
                t::assignment_status.eq(&n.assignment_status),
                t::activation_state.eq(&n.activation_state),
                t::location_id.eq(&n.location_id),
                t::iso_country_code.eq(&n.iso_country_code),
            )
        })
        .collect();
    for chunk in rows.chunks(100) {
        crate::dialect::insert_batch!(conn, t::table, chunk);
    }
    ensure_row(conn, platform_id)?;
    diesel::update(s::table.find(platform_id))
        .set((
            s::teams_numbers_at.eq(Some(crate::now())),
            s::teams_numbers.eq(numbers.len() as i64),
        ))
        .execute(conn)?;
    Ok(())
}

/// When Teams' numbers of a Teams platform were last listed; 404 when `platform_id` is
/// not a Teams platform.
pub fn teams_platform(conn: &mut Conn, platform_id: i64) -> StoreResult<Option<NaiveDateTime>> {
    let kind: Option<String> = platforms::table
        .find(platform_id)
        .select(platforms::kind)
        .first(conn)
        .optional()?;
    if kind.as_deref() != Some("teams") {
        return Err(crate::StoreError::not_found(
            "Teams platform",
            platform_id.to_string(),
        ));
    }
    Ok(s::table
        .find(platform_id)
        .select(s::teams_numbers_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .flatten())
}
