//! The simulated tenant: directory objects with change sequence numbers, the Teams number
//! inventory, long-running operations, tokens and statistics, all behind one mutex.
//!
//! Every change takes the next value of one tenant-wide sequence. A delta round is then
//! "objects whose tracked sequence is in (from, upto]", a scan from a position instead of
//! a diff of snapshots, which keeps 100,000-user rounds cheap.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{SimNumber, SimStats, SimUser};
use crate::{Faults, SimConfig};

/// Tracked user properties, in the order of `UserRec::prop_seq`; `id` is always returned.
pub(crate) const USER_PROPS: [&str; 15] = [
    "displayName",
    "userPrincipalName",
    "givenName",
    "surname",
    "mail",
    "mobilePhone",
    "businessPhones",
    "jobTitle",
    "department",
    "officeLocation",
    "preferredLanguage",
    "usageLocation",
    "city",
    "country",
    "accountEnabled",
];

/// Tracked group properties; `members` is the relationship behind `members@delta`.
pub(crate) const GROUP_PROPS: [&str; 3] = ["displayName", "description", "members"];

/// Index of `members` in [`GROUP_PROPS`].
pub(crate) const GROUP_MEMBERS: usize = 2;

/// Operator ids the simulator gives numbers that bring none, one per number type.
const OPERATOR_DIRECT_ROUTING: &str = "7a205197-8e59-487d-b9fa-3fc1b108f1e5";
const OPERATOR_CALLING_PLAN: &str = "bc2632e3-750c-47d7-aeae-9fee035bc0c7";
const OPERATOR_OPERATOR_CONNECT: &str = "3d4a8a5e-0c5f-4b2b-9a57-6f0e4b1c2d3e";

/// The three number types assignNumber and unassignNumber accept (contract §5.4).
pub(crate) const NUMBER_TYPES: [&str; 3] = ["directRouting", "callingPlan", "operatorConnect"];

/// Whether and how a directory object was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    Present,
    /// In deleted items, restorable: `@removed {"reason":"changed"}` (contract §2.2).
    Soft,
    /// Gone for good: `@removed {"reason":"deleted"}`.
    Permanent,
}

impl Removal {
    pub(crate) fn reason(self) -> Option<&'static str> {
        match self {
            Removal::Present => None,
            Removal::Soft => Some("changed"),
            Removal::Permanent => Some("deleted"),
        }
    }
}

pub(crate) struct UserRec {
    pub user: SimUser,
    pub id: String,
    pub created_seq: u64,
    /// Last create/delete.
    pub state_seq: u64,
    /// Last change of each of [`USER_PROPS`].
    pub prop_seq: [u64; USER_PROPS.len()],
    pub removal: Removal,
}

impl UserRec {
    pub(crate) fn live(&self) -> bool {
        self.removal == Removal::Present
    }
}

/// One membership change; the log of a group only grows, in sequence order.
pub(crate) struct MemberEntry {
    pub seq: u64,
    pub user_id: String,
    pub present: bool,
    /// Sequence of the next entry for the same user, `u64::MAX` while this one is current.
    pub superseded: u64,
}

pub(crate) struct GroupRec {
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    pub created_seq: u64,
    pub state_seq: u64,
    pub prop_seq: [u64; 2],
    pub removal: Removal,
    pub log: Vec<MemberEntry>,
    pub last_entry: HashMap<String, usize>,
}

impl GroupRec {
    fn is_member(&self, user_id: &str) -> bool {
        self.last_entry
            .get(user_id)
            .is_some_and(|&i| self.log[i].present)
    }

    fn record(&mut self, seq: u64, user_id: &str, present: bool) {
        let idx = self.log.len();
        if let Some(prev) = self.last_entry.insert(user_id.to_owned(), idx) {
            self.log[prev].superseded = seq;
        }
        self.log.push(MemberEntry {
            seq,
            user_id: user_id.to_owned(),
            present,
            superseded: u64::MAX,
        });
    }
}

