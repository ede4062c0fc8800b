//! Connections, pools and schema migrations for both backends.
//!
//! One query code path serves SQLite and PostgreSQL through a `MultiConnection` enum. The
//! backend is chosen from the URL scheme here, never by trial: SQLite would accept almost
//! any string as a file name, so a mistyped PostgreSQL URL must not quietly become a file.

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{self, ManageConnection, Pool};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::StoreError;
use crate::writer::Writer;

/// A connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection inside a `DbConn`; the body
/// is compiled once per backend. For the queries on every request: through the
/// `MultiConnection` wrapper diesel writes each query out as SQL text to find its
/// prepared statement (an eighth of pfid's CPU under introspection load, in `perf`);
/// on the concrete connection a query of fixed shape is found by its type alone.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A parsed `database.url`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: a file, created with its folder when missing.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, passed to libpq as is.
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    // A PostgreSQL URL may carry a password: show only where it points.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match url::Url::parse(url) {
                Ok(u) => write!(
                    f,
                    "postgres://{}{}",
                    u.host_str().unwrap_or(""),
                    u.port().map(|p| format!(":{p}")).unwrap_or_default()
                ),
                Err(_) => f.write_str("postgres://(unparsable)"),
            },
        }
    }
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` (also `sqlite:PATH`) or `postgres[ql]://...`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(rest) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err("a sqlite URL needs a file path, as in sqlite://data/pfid.db".into());
            }
            if rest == ":memory:" {
                return Err(
                    "an in-memory SQLite database would differ per pooled connection; use a file"
                        .into(),
                );
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(rest)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let parsed =
                url::Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
            if parsed.host_str().is_none_or(str::is_empty) && !raw.contains("host=") {
                return Err(
                    "a PostgreSQL URL needs a host, as in postgres://user@127.0.0.1:5432/pfid"
                        .into(),
                );
            }
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        Err("expected sqlite://PATH or postgres://USER@HOST/DB".into())
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Opens connections for r2d2 and prepares each one (SQLite pragmas).
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    fn open(&self) -> Result<DbConn, diesel::ConnectionError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path)?;
                // Per connection: foreign keys are off by default in SQLite, WAL lets
                // readers run beside the writer, busy_timeout waits out another process's
                // write lock, and synchronous=NORMAL in WAL mode keeps every committed
                // transaction across a process crash (only power loss can drop the last).
                conn.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                )
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                Ok(DbConn::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => Ok(DbConn::Postgres(PgConnection::establish(url)?)),
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        self.open().map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        // A connection left inside a transaction (by a panic, say) must not be reused.
        let depth = match conn {
            DbConn::Postgres(c) => {
                AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
            }
            DbConn::Sqlite(c) => {
                AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
            }
        };
        !matches!(depth, Ok(None))
    }
}

pub(crate) type DbPool = Pool<Manager>;

/// Connections for one database. SQLite allows one writer at a time, and its busy
/// handler sleeps in steps of milliseconds when writers collide, so every write goes to
/// a single writer thread that owns the write connection and commits writes in groups
/// (`crate::writer`). PostgreSQL uses one pool for reads and writes.
pub(crate) struct Pools {
    pub(crate) read: DbPool,
    pub(crate) write: WritePath,
    pub(crate) backend: Backend,
}

/// Where writes go.
pub(crate) enum WritePath {
    Pool(DbPool),
    Writer(Writer),
}

