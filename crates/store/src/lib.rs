//! pfid's account store: patients' records, logins, apps, grants, codes, tokens, keys and
//! the durable queues, on SQLite or PostgreSQL through one code path.
//!
//! Everything here is synchronous diesel work wrapped in async functions that run it on
//! tokio's blocking pool, so no caller ever blocks an event-loop thread. Public functions
//! take and return domain types; row structs stay private. Time is always a parameter.

mod db;
mod error;
mod rows;
pub mod schema;

pub mod accounts;
pub mod assertions;
pub mod audit;
pub mod clients;
pub mod codes;
pub mod developers;
pub mod grants;
pub mod housekeeping;
pub mod invitations;
pub mod keys;
pub mod legacy;
pub mod logout;
pub mod normalize;
pub mod outbox;
pub mod password;
pub mod patients;
pub mod profile;
pub mod pushed;
pub mod ratelimit;
pub mod recovery;
pub mod registrations;
pub mod secret;
pub mod sessions;
mod time;
pub mod tokens;
mod writer;

use std::sync::Arc;
use std::time::Duration;

pub use chrono;
pub use db::{Backend, DatabaseUrl};
pub use error::{StoreError, StoreResult};
pub use password::PasswordHasher;

use db::{DbConn, Pools, WritePath};

/// How to reach the database and how to hash passwords.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: DatabaseUrl,
    pub pool_size: u32,
    pub connect_timeout: Duration,
}

/// The store facade: cheap to clone, shared by every worker.
#[derive(Clone)]
pub struct Store {
    pools: Arc<Pools>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.pools.backend.as_str())
    }
}

impl Store {
    /// Opens the pools and checks that the database answers. Does not migrate.
    pub async fn connect(config: &StoreConfig) -> StoreResult<Store> {
        let config = config.clone();
        let pools = tokio::task::spawn_blocking(move || {
            Pools::open(&config.url, config.pool_size, config.connect_timeout)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("connect task failed: {e}")))??;
        Ok(Store {
            pools: Arc::new(pools),
        })
    }

    pub fn backend(&self) -> Backend {
        self.pools.backend
    }

    /// Applies pending schema migrations and returns how many ran.
    pub async fn migrate(&self) -> StoreResult<usize> {
        self.with_writer(db::run_migrations).await
    }

    /// Reverts every migration. Only for tests of the migrations themselves.
    #[doc(hidden)]
    pub async fn revert_all_migrations(&self) -> StoreResult<usize> {
        self.with_writer(db::revert_all_migrations).await
    }

    /// Answers when the database does (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        use diesel::connection::SimpleConnection;
        self.read(|conn| conn.batch_execute("SELECT 1").map_err(StoreError::from))
            .await
    }

    /// Runs `f` on a pooled reader, on the blocking pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pools.read.clone();
        run_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
    }

    /// Runs `f` in one write transaction, committed before this returns. On SQLite the
    /// transaction may be a savepoint of a group commit: `f` sees the writes committed
    /// before it, never another job's half-done work, and its failure undoes only its own.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        match &self.pools.write {
            WritePath::Writer(writer) => writer.write(f).await,
            WritePath::Pool(_) => {
                self.with_writer(move |conn| db::write_transaction(conn, f))
                    .await
            }
        }
    }

    /// Runs `f`, which must write with exactly one statement (a statement is atomic on
    /// its own; reads before it are allowed, but on PostgreSQL nothing ties them to the
    /// write), committed before this returns. On PostgreSQL it runs in autocommit: one
    /// round trip to the server instead of three (BEGIN, the statement, COMMIT). On
    /// SQLite it joins the writer's group commit like any other write.
    pub(crate) async fn write_one_statement<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        match &self.pools.write {
            WritePath::Writer(writer) => writer.write(f).await,
            WritePath::Pool(_) => self.with_writer(f).await,
        }
    }

    /// Runs `f` on the writer connection without opening a transaction.
    async fn with_writer<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        match &self.pools.write {
            WritePath::Writer(writer) => writer.exclusive(f).await,
            WritePath::Pool(pool) => {
                let pool = pool.clone();
                run_blocking(move || {
                    let mut conn = pool.get()?;
                    f(&mut conn)
                })
                .await
            }
        }
    }
}

async fn run_blocking<T, F>(f: F) -> StoreResult<T>
where
    F: FnOnce() -> StoreResult<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
}