/// The Teams side of one number.
pub(crate) struct NumberRec {
    pub number: SimNumber,
    pub assignment_status: &'static str,
    pub activation_state: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpKind {
    Assign,
    Unassign,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpStatus {
    Running,
    Succeeded,
    Failed,
}

impl OpStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OpStatus::Running => "running",
            OpStatus::Succeeded => "succeeded",
            OpStatus::Failed => "failed",
        }
    }
}

/// A telephoneNumberLongRunningOperation (contract §5.7).
pub(crate) struct Operation {
    pub id: String,
    pub kind: OpKind,
    pub created: chrono::DateTime<chrono::Utc>,
    pub ready_at: Instant,
    /// Until this instant a running operation reports `notStarted`.
    pub started_at: Instant,
    pub telephone_number: String,
    pub number_type: String,
    pub target: Option<String>,
    pub category: Option<String>,
    pub location_id: Option<String>,
    pub inject_failure: bool,
    /// "http://host/v1.0" of the request that started it, for `resourceLocation`.
    pub root: String,
    pub status: OpStatus,
    pub detail: Option<String>,
}

pub(crate) struct AccessToken {
    pub expires: Instant,
    /// The `roles` claim: `None` when every permission is granted.
    pub roles: Option<Vec<String>>,
}

/// All mutable state of one simulated tenant.
pub(crate) struct State {
    pub config: SimConfig,
    pub seq: u64,
    pub users: Vec<UserRec>,
    pub user_index: HashMap<String, usize>,
    pub groups: Vec<GroupRec>,
    pub group_index: HashMap<String, usize>,
    pub numbers: BTreeMap<String, NumberRec>,
    pub operations: HashMap<String, Operation>,
    pub pending_ops: Vec<String>,
    pub tokens: HashMap<String, AccessToken>,
    /// Principal (bearer token or client id) → when its last `Retry-After` elapses.
    pub retry_after: HashMap<String, Instant>,
    /// The requests (principal, hash of method, URL and body) answered with a
    /// `Retry-After` whose time has not come: sending one of them again is a violation.
    pub throttled_requests: std::collections::HashSet<(String, u64)>,
    /// Bumped by `expire_delta_tokens`; tokens of an older epoch answer 410.
    pub delta_epoch: u64,
    /// Added to the wall clock, so tests can age delta tokens past 7 days.
    pub clock_offset: chrono::Duration,
    pub rng: StdRng,
    pub stats: SimStats,
}