impl Pools {
    pub(crate) fn open(
        url: &DatabaseUrl,
        size: u32,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        if let DatabaseUrl::Sqlite(path) = url {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        let manager = Manager { url: url.clone() };
        // Connect once up front: a wrong URL or a database that is down fails here with
        // the driver's own words, instead of a pool timeout after retries.
        let first = manager
            .open()
            .map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))?;
        let build = |max: u32| {
            Pool::builder()
                .max_size(max.max(1))
                .min_idle(Some(0))
                .connection_timeout(timeout)
                .test_on_check_out(false)
                // Failures surface as errors to whoever asked for a connection.
                .error_handler(Box::new(r2d2::NopErrorHandler))
                .build_unchecked(manager.clone())
        };
        match url.backend() {
            // `first` switched the file to WAL before any reader opened, so readers
            // never race on the journal mode.
            Backend::Sqlite => {
                let checkpoint_conn = manager
                    .open()
                    .map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))?;
                let reopen = manager.clone();
                let writer = Writer::start(first, checkpoint_conn, move || {
                    reopen
                        .open()
                        .map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))
                })?;
                Ok(Pools {
                    read: build(size),
                    write: WritePath::Writer(writer),
                    backend: Backend::Sqlite,
                })
            }
            Backend::Postgres => {
                drop(first);
                let pool = build(size);
                Ok(Pools {
                    read: pool.clone(),
                    write: WritePath::Pool(pool),
                    backend: Backend::Postgres,
                })
            }
        }
    }
}

/// Applies pending migrations; returns how many ran.
pub(crate) fn run_migrations(conn: &mut DbConn) -> Result<usize, StoreError> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Postgres(c) => {
            // Serialise concurrent `pfid serve` start-ups on one database: each node
            // migrates, and two must not apply the same migration at once.
            c.batch_execute("SELECT pg_advisory_lock(7265746)")
                .map_err(StoreError::from)?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            let _ = c.batch_execute("SELECT pg_advisory_unlock(7265746)");
            result
        }
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Reverts every migration (tests check that each `down.sql` undoes its `up.sql`).
pub(crate) fn revert_all_migrations(conn: &mut DbConn) -> Result<usize, StoreError> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Postgres(c) => c
            .revert_all_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    };
    reverted.map_err(|e| StoreError::Migration(e.to_string()))
}

/// Runs `f` inside a write transaction. On SQLite it begins IMMEDIATE, taking the write
/// lock up front: a deferred transaction that reads and then writes fails at once with
/// SQLITE_BUSY when another process wrote in between, with no busy-timeout wait.
pub(crate) fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = f(conn);
    let end = match (&result, &mut *conn) {
        (Ok(_), DbConn::Sqlite(c)) => AnsiTransactionManager::commit_transaction(c),
        (Ok(_), DbConn::Postgres(c)) => AnsiTransactionManager::commit_transaction(c),
        (Err(_), DbConn::Sqlite(c)) => AnsiTransactionManager::rollback_transaction(c),
        (Err(_), DbConn::Postgres(c)) => AnsiTransactionManager::rollback_transaction(c),
    };
    match (result, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e),
    }
}

/// Runs `f` inside a write transaction that is always rolled back: a dry run that
/// exercises every statement and keeps none.
pub(crate) fn rolled_back_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = f(conn);
    let end = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
        DbConn::Postgres(c) => AnsiTransactionManager::rollback_transaction(c),
    };
    match (result, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use diesel::dsl::sql;
    use diesel::sql_types::Integer;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    /// `.cargo/config.toml` builds the bundled SQLite with the query planner stability
    /// guarantee; without it every `.first()` query is parsed and planned again on each
    /// execution (see the comment there).
    #[test]
    fn sqlite_keeps_prepared_plans_whatever_is_bound() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let qpsg: i32 = diesel::select(sql::<Integer>("sqlite_compileoption_used('ENABLE_QPSG')"))
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(qpsg, 1, "SQLite was built without SQLITE_ENABLE_QPSG");
    }

    /// Multi-thread mode, not serialized: no mutex per call on a connection only one
    /// thread uses at a time (`.cargo/config.toml`).
    #[test]
    fn sqlite_takes_no_per_connection_mutex() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let multi_thread: i32 =
            diesel::select(sql::<Integer>("sqlite_compileoption_used('THREADSAFE=2')"))
                .get_result(&mut conn)
                .unwrap();
        assert_eq!(
            multi_thread, 1,
            "SQLite was not built with SQLITE_THREADSAFE=2"
        );
    }
}
