//! Writers beside readers and beside each other: a long write never shuts out readers,
//! queued writers hold no connections, and concurrent edits of one range never overwrite
//! each other.

use std::{
    sync::{Arc, Barrier},
    thread,
    time::Duration,
};

use diesel::{Connection, PgConnection, QueryableByName, sql_types::BigInt};
use store::{Backend, Db, ranges::Range};

use super::*;

/// Holds a write transaction open on another thread until the returned barrier is passed;
/// returns once the transaction has started.
fn hold_a_write(db: &Db) -> (Arc<Barrier>, thread::JoinHandle<store::StoreResult<()>>) {
    let started = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let handle = {
        let (db, started, release) = (db.clone(), started.clone(), release.clone());
        thread::spawn(move || {
            db.write(|c| {
                store::admins::count(c)?;
                started.wait();
                release.wait();
                Ok(())
            })
        })
    };
    started.wait();
    (release, handle)
}

fn create_location(db: &Db, name: &str) -> store::StoreResult<i64> {
    let input = LocationInput {
        name: name.into(),
        country: "GB".into(),
        region: None,
        city: None,
        address: None,
        emergency_location_id: None,
    };
    db.write(|c| store::locations::create(c, &owner(), input))
        .map(|l| l.id)
}

#[test]
fn reads_answer_while_a_long_write_runs_and_more_writers_queue_than_the_pool_has_connections() {
    let t = TestDb::new();
    let (release, long) = hold_a_write(&t.db);
    // The test pool has 8 connections; twice as many writers line up behind the long one.
    let queued: Vec<_> = (0..16)
        .map(|i| {
            let db = t.db.clone();
            thread::spawn(move || create_location(&db, &format!("Site {i}")))
        })
        .collect();
    if t.db.backend() == Backend::Sqlite {
        // Until every writer waits at the gate, holding no pooled connection (one that
        // took a pooled connection first would end the wait, and fail the test).
        while store::testing::writers_waiting(&t.db) < queued.len() && t.db.pool_state().0 == 0 {
            thread::yield_now();
        }
        assert_eq!(
            t.db.pool_state().0,
            0,
            "queued writers hold pooled connections"
        );
    }
    // As many reads as the pool has connections, side by side: the queue holds none.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let db = t.db.clone();
            thread::spawn(move || db.read(store::admins::count))
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap().unwrap(), 0);
    }
    release.wait();
    long.join().unwrap().unwrap();
    for q in queued {
        q.join().unwrap().unwrap();
    }
    let sites = t
        .db
        .read(|c| store::locations::list(c, &Scope::unrestricted(), None, None, None, Some(100)))
        .unwrap();
    assert_eq!(sites.items.len(), 16);
}

/// SQLite writers pass the gate in the order they came: the writer that just finished
/// and writes again at once (a rule run's lane, say) goes after the ones already
/// waiting, and a writer that gives up leaves the queue to the writers behind it.
#[test]
fn sqlite_writers_go_in_the_order_they_came() {
    let t = TestDb::new();
    if t.db.backend() != Backend::Sqlite {
        return;
    }
    let order = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let push = |order: &Arc<std::sync::Mutex<Vec<String>>>, who: String| {
        order.lock().unwrap().push(who);
    };
    let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let holder = {
        let (db, order, started, release) = (
            t.db.clone(),
            order.clone(),
            started.clone(),
            release.clone(),
        );
        thread::spawn(move || {
            db.write(|c| {
                store::admins::count(c)?;
                started.wait();
                release.wait();
                Ok(())
            })?;
            db.write(|c| {
                store::admins::count(c)?;
                push(&order, "again".into());
                Ok(())
            })
        })
    };
    started.wait();
    let mut queued = Vec::new();
    for i in 0..6 {
        // Writer 2 gives up while it waits; the others wait as long as it takes.
        let db = if i == 2 {
            t.db.clone().with_write_wait(Duration::from_millis(300))
        } else {
            t.db.clone()
        };
        let order = order.clone();
        queued.push(thread::spawn(move || {
            db.write(|c| {
                store::admins::count(c)?;
                push(&order, i.to_string());
                Ok(())
            })
        }));
        // Until this writer waits at the gate, behind the ones before it (less writer 2
        // once it gave up).
        let gone = |q: &[thread::JoinHandle<_>]| q.get(2).is_some_and(|h| h.is_finished());
        while store::testing::writers_waiting(&t.db) + usize::from(gone(&queued)) < i + 1 {
            thread::yield_now();
        }
    }
    // Writer 2 gives up; the rest stay queued.
    while store::testing::writers_waiting(&t.db) > 5 {
        thread::yield_now();
    }
    release.wait();
    holder.join().unwrap().unwrap();
    let outcomes: Vec<_> = queued.into_iter().map(|q| q.join().unwrap()).collect();
    assert!(
        matches!(outcomes[2], Err(StoreError::Unavailable(_))),
        "{outcomes:?}"
    );
    assert_eq!(*order.lock().unwrap(), ["0", "1", "3", "4", "5", "again"]);
}