impl State {
    fn new(config: SimConfig) -> State {
        let rng = StdRng::seed_from_u64(config.seed);
        State {
            config,
            seq: 0,
            users: Vec::new(),
            user_index: HashMap::new(),
            groups: Vec::new(),
            group_index: HashMap::new(),
            numbers: BTreeMap::new(),
            operations: HashMap::new(),
            pending_ops: Vec::new(),
            tokens: HashMap::new(),
            retry_after: HashMap::new(),
            throttled_requests: std::collections::HashSet::new(),
            delta_epoch: 0,
            clock_offset: chrono::Duration::zero(),
            rng,
            stats: SimStats::default(),
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The simulated wall clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.clock_offset
    }

    /// A random version-4 GUID from the seeded generator.
    pub(crate) fn guid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
            8 | (b[8] & 0x3),
            u16::from_be_bytes([b[9], b[10]]) & 0x0fff,
            u64::from_be_bytes([0, 0, b[11], b[12], b[13], b[14], b[15], b[0]]) & 0xffff_ffff_ffff,
        )
    }

    /// True with probability `rate`.
    pub(crate) fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.random::<f64>() < rate
    }

    pub(crate) fn user(&self, id: &str) -> Option<&UserRec> {
        self.user_index.get(id).map(|&i| &self.users[i])
    }

    pub(crate) fn add_user(&mut self, mut user: SimUser) -> String {
        let id = match user.id.clone() {
            Some(id) if !id.is_empty() => id,
            _ => self.guid(),
        };
        user.id = Some(id.clone());
        let seq = self.next_seq();
        if let Some(&i) = self.user_index.get(&id) {
            // Re-adding a known id restores it (like restoring from deleted items).
            let rec = &mut self.users[i];
            rec.user = user;
            rec.removal = Removal::Present;
            rec.state_seq = seq;
            rec.prop_seq = [seq; USER_PROPS.len()];
            return id;
        }
        self.user_index.insert(id.clone(), self.users.len());
        self.users.push(UserRec {
            user,
            id: id.clone(),
            created_seq: seq,
            state_seq: seq,
            prop_seq: [seq; USER_PROPS.len()],
            removal: Removal::Present,
        });
        id
    }

    pub(crate) fn update_user(&mut self, id: &str, f: impl FnOnce(&mut SimUser)) -> bool {
        let Some(&i) = self.user_index.get(id) else {
            return false;
        };
        if !self.users[i].live() {
            return false;
        }
        let mut updated = self.users[i].user.clone();
        f(&mut updated);
        // The id is the key; a closure cannot move the user.
        updated.id = Some(id.to_owned());
        let seq = self.seq + 1;
        let mut changed = false;
        let rec = &mut self.users[i];
        for (p, name) in USER_PROPS.iter().enumerate() {
            if user_prop(&rec.user, name) != user_prop(&updated, name) {
                rec.prop_seq[p] = seq;
                changed = true;
            }
        }
        rec.user = updated;
        if changed {
            self.seq = seq;
        }
        true
    }

    pub(crate) fn delete_user(&mut self, id: &str, permanent: bool) -> bool {
        let Some(&i) = self.user_index.get(id) else {
            return false;
        };
        let target = if permanent {
            Removal::Permanent
        } else {
            Removal::Soft
        };
        let current = self.users[i].removal;
        if current == Removal::Permanent || current == target {
            return false;
        }
        let seq = self.next_seq();
        let rec = &mut self.users[i];
        rec.removal = target;
        rec.state_seq = seq;
        // A deleted user leaves every group (soft-deleted users are not members either).
        for g in &mut self.groups {
            if g.is_member(id) {
                g.record(seq, id, false);
            }
        }
        true
    }

    pub(crate) fn add_group(&mut self, display_name: &str, description: Option<&str>) -> String {
        let id = self.guid();
        let seq = self.next_seq();
        self.group_index.insert(id.clone(), self.groups.len());
        self.groups.push(GroupRec {
            id: id.clone(),
            display_name: display_name.to_owned(),
            description: description.map(str::to_owned),
            created_seq: seq,
            state_seq: seq,
            prop_seq: [seq; 2],
            removal: Removal::Present,
            log: Vec::new(),
            last_entry: HashMap::new(),
        });
        id
    }

    pub(crate) fn delete_group(&mut self, id: &str, permanent: bool) -> bool {
        let Some(&i) = self.group_index.get(id) else {
            return false;
        };
        let target = if permanent {
            Removal::Permanent
        } else {
            Removal::Soft
        };
        let current = self.groups[i].removal;
        if current == Removal::Permanent || current == target {
            return false;
        }
        let seq = self.next_seq();
        self.groups[i].removal = target;
        self.groups[i].state_seq = seq;
        true
    }

    pub(crate) fn set_membership(&mut self, group_id: &str, user_id: &str, present: bool) -> bool {
        let Some(&gi) = self.group_index.get(group_id) else {
            return false;
        };
        if self.groups[gi].removal != Removal::Present {
            return false;
        }
        if present && !self.user(user_id).is_some_and(UserRec::live) {
            return false;
        }
        let is_member = self.groups[gi].is_member(user_id);
        if is_member == present {
            // Already so: report success only for an add, so removing a non-member is false.
            return present;
        }
        let seq = self.next_seq();
        self.groups[gi].record(seq, user_id, present);
        true
    }

    pub(crate) fn add_number(&mut self, mut number: SimNumber) {
        number.telephone_number = normalize_number(&number.telephone_number);
        if number.number_type.is_empty() {
            number.number_type = "directRouting".to_owned();
        }
        if number.operator_id.is_none() {
            number.operator_id = Some(default_operator(&number.number_type).to_owned());
        }
        if number.assignment_target_id.is_some() && number.assignment_category.is_none() {
            number.assignment_category = Some("primary".to_owned());
        }
        let status = self.status_for(number.assignment_target_id.as_deref());
        self.numbers.insert(
            number.telephone_number.clone(),
            NumberRec {
                number,
                assignment_status: status,
                activation_state: "activated",
            },
        );
    }

    /// `assignmentStatus` for a number held by `target` (contract §5.1).
    fn status_for(&self, target: Option<&str>) -> &'static str {
        match target {
            None => "unassigned",
            Some(t) if self.user(t).is_some_and(|u| u.user.is_resource_account) => {
                "voiceApplicationAssigned"
            }
            Some(_) => "userAssigned",
        }
    }

    /// Gives `tel` to `target` (or frees it), as the Teams back end would once an
    /// operation succeeds; false if there is no such number.
    pub(crate) fn set_assignment(
        &mut self,
        tel: &str,
        target: Option<&str>,
        category: Option<&str>,
        location_id: Option<&str>,
    ) -> bool {
        let status = self.status_for(target);
        let Some(rec) = self.numbers.get_mut(&normalize_number(tel)) else {
            return false;
        };
        rec.number.assignment_target_id = target.map(str::to_owned);
        rec.number.assignment_category = target.map(|_| category.unwrap_or("primary").to_owned());
        if let Some(loc) = location_id {
            rec.number.location_id = Some(loc.to_owned());
        }
        rec.assignment_status = status;
        rec.activation_state = "activated";
        true
    }

    /// Why assigning `tel` to `target` would fail, in the back end's words (contract §5.7).
    pub(crate) fn assign_problem(
        &self,
        tel: &str,
        number_type: &str,
        target: &str,
    ) -> Option<String> {
        let tenant = &self.config.tenant_id;
        let not_found = || format!("Telephone Number '{tel}' is not found from tenant '{tenant}'");
        let Some(rec) = self.numbers.get(tel) else {
            return Some(not_found());
        };
        // A number is looked up by number and type together, so a wrong type does not find it.
        if rec.number.number_type != number_type {
            return Some(not_found());
        }
        let Some(user) = self.user(target).filter(|u| u.live()) else {
            // [U] No documented text; modelled on the "is not found from tenant" message.
            return Some(format!(
                "User '{target}' is not found from tenant '{tenant}'"
            ));
        };
        if self.config.enforce_capabilities {
            let needed = if user.user.is_resource_account {
                "voiceApplicationAssignment"
            } else {
                "userAssignment"
            };
            if !rec.number.capabilities.iter().any(|c| c == needed) {
                return Some(format!(
                    "Telephone Number '{tel}' does not have the capability '{needed}' required for this assignment"
                ));
            }
        }
        match rec.number.assignment_target_id.as_deref() {
            Some(holder) if holder != target && !self.config.allow_reassign => Some(format!(
                "Telephone Number '{tel}' has already been assigned to another user"
            )),
            _ => None,
        }
    }

    /// Why unassigning `tel` would fail.
    pub(crate) fn unassign_problem(&self, tel: &str, number_type: &str) -> Option<String> {
        match self.numbers.get(tel) {
            Some(rec) if rec.number.number_type == number_type => None,
            _ => Some(format!(
                "Telephone Number '{tel}' is not found from tenant '{}'",
                self.config.tenant_id
            )),
        }
    }

    /// Finishes every operation whose delay has passed; called before anything reads state.
    pub(crate) fn settle(&mut self) {
        if self.pending_ops.is_empty() {
            return;
        }
        let now = Instant::now();
        let pending = std::mem::take(&mut self.pending_ops);
        let mut still = Vec::new();
        for id in pending {
            let Some(op) = self.operations.get(&id) else {
                continue;
            };
            if op.ready_at > now {
                still.push(id);
                continue;
            }
            let (kind, tel, ty) = (op.kind, op.telephone_number.clone(), op.number_type.clone());
            let (target, category, location) = (
                op.target.clone(),
                op.category.clone(),
                op.location_id.clone(),
            );
            let problem = if op.inject_failure {
                Some("Service is unavailable. Please try again".to_owned())
            } else {
                match kind {
                    OpKind::Assign => {
                        self.assign_problem(&tel, &ty, target.as_deref().unwrap_or(""))
                    }
                    OpKind::Unassign => self.unassign_problem(&tel, &ty),
                }
            };
            if problem.is_none() {
                match kind {
                    OpKind::Assign => self.set_assignment(
                        &tel,
                        target.as_deref(),
                        category.as_deref(),
                        location.as_deref(),
                    ),
                    OpKind::Unassign => self.set_assignment(&tel, None, None, None),
                };
            }
            if let Some(op) = self.operations.get_mut(&id) {
                op.status = if problem.is_some() {
                    OpStatus::Failed
                } else {
                    OpStatus::Succeeded
                };
                op.detail = problem;
            }
        }
        self.pending_ops = still;
    }
}

