//! Connections, the pool, migrations and transactions over SQLite or PostgreSQL.
//!
//! Every request takes one connection through [`Db::read`] or [`Db::write`].
//!
//! **Readers never wait for writers.** On PostgreSQL both take a pooled connection and
//! nothing global is held. SQLite allows one writer at a time: `write` runs on the one
//! writing connection, kept outside the pool, behind a gate that serialises this process's
//! writers (so two deferred transactions never deadlock on the lock upgrade). A writer
//! waits at the gate holding nothing, so however many queue, the whole pool stays free for
//! readers, which WAL lets read beside the writer. Writers pass the gate in the order
//! they came (first come, first served), so a request's wait is bounded by the writes
//! queued before it — a busy rule run's lanes cannot keep overtaking it. A writer that
//! waits longer than
//! [`Db::with_write_wait`]'s bound (default [`DEFAULT_WRITE_WAIT`]) gives up with
//! `Unavailable` (503 with `Retry-After`) instead of stalling its request. The
//! `busy_timeout` covers writers in other processes (the CLI, a separate worker).
//!
//! A long write holds the gate for its whole run on SQLite: creating a 1,000,000-number
//! range is one transaction because it must be all or nothing, and SQLite has one
//! writer, so cutting it into chunks would either show other requests a half-made range
//! or need a compensating delete that can itself fail. Other writers wait up to the bound
//! and then get a 503; readers and `/readyz` are not held up. On PostgreSQL such a write
//! locks only the rows it touches.

use std::{
    sync::{Arc, Condvar, Mutex, PoisonError},
    time::Duration,
};