#[test]
fn a_held_write_shuts_out_other_writers_only_on_sqlite_and_only_for_the_bounded_wait() {
    let t = TestDb::new();
    let impatient = t.db.clone().with_write_wait(Duration::ZERO);
    let (release, long) = hold_a_write(&t.db);
    let during = create_location(&impatient, "During");
    match t.db.backend() {
        // Nothing global is held on PostgreSQL: the other write commits at once.
        Backend::Postgres => assert!(during.is_ok(), "{during:?}"),
        Backend::Sqlite => assert!(
            matches!(during, Err(StoreError::Unavailable(_))),
            "{during:?}"
        ),
    }
    // Readers are not shut out on either.
    t.db.read(store::admins::count).unwrap();
    release.wait();
    long.join().unwrap().unwrap();
    // Once the long write is done, the gate opens for the next writer.
    create_location(&impatient, "After").unwrap();
}

#[test]
fn a_writer_that_panics_releases_sqlites_writing_connection() {
    let t = TestDb::new();
    let db = t.db.clone();
    let panicked = thread::spawn(move || {
        db.write(|c| -> store::StoreResult<()> {
            store::admins::count(c)?;
            panic!("a bug inside a transaction");
        })
    })
    .join();
    assert!(panicked.is_err());
    let impatient = t.db.clone().with_write_wait(Duration::ZERO);
    create_location(&impatient, "Next").unwrap();
}

#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Waits until a session of this test's PostgreSQL database waits for a row lock.
fn until_a_session_waits_for_a_lock(url: &str) {
    let mut conn = PgConnection::establish(url).unwrap();
    loop {
        let w: Waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(&mut conn)
        .unwrap();
        if w.n > 0 {
            return;
        }
        thread::yield_now();
    }
}

/// Renames the range in a transaction held open while a second patch (with `if_match`)
/// starts; on PostgreSQL the second has read the range and waits for the first's row
/// lock when the first commits. Returns the second patch's outcome and the range after.
fn race_two_patches(
    change: RangePatch,
    if_match: Option<i64>,
) -> (store::StoreResult<Range>, Range) {
    let t = TestDb::new();
    let r = range(&t, "+442070000000", "+442070000009", None, &[]).unwrap();
    assert_eq!(r.version, 1);
    let started = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let first = {
        let (db, started, release) = (t.db.clone(), started.clone(), release.clone());
        thread::spawn(move || {
            db.write(|c| {
                let renamed = RangePatch {
                    name: Some(Some("First".into())),
                    ..Default::default()
                };
                store::ranges::patch(c, &owner(), r.id, renamed, None)?;
                started.wait();
                release.wait();
                Ok(())
            })
        })
    };
    started.wait();
    let second = {
        let db = t.db.clone();
        thread::spawn(move || {
            db.write(|c| store::ranges::patch(c, &owner(), r.id, change, if_match))
        })
    };
    if t.db.backend() == Backend::Postgres {
        until_a_session_waits_for_a_lock(&t.url);
    }
    release.wait();
    first.join().unwrap().unwrap();
    let outcome = second.join().unwrap();
    let after =
        t.db.read(|c| store::ranges::get(c, &Scope::unrestricted(), r.id))
            .unwrap();
    (outcome, after)
}