/// The value of one tracked user property, as Graph would serialize it.
pub(crate) fn user_prop(u: &SimUser, name: &str) -> serde_json::Value {
    use serde_json::Value;
    let s = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    match name {
        "displayName" => Value::String(u.display_name.clone()),
        "userPrincipalName" => Value::String(u.user_principal_name.clone()),
        "givenName" => s(&u.given_name),
        "surname" => s(&u.surname),
        "mail" => s(&u.mail),
        "mobilePhone" => s(&u.mobile_phone),
        "businessPhones" => Value::from(u.business_phones.clone()),
        "jobTitle" => s(&u.job_title),
        "department" => s(&u.department),
        "officeLocation" => s(&u.office_location),
        "preferredLanguage" => s(&u.preferred_language),
        "usageLocation" => s(&u.usage_location),
        "city" => s(&u.city),
        "country" => s(&u.country),
        "accountEnabled" => Value::Bool(u.account_enabled),
        _ => Value::Null,
    }
}

/// "+E164" from a number with or without '+' (contract §5.1: always displayed with '+').
pub(crate) fn normalize_number(tel: &str) -> String {
    if tel.starts_with('+') {
        tel.to_owned()
    } else {
        format!("+{tel}")
    }
}

fn default_operator(number_type: &str) -> &'static str {
    match number_type {
        "callingPlan" => OPERATOR_CALLING_PLAN,
        "operatorConnect" => OPERATOR_OPERATOR_CONNECT,
        _ => OPERATOR_DIRECT_ROUTING,
    }
}