use diesel::{
    Connection, PgConnection, RunQueryDsl, SqliteConnection,
    connection::SimpleConnection,
    r2d2::{ManageConnection, Pool},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{StoreError, StoreResult};

diesel::define_sql_function! {
    /// `lower()` as SQLite connections define it: Unicode lower case, like PostgreSQL's.
    #[sql_name = "lower"]
    fn unicode_lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A connection to either backend; store functions take `&mut Conn`.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    /// PostgreSQL, the production store.
    Postgresql(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

/// The connection type every store function takes.
pub type Conn = AnyConnection;

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (one file).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a `TELESTATE_DATABASE_URL` names.
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Opens connections itself, so a bad URL or password surfaces as the driver's own error
/// (the derived `establish` would try each backend and hide it).
#[derive(Debug, Clone)]
struct Manager {
    url: String,
    backend: Backend,
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Page cache of each pooled (reading) SQLite connection, in KiB.
const SQLITE_CACHE_KIB: i64 = 8 * 1024;

/// How much of the SQLite file each connection reads through a memory map (SQLite's
/// ceiling, `SQLITE_MAX_MMAP_SIZE`; beyond it, pages are read as before). A page cache
/// is per connection: a list page whose matches lie far apart (0.1% of a million
/// numbers) missed it on nearly every row and copied each page in with a `pread`, a
/// third of its CPU. Mapped, the pages are the kernel's cache, shared by every
/// connection. SQLite only reads through the map (writes still go through the WAL), so
/// durability is unchanged; the mapped pages count in the process's RSS as file pages
/// (`RssFile`), which the kernel reclaims like any cache.
const SQLITE_MMAP_BYTES: i64 = 0x7fff_0000;

/// Page cache of the one SQLite writing connection, in KiB. A transaction that dirties
/// more pages than the cache holds spills them to the WAL and reads them back: with 8 MiB,
/// adopting 100,000 numbers spent most of its time in the kernel, and a rule run's
/// batches of 2,000 allocations (each touching the numbers table's indexes) took 11 s
/// where they take 9.5 s with this (one machine's figures). One connection, so the
/// cost is bounded.
const SQLITE_WRITER_CACHE_KIB: i64 = 64 * 1024;

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match self.backend {
            Backend::Postgres => PgConnection::establish(&self.url)
                .map(AnyConnection::Postgresql)
                .map_err(diesel::r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut c = SqliteConnection::establish(sqlite_path(&self.url))
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                c.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 15000; \
                     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{}; PRAGMA temp_store = MEMORY; \
                     PRAGMA wal_autocheckpoint = 8192; PRAGMA mmap_size = {};",
                    SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                // SQLite's own lower() folds ASCII only, so "MÜNCHEN" did not match
                // "münchen" there while it did on PostgreSQL: every search, name filter
                // and the assignee index use this one instead (registered before the
                // migrations run, so the index is built with it too).
                unicode_lower_utils::register_impl(&mut c, |x: Option<String>| {
                    x.map(|s| s.to_lowercase())
                })
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        // Cheap and local (no query): a connection whose server went away, or that was
        // left inside a transaction by a panic, is dropped when returned to the pool.
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// How long a SQLite writer waits for the one before it, unless [`Db::with_write_wait`]
/// says otherwise: longer than any ordinary write, shorter than a client's patience.
pub const DEFAULT_WRITE_WAIT: Duration = Duration::from_secs(10);

/// SQLite's writing connection and the gate in front of it.
#[derive(Default)]
struct Writer {
    state: Mutex<WriterState>,
    freed: Condvar,
}

#[derive(Default)]
struct WriterState {
    /// A writer holds the gate.
    busy: bool,
    /// The tickets of the writers waiting at the gate, in the order they came; the front
    /// one goes next.
    queue: std::collections::VecDeque<u64>,
    /// The next writer's ticket.
    next_ticket: u64,
    /// The connection, kept between writes; `None` before the first write and after one
    /// left it broken.
    conn: Option<AnyConnection>,
}

impl Writer {
    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        // A poisoned lock only means a writer panicked; `Turn::drop` already released it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One writer's hold on the gate; gives the connection back (unless broken) when dropped.
struct Turn<'a> {
    writer: &'a Writer,
    conn: Option<AnyConnection>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        // A panic inside the transaction leaves the connection mid-transaction: drop it.
        let keep = self.conn.take().filter(|_| !std::thread::panicking());
        let keep =
            keep.and_then(|mut c| (!diesel::r2d2::R2D2Connection::is_broken(&mut c)).then_some(c));
        let mut state = self.writer.lock();
        state.busy = false;
        state.conn = keep;
        drop(state);
        // Every waiter wakes; only the one at the front of the queue goes.
        self.writer.freed.notify_all();
    }
}

/// The database handle shared by the API, the worker and the CLI.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    sqlite_writer: Arc<Writer>,
    write_wait: Duration,
    url: Arc<str>,
}

impl Db {
    /// Opens a pool of `size` connections to `url` (`sqlite://PATH` or `postgres://…`),
    /// creating the SQLite file's folder when needed.
    pub fn connect(url: &str, size: u32) -> StoreResult<Db> {
        let backend = Backend::of_url(url);
        if backend == Backend::Sqlite {
            let path = std::path::Path::new(sqlite_path(url));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let pool = Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            // No `SELECT 1` before every checkout (a round trip per request on PostgreSQL);
            // broken connections are caught by `has_broken` instead.
            .test_on_check_out(false)
            .build(Manager {
                url: url.to_string(),
                backend,
            })?;
        Ok(Db {
            pool,
            backend,
            sqlite_writer: Arc::default(),
            write_wait: DEFAULT_WRITE_WAIT,
            url: url.into(),
        })
    }

    /// The same database, whose SQLite writers give up with `Unavailable` after waiting
    /// `wait` for the writer before them (PostgreSQL writers never wait on each other here).
    pub fn with_write_wait(mut self, wait: Duration) -> Db {
        self.write_wait = wait;
        self
    }

    /// How long a SQLite writer waits for the ones before it ([`Db::with_write_wait`]).
    pub fn write_wait(&self) -> Duration {
        self.write_wait
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL the pool connects to, for connections of its own outside the pool
    /// (`Db::change_listener`, which lives beside the listener in `dialect`).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Applies pending migrations; returns how many ran.
    pub fn migrate(&self) -> StoreResult<usize> {
        let mut conn = self.pool.get()?;
        let ran = match &mut *conn {
            AnyConnection::Postgresql(c) => c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len()),
            AnyConnection::Sqlite(c) => {
                c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len())
            }
        };
        ran.map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
    }

    /// Runs read-only work on one pooled connection; never waits for a writer.
    pub fn read<T>(&self, f: impl FnOnce(&mut Conn) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Runs `f` in one transaction: all of it commits, or none. On PostgreSQL it runs on a
    /// pooled connection; on SQLite on the writing connection, once the writers before it
    /// are done (see the module's notes).
    pub fn write<T>(&self, f: impl FnOnce(&mut Conn) -> StoreResult<T>) -> StoreResult<T> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = self.pool.get()?;
                let conn: &mut Conn = &mut conn;
                conn.transaction(f)
            }
            Backend::Sqlite => {
                let mut turn = self.sqlite_turn()?;
                let conn = match &mut turn.conn {
                    Some(conn) => conn,
                    empty => empty.insert(self.open_writer()?),
                };
                conn.transaction(f)
            }
        }
    }

    /// Waits, holding nothing, until the writers of this process that came before it are
    /// done, for at most the write wait.
    fn sqlite_turn(&self) -> StoreResult<Turn<'_>> {
        let writer = &*self.sqlite_writer;
        let mut state = writer.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push_back(ticket);
        let (mut state, _) = writer
            .freed
            .wait_timeout_while(state, self.write_wait, |s| {
                s.busy || s.queue.front() != Some(&ticket)
            })
            .unwrap_or_else(PoisonError::into_inner);
        let ours = !state.busy && state.queue.front() == Some(&ticket);
        state.queue.retain(|t| *t != ticket);
        if !ours {
            // The writer behind this one may be free to go now.
            drop(state);
            writer.freed.notify_all();
            return Err(StoreError::Unavailable(format!(
                "another write has held the SQLite database for over {} ms",
                self.write_wait.as_millis()
            )));
        }
        state.busy = true;
        let conn = state.conn.take();
        Ok(Turn { writer, conn })
    }

    /// Writers waiting at the SQLite gate (always 0 on PostgreSQL); for tests.
    #[cfg(feature = "testing")]
    pub(crate) fn writers_waiting(&self) -> usize {
        self.sqlite_writer.lock().queue.len()
    }

    /// Opens the SQLite writing connection: a pooled connection's settings with the
    /// writer's larger page cache.
    fn open_writer(&self) -> StoreResult<AnyConnection> {
        let unavailable =
            |e: String| StoreError::Unavailable(format!("cannot open the writing connection: {e}"));
        let mut conn = self
            .manager()
            .connect()
            .map_err(|e| unavailable(e.to_string()))?;
        conn.batch_execute(&format!("PRAGMA cache_size = -{SQLITE_WRITER_CACHE_KIB};"))
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(conn)
    }

    fn manager(&self) -> Manager {
        Manager {
            url: self.url.to_string(),
            backend: self.backend,
        }
    }

    /// Connections in use and idle, for `/metrics`.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections - s.idle_connections, s.idle_connections)
    }

    /// The configured pool size.
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }
}
