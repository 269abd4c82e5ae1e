//! What an evaluation reads: each directory user's facts and the numbers they hold, in
//! the domain's shapes, for everyone (a preview, a full run) or for a list of users
//! (a delta run's plan; applying decisions, under the users' locks).

use std::collections::HashMap;

use diesel::prelude::*;
use domain::{
    NumberStatus, TargetKind,
    rules::{GroupRef, Holding, UserFacts},
};

use crate::{
    Conn, StoreResult,
    schema::{directory_groups as g, directory_users as u, group_members as m, numbers as n},
};

/// A user's facts, the numbers they hold (each with the version it was read at), and
/// their UPN for reports.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    /// What the rules test.
    pub(crate) facts: UserFacts,
    /// What they hold now.
    pub(crate) holdings: Vec<Holding>,
    /// Each held number's version as read (number id → version), so a leaver's unassign
    /// never takes a number that changed since.
    pub(crate) versions: HashMap<i64, i64>,
}

type UserCols = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    bool,
);

fn facts_of(row: UserCols) -> UserFacts {
    let (
        id,
        upn,
        department,
        job_title,
        office_location,
        usage_location,
        city,
        country,
        enabled,
        deleted,
    ) = row;
    UserFacts {
        id,
        upn,
        department,
        job_title,
        office_location,
        usage_location,
        city,
        country,
        account_enabled: enabled,
        deleted,
        groups: Vec::new(),
    }
}

macro_rules! user_cols {
    () => {
        (
            u::id,
            u::upn,
            u::department,
            u::job_title,
            u::office_location,
            u::usage_location,
            u::city,
            u::country,
            u::account_enabled,
            u::deleted,
        )
    };
}

macro_rules! holding_cols {
    () => {
        (
            n::id,
            n::e164,
            n::assigned_id,
            n::assigned_rule_id,
            n::version,
        )
    };
}

type HoldingCols = (i64, String, Option<String>, Option<i64>, i64);

/// Everyone in the directory (deleted users too: a leaver policy may still take their
/// numbers), sorted by id as `evaluate_all` orders them (byte order, whatever the
/// database's collation).
pub(crate) fn everyone(conn: &mut Conn) -> StoreResult<Vec<Subject>> {
    let mut users: Vec<Subject> = u::table
        .select(user_cols!())
        .load::<UserCols>(conn)?
        .into_iter()
        .map(|row| Subject {
            facts: facts_of(row),
            holdings: Vec::new(),
            versions: HashMap::new(),
        })
        .collect();
    users.sort_by(|a, b| a.facts.id.cmp(&b.facts.id));
    let index: HashMap<String, usize> = users
        .iter()
        .enumerate()
        .map(|(i, s)| (s.facts.id.clone(), i))
        .collect();
    let groups: HashMap<String, String> = g::table
        .filter(g::deleted.eq(false))
        .select((g::id, g::display_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    for (user, group) in m::table
        .select((m::user_id, m::group_id))
        .load::<(String, String)>(conn)?
    {
        if let (Some(&i), Some(name)) = (index.get(&user), groups.get(&group)) {
            users[i].facts.groups.push(GroupRef {
                id: group,
                display_name: name.clone(),
            });
        }
    }
    let held: Vec<HoldingCols> = n::table
        .filter(n::status.eq(NumberStatus::Assigned.as_str()))
        .filter(n::assigned_kind.eq(TargetKind::User.as_str()))
        .select(holding_cols!())
        .load(conn)?;
    for (id, e164, holder, rule_id, version) in held {
        if let Some(&i) = holder.as_ref().and_then(|h| index.get(h)) {
            hold(&mut users[i], id, e164, rule_id, version);
        }
    }
    Ok(users)
}

fn hold(s: &mut Subject, id: i64, e164: String, rule_id: Option<i64>, version: i64) {
    s.holdings.push(Holding {
        number_id: id,
        e164,
        rule_id,
    });
    s.versions.insert(id, version);
}

/// The users among `ids` that are stored, as [`everyone`] reads them, sorted by id
/// (a delta run's pending users).
pub(crate) fn many(conn: &mut Conn, ids: &[String]) -> StoreResult<Vec<Subject>> {
    let mut users: Vec<Subject> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        users.extend(
            u::table
                .filter(u::id.eq_any(chunk))
                .select(user_cols!())
                .load::<UserCols>(conn)?
                .into_iter()
                .map(|row| Subject {
                    facts: facts_of(row),
                    holdings: Vec::new(),
                    versions: HashMap::new(),
                }),
        );
    }
    users.sort_by(|a, b| a.facts.id.cmp(&b.facts.id));
    let index: HashMap<String, usize> = users
        .iter()
        .enumerate()
        .map(|(i, s)| (s.facts.id.clone(), i))
        .collect();
    let mut memberships: Vec<(String, String)> = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        memberships.extend(
            m::table
                .filter(m::user_id.eq_any(chunk))
                .select((m::user_id, m::group_id))
                .load::<(String, String)>(conn)?,
        );
    }
    let mut group_ids: Vec<&String> = memberships.iter().map(|(_, g)| g).collect();
    group_ids.sort();
    group_ids.dedup();
    let mut groups: HashMap<String, String> = HashMap::new();
    for chunk in group_ids.chunks(CHUNK) {
        groups.extend(
            g::table
                .filter(g::id.eq_any(chunk))
                .filter(g::deleted.eq(false))
                .select((g::id, g::display_name))
                .load::<(String, String)>(conn)?,
        );
    }
    for (user, group) in memberships {
        if let (Some(&i), Some(name)) = (index.get(&user), groups.get(&group)) {
            users[i].facts.groups.push(GroupRef {
                id: group,
                display_name: name.clone(),
            });
        }
    }
    for chunk in ids.chunks(CHUNK) {
        // By assignee alone, kind and status tested here: given them too, PostgreSQL's
        // planner (statistics taken before a run assigned thousands of numbers) chose
        // to scan every user-assigned number and filter, 0.7 s per 500 users instead
        // of 2 ms.
        let held: Vec<(HoldingCols, Option<String>, String)> = n::table
            .filter(n::assigned_id.eq_any(chunk))
            .select((holding_cols!(), n::assigned_kind, n::status))
            .load(conn)?;
        for ((id, e164, holder, rule_id, version), kind, status) in held {
            if kind.as_deref() != Some(TargetKind::User.as_str())
                || status != NumberStatus::Assigned.as_str()
            {
                continue;
            }
            if let Some(&i) = holder.as_ref().and_then(|h| index.get(h)) {
                hold(&mut users[i], id, e164, rule_id, version);
            }
        }
    }
    for s in &mut users {
        s.facts.groups.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(users)
}

/// Ids per `IN` list: well below SQLite's bound-parameter limit.
const CHUNK: usize = 500;