/// A handle on one simulated tenant; cheap to clone, shared with the HTTP server.
#[derive(Clone)]
pub struct Tenant {
    inner: Arc<Mutex<State>>,
}

impl Tenant {
    pub(crate) fn new(config: SimConfig) -> Tenant {
        Tenant {
            inner: Arc::new(Mutex::new(State::new(config))),
        }
    }

    /// Locks the state. A panic while locked (only possible from a bug in a test closure
    /// passed to `update_user`) poisons the mutex; the state is still usable for a
    /// simulator, so the poison is ignored rather than unwrapped.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds (or restores, if the id is known) a user and returns its id.
    pub fn add_user(&self, user: SimUser) -> String {
        self.lock().add_user(user)
    }

    /// Changes a live user; only tracked properties that really change show in delta.
    pub fn update_user(&self, id: &str, f: impl FnOnce(&mut SimUser)) -> bool {
        self.lock().update_user(id, f)
    }

    /// Sets `accountEnabled` to false.
    pub fn disable_user(&self, id: &str) -> bool {
        self.update_user(id, |u| u.account_enabled = false)
    }

    /// Soft-deletes (delta `@removed` "changed") or permanently deletes ("deleted") a user;
    /// either way the user leaves every group. Assigned numbers stay with the deleted id,
    /// as drift for the client to find.
    pub fn delete_user(&self, id: &str, permanent: bool) -> bool {
        self.lock().delete_user(id, permanent)
    }

