//! Store tests: run on SQLite by default, on PostgreSQL with
//! `TEST_DATABASE_URL=postgres://…/postgres`; each test gets its own database. One test
//! binary, one module per topic; the helpers below are shared by all of them.

mod accounts;
mod audit_reach;
mod concurrency;
mod drift;
mod export;
mod imports;
mod inventory;
mod jobs;
mod lifecycle;
mod platforms;
mod rates_and_changes;
mod rules;
mod search;
mod search_attack;
mod sync_hostile;
mod targets;

use diesel::RunQueryDsl;
use domain::{NumberBlock, PhoneNumber, Role, Scope, Tag};
use store::{
    StoreError,
    admins::{Login, NewAdmin},
    audit::AuditFilter,
    locations::LocationInput,
    numbers::{NewNumber, NumberFilter, NumberPatch},
    ranges::{NewRange, RangePatch},
    testing::{TestDb, owner, principal},
};

fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).unwrap()
}

fn new_number(s: &str) -> NewNumber {
    NewNumber {
        number: n(s),
        location_id: None,
        tags: vec![],
        description: String::new(),
        platform_id: None,
        number_type: None,
    }
}

fn location(t: &TestDb, name: &str) -> i64 {
    let input = LocationInput {
        name: name.into(),
        country: "GB".into(),
        region: None,
        city: None,
        address: None,
        emergency_location_id: None,
    };
    t.db.write(|c| store::locations::create(c, &owner(), input))
        .unwrap()
        .id
}

fn range(
    t: &TestDb,
    start: &str,
    end: &str,
    location_id: Option<i64>,
    tags: &[&str],
) -> store::StoreResult<store::ranges::Range> {
    let block = NumberBlock::new(n(start), n(end), 1_000_000).unwrap();
    let new = NewRange {
        name: None,
        block,
        location_id,
        tags: Tag::parse_set(tags).unwrap(),
        description: String::new(),
        platform_id: None,
        number_type: None,
    };
    t.db.write(|c| store::ranges::create(c, &owner(), new))
}

/// The estate's first 1,000 numbers, unscoped and unfiltered, in E.164 order.
fn all_numbers(t: &TestDb) -> Vec<store::numbers::Number> {
    t.db.read(|c| {
        store::numbers::list(
            c,
            &Scope::unrestricted(),
            &NumberFilter::default(),
            None,
            Some(1000),
        )
    })
    .unwrap()
    .items
}

fn audit_count(t: &TestDb, action: &str) -> usize {
    let filter = AuditFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    t.db.read(|c| store::audit::list(c, &owner(), &filter, None, Some(1000)))
        .unwrap()
        .items
        .len()
}
