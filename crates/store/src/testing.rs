//! Test support: a fresh, migrated database per test, on the backend `TEST_DATABASE_URL`
//! names (unset: a SQLite file in a temporary folder; `postgres://…/db`: a new database
//! created on that server and dropped afterwards). Tests share nothing, so they run in
//! parallel with no cleanup code and no `#[serial]`.

use diesel::{Connection, PgConnection, RunQueryDsl};
use domain::{Actor, ActorKind, Permit, Principal, Role, Scope, Source};
use rand::RngCore;

use crate::Db;

/// A throwaway database; removed when dropped.
pub struct TestDb {
    /// The handle to use.
    pub db: Db,
    /// Its URL, for starting a server against it.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

fn suffix() -> String {
    format!("{:016x}", rand::rng().next_u64())
}

impl Default for TestDb {
    fn default() -> TestDb {
        TestDb::new()
    }
}

impl TestDb {
    /// Creates and migrates a fresh database.
    pub fn new() -> TestDb {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            Some(base) => {
                let base = without_tls(base);
                let name = format!("telestate_test_{}", suffix());
                let mut admin = PgConnection::establish(&base)
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL {base}: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let (prefix, _) = base
                    .split_once('?')
                    .map_or(base.as_str(), |(path, _)| path)
                    .rsplit_once('/')
                    .expect("TEST_DATABASE_URL must end in /DATABASE");
                let url = without_tls(format!("{prefix}/{name}"));
                let db = Db::connect(&url, 8).expect("connect to test database");
                db.migrate().expect("migrate test database");
                TestDb {
                    db,
                    url,
                    cleanup: Cleanup::Postgres {
                        admin_url: base,
                        name,
                    },
                }
            }
            None => {
                let dir = std::env::temp_dir().join(format!("telestate-test-{}", suffix()));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                let url = format!("sqlite://{}", dir.join("test.db").display());
                let db = Db::connect(&url, 8).expect("open test database");
                db.migrate().expect("migrate test database");
                TestDb {
                    db,
                    url,
                    cleanup: Cleanup::Dir(dir),
                }
            }
        }
    }
}

/// `url` with `sslmode=disable` unless it says otherwise. Tests talk to a server on this
/// machine; without TLS no test process has OpenSSL running on a pool thread while the
/// process exits, which crashed one (SIGSEGV after its test had passed: OpenSSL's exit
/// handler freeing what a connecting libpq thread still used).
fn without_tls(url: String) -> String {
    if url.contains("sslmode=") {
        url
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
        }
    }
}

/// A principal for tests.
pub fn principal(role: Role, scope: Scope) -> Principal {
    Principal {
        actor: Actor {
            kind: ActorKind::Admin,
            id: "42".into(),
            name: format!("test-{role}"),
        },
        role,
        scope,
    }
}

/// An unscoped owner's permit.
pub fn owner() -> Permit {
    Permit::authorize(
        &principal(Role::Owner, Scope::unrestricted()),
        domain::Action::Govern,
        Source::Api,
        Some("test".into()),
    )
    .expect("owner may govern")
}

/// Writers of this process waiting for SQLite's writing connection (always 0 on
/// PostgreSQL), so a test holding a write open knows when the queue behind it has formed.
pub fn writers_waiting(db: &Db) -> usize {
    db.writers_waiting()
}

/// The tag names of each number, sorted by key: the store's own bulk reader, which tests
/// check for its dense and scattered id paths.
pub fn tags_of_numbers(
    conn: &mut crate::Conn,
    number_ids: &[i64],
) -> crate::StoreResult<std::collections::HashMap<i64, Vec<String>>> {
    crate::tags::of_numbers(conn, number_ids)
}

/// How many tag links there are, and how many copies disagree with what they copy: links
/// with their number's status or E.164 (what the search index orders by), links whose
/// number is gone, and numbers' `tag_names` with their links' tag names; on SQLite also runs FTS5's own
/// check of the text index against the numbers table, panicking if it fails.
pub fn search_copies(conn: &mut crate::Conn) -> (i64, i64) {
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        links: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        mismatched: i64,
    }
    if let crate::AnyConnection::Sqlite(_) = conn {
        diesel::sql_query(
            "INSERT INTO numbers_text (numbers_text, rank) VALUES ('integrity-check', 1)",
        )
        .execute(conn)
        .expect("the text index matches the numbers table");
    }
    // NULL-safe: a number without tags holds NULL, never an empty text.
    let differs = match conn {
        crate::AnyConnection::Sqlite(_) => "IS NOT",
        crate::AnyConnection::Postgresql(_) => "IS DISTINCT FROM",
    };
    let c: Counts = diesel::sql_query(format!(
        "SELECT COUNT(*) AS links, \
         COALESCE(SUM(CASE WHEN n.status <> nt.status OR n.e164 <> nt.e164 THEN 1 ELSE 0 END), 0) \
         + (SELECT COUNT(*) FROM numbers m WHERE m.tag_names {differs} \
             (SELECT string_agg(t.name, $1 ORDER BY t.key) FROM number_tags x \
              JOIN tags t ON t.id = x.tag_id WHERE x.number_id = m.id)) \
         + (SELECT COUNT(*) FROM number_tags o \
              WHERE NOT EXISTS (SELECT 1 FROM numbers m WHERE m.id = o.number_id)) AS mismatched \
         FROM number_tags nt JOIN numbers n ON n.id = nt.number_id",
    ))
    .bind::<diesel::sql_types::Text, _>(crate::tags::TAG_NAME_SEPARATOR.to_string())
    .get_result(conn)
    .expect("count tag links");
    (c.links, c.mismatched)
}

/// Tables that tests read or alter directly, to set up states no store function
/// produces (a stale plan, a platform row); production callers go through the store's
/// functions, which is why `store::schema` itself is private.
pub mod schema {
    pub use crate::schema::{import_plans, numbers, platform_sync, platforms};
}

/// Adds a platform row of `kind` (`teams`, `webhook`, `none`) with no settings, for tests
/// of provisioning that do not go through the platforms API; returns its id.
pub fn platform(db: &Db, name: &str, kind: &str) -> i64 {
    use crate::schema::platforms as p;
    use diesel::{ExpressionMethods, QueryDsl};
    db.write(|c| {
        diesel::insert_into(p::table)
            .values((
                p::name.eq(name),
                p::kind.eq(kind),
                p::created_at.eq(crate::now()),
                p::updated_at.eq(Some(crate::now())),
            ))
            .execute(c)?;
        Ok(p::table
            .filter(p::name.eq(name))
            .select(p::id)
            .first::<i64>(c)?)
    })
    .expect("insert platform")
}

/// Forgets the rule runs that ended more than `RUNS_KEPT_DAYS` before `now` (what the
/// scheduler does with the real clock), so a test can look a month ahead.
pub fn purge_rule_runs(db: &Db, now: chrono::NaiveDateTime) -> usize {
    db.write(|c| crate::rules::runs::purge(c, now, 1000))
        .expect("purge rule runs")
}