    /// The user with this id, deleted or not.
    pub fn user(&self, id: &str) -> Option<SimUser> {
        self.lock().user(id).map(|u| u.user.clone())
    }

    /// Adds a security group and returns its id.
    pub fn add_group(&self, display_name: &str, description: Option<&str>) -> String {
        self.lock().add_group(display_name, description)
    }

    /// Soft- or permanently deletes a group (delta `@removed` "changed" or "deleted").
    pub fn delete_group(&self, id: &str, permanent: bool) -> bool {
        self.lock().delete_group(id, permanent)
    }

    /// Makes a live user a member; false if the group or user does not exist.
    pub fn add_member(&self, group_id: &str, user_id: &str) -> bool {
        self.lock().set_membership(group_id, user_id, true)
    }

    /// Removes a member; false if it was not one.
    pub fn remove_member(&self, group_id: &str, user_id: &str) -> bool {
        self.lock().set_membership(group_id, user_id, false)
    }

    /// Adds a Teams resource account (a user object numbers are voice-application-assigned to).
    pub fn add_resource_account(&self, display_name: &str, upn: &str) -> String {
        self.add_user(SimUser {
            display_name: display_name.to_owned(),
            user_principal_name: upn.to_owned(),
            is_resource_account: true,
            ..SimUser::default()
        })
    }

    /// Adds (or replaces) a number in the Teams inventory.
    pub fn add_number(&self, number: SimNumber) {
        self.lock().add_number(number);
    }

    /// Adds many numbers under one lock.
    pub fn add_numbers(&self, numbers: impl IntoIterator<Item = SimNumber>) {
        let mut state = self.lock();
        for n in numbers {
            state.add_number(n);
        }
    }

    /// Changes Teams' side directly, bypassing Graph (drift in tests); false if unknown number.
    pub fn set_assignment(&self, telephone_number: &str, target: Option<&str>) -> bool {
        self.lock()
            .set_assignment(telephone_number, target, None, None)
    }

    /// The number as Teams holds it now (pending operations that are due are applied first).
    pub fn number(&self, telephone_number: &str) -> Option<SimNumber> {
        let mut state = self.lock();
        state.settle();
        state
            .numbers
            .get(&normalize_number(telephone_number))
            .map(|r| r.number.clone())
    }

    /// Every number, sorted by telephone number.
    pub fn numbers(&self) -> Vec<SimNumber> {
        let mut state = self.lock();
        state.settle();
        state.numbers.values().map(|r| r.number.clone()).collect()
    }

    /// Replaces the fault rates.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().config.faults = faults;
    }

    /// Changes how long new operations stay running.
    pub fn set_operation_delay(&self, d: Duration) {
        self.lock().config.operation_delay = d;
    }

    /// Changes the delay added to every Graph response.
    pub fn set_latency(&self, d: Duration) {
        self.lock().config.latency = d;
    }

    /// Changes the page size of users and groups lists and delta.
    pub fn set_users_page_size(&self, n: usize) {
        self.lock().config.users_page_size = n.max(1);
    }

    /// Makes every outstanding delta and skip token answer 410 Gone next time.
    pub fn expire_delta_tokens(&self) {
        self.lock().delta_epoch += 1;
    }

    /// Moves the simulated clock forward, e.g. past the 7-day life of delta tokens.
    pub fn advance_clock(&self, by: Duration) {
        let mut state = self.lock();
        state.clock_offset += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }

    /// A copy of the counters.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }

    /// The configuration in force (faults, delays and switches as last set).
    pub fn config(&self) -> SimConfig {
        self.lock().config.clone()
    }

    /// Changes any configuration switch at run time.
    pub fn update_config(&self, f: impl FnOnce(&mut SimConfig)) {
        f(&mut self.lock().config);
    }
}