#[test]
fn concurrent_range_patches_without_if_match_both_land() {
    let described = RangePatch {
        description: Some("Second".into()),
        ..Default::default()
    };
    let (outcome, after) = race_two_patches(described, None);
    outcome.unwrap();
    assert_eq!(after.name.as_deref(), Some("First"));
    assert_eq!(after.description, "Second");
    assert_eq!(after.version, 3);
}

#[test]
fn a_range_patch_whose_if_match_was_current_when_read_is_refused_once_another_commits() {
    let described = RangePatch {
        description: Some("Second".into()),
        ..Default::default()
    };
    let (outcome, after) = race_two_patches(described, Some(1));
    assert!(
        matches!(
            outcome,
            Err(StoreError::Stale {
                expected: 1,
                current: 2
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(after.name.as_deref(), Some("First"));
    assert_eq!(after.description, "");
    assert_eq!(after.version, 2);
}

#[test]
fn a_range_deleted_while_one_of_its_numbers_is_tagged_leaves_no_links_behind() {
    let t = TestDb::new();
    let r = range(&t, "+442070000000", "+442070000009", None, &[]).unwrap();
    let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let tagging = {
        let (db, started, release) = (t.db.clone(), started.clone(), release.clone());
        thread::spawn(move || {
            db.write(|c| {
                let tagged = NumberPatch {
                    tags: Some(Tag::parse_set(&["Sales"]).unwrap()),
                    ..Default::default()
                };
                store::numbers::patch(c, &owner(), "+442070000004", tagged, None)?;
                started.wait();
                release.wait();
                Ok(())
            })
        })
    };
    started.wait();
    let deleting = {
        let db = t.db.clone();
        thread::spawn(move || db.write(|c| store::ranges::delete(c, &owner(), r.id, None)))
    };
    if t.db.backend() == Backend::Postgres {
        until_a_session_waits_for_a_lock(&t.url);
    }
    release.wait();
    tagging.join().unwrap().unwrap();
    // The number was still available when the delete went on: the range goes, and the
    // link the tagging committed goes with its number.
    deleting.join().unwrap().unwrap();
    assert!(all_numbers(&t).is_empty());
    let (links, mismatched) = t.db.read(|c| Ok(store::testing::search_copies(c))).unwrap();
    assert_eq!((links, mismatched), (0, 0), "links left to deleted numbers");
}

#[derive(QueryableByName)]
struct CompileOption {
    #[diesel(sql_type = diesel::sql_types::Text)]
    compile_options: String,
}

/// The bundled SQLite is built with the options `.cargo/config.toml` gives it; a build
/// that lost them (another checkout's config, a changed libsqlite3-sys) would still
/// pass every other test, only slower: multi-thread mode (no mutex per column read),
/// no allocation statistics (no global malloc mutex), a planner that never re-prepares
/// a statement for its bound values.
#[test]
fn sqlite_is_built_for_a_pool_of_threads() {
    let t = TestDb::new();
    if t.db.backend() != Backend::Sqlite {
        return;
    }
    let options: Vec<String> =
        t.db.read(|c| {
            Ok(diesel::sql_query("PRAGMA compile_options")
                .load::<CompileOption>(c)?
                .into_iter()
                .map(|o| o.compile_options)
                .collect())
        })
        .unwrap();
    for wanted in ["THREADSAFE=2", "DEFAULT_MEMSTATUS=0", "ENABLE_QPSG"] {
        assert!(
            options.iter().any(|o| o == wanted),
            "{wanted} missing from {options:?}"
        );
    }
}
