//! Connections, the pool, migrations and transactions over SQLite or PostgreSQL.
//!
//! Every request takes one pooled connection through [`Db::read`] or [`Db::write`].
//! SQLite allows one writer at a time; `write` serialises this process's writers on a
//! mutex so that two deferred transactions never deadlock on the lock upgrade (the
//! `busy_timeout` covers writers in other processes, such as the CLI).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use diesel::{
    Connection, PgConnection, RunQueryDsl, SqliteConnection,
    connection::SimpleConnection,
    r2d2::{ManageConnection, Pool},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::{StoreError, StoreResult};

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
                c.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 15000; \
                     PRAGMA synchronous = NORMAL; PRAGMA cache_size = -8192; PRAGMA temp_store = MEMORY;",
                )
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

/// The database handle shared by the API, the worker and the CLI.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    sqlite_writer: Arc<Mutex<()>>,
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
            sqlite_writer: Arc::new(Mutex::new(())),
            url: url.into(),
        })
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

    /// Runs read-only work on one pooled connection.
    pub fn read<T>(&self, f: impl FnOnce(&mut Conn) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Runs `f` in one transaction on one pooled connection: all of it commits, or none.
    pub fn write<T>(&self, f: impl FnOnce(&mut Conn) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.pool.get()?;
        let _guard = match self.backend {
            // A poisoned lock only means another writer panicked; the transaction rolled back.
            Backend::Sqlite => Some(self.sqlite_writer.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres => None,
        };
        let conn: &mut Conn = &mut conn;
        conn.transaction(f)
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
