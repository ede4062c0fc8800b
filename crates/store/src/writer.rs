//! SQLite's one writer, with group commit.
//!
//! SQLite lets one connection write at a time, and every commit writes the WAL frames of
//! the pages it changed. A dedicated thread owns the write connection: each write job
//! runs in its own savepoint inside a transaction shared with whatever other writes
//! queued up while the previous commit ran, and the whole group commits once. A job
//! that fails rolls back to its savepoint and leaves the others untouched; nobody hears
//! of a success before the commit that made it durable.
//!
//! Under load this turns N commits (and N thread hand-overs to a pooled connection)
//! into one; with a single writer waiting, it is one transaction as before.
//!
//! Checkpoints (copying the WAL back into the database file, with its fsyncs) run on a
//! thread of their own, on a connection of their own, so that no write waits for one.
//! SQLite would otherwise run them inside the commit that crossed `wal_autocheckpoint`
//! pages: under load several times a second, each one stalling every write queued
//! behind it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender, TrySendError};
use std::time::Duration;

use diesel::connection::SimpleConnection;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use tokio::sync::oneshot;

use crate::db::DbConn;
use crate::error::{StoreError, StoreResult};

/// Writes that share one transaction, at most. A bound keeps the first job of a group
/// from waiting on an unbounded tail.
const MAX_GROUP: usize = 128;

/// The least time between two checkpoints: a page that many commits change in that
/// time is copied into the database file once.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// The write connection's own `wal_autocheckpoint`, in pages (SQLite's default is 1,000).
/// Only a backstop: the checkpointer copies the WAL long before it grows this large
/// (40 MB), unless it cannot keep up.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Tells a job's caller how its write ended, once the group's commit is known: given
/// the commit's failure, or `None` when it committed.
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A write job, type-erased so one queue carries every kind.
trait GroupedJob: Send {
    /// Runs the job in a savepoint.
    fn run(self: Box<Self>, conn: &mut DbConn) -> Reply;
    /// Tells the caller that the job never ran.
    fn fail(self: Box<Self>, why: &StoreError);
}

struct Pending<T, F> {
    work: F,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> GroupedJob for Pending<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> StoreResult<T> + Send,
{
    fn run(self: Box<Self>, conn: &mut DbConn) -> Reply {
        let result = in_savepoint(conn, self.work);
        let reply = self.reply;
        Box::new(move |commit_failure| {
            let result = match commit_failure {
                Some(e) if result.is_ok() => Err(retold(e)),
                _ => result,
            };
            let _ = reply.send(result);
        })
    }

    fn fail(self: Box<Self>, why: &StoreError) {
        let _ = self.reply.send(Err(retold(why)));
    }
}

enum Job {
    Grouped(Box<dyn GroupedJob>),
    /// Runs alone on the connection, outside any transaction (migrations, the legacy
    /// import, which manage their own).
    Exclusive(Box<dyn FnOnce(&mut DbConn) + Send>),
}

/// The handle every `Store` clone shares; the thread ends when the last one is dropped.
pub(crate) struct Writer {
    queue: Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn` and the checkpointer on `checkpoint_conn`, two
    /// connections to the same database; `reopen` opens a connection like `conn`, to
    /// replace it if a panicking job left it unusable.
    pub(crate) fn start(
        conn: DbConn,
        checkpoint_conn: DbConn,
        reopen: impl Fn() -> Result<DbConn, StoreError> + Send + 'static,
    ) -> Result<Writer, StoreError> {
        let (queue, jobs) = channel();
        // One slot: commits made while a checkpoint runs ask for one more, not many.
        let (nudge, nudges) = sync_channel(1);
        let mut conn = conn;
        limit_autocheckpoint(&mut conn)?;
        let reopen = move || {
            let mut fresh = reopen()?;
            limit_autocheckpoint(&mut fresh)?;
            Ok(fresh)
        };
        let spawn_failed =
            |e: std::io::Error| StoreError::Unavailable(format!("cannot start the writer: {e}"));
        std::thread::Builder::new()
            .name("pfid-sqlite-checkpointer".into())
            .spawn(move || checkpoints(checkpoint_conn, nudges))
            .map_err(spawn_failed)?;
        std::thread::Builder::new()
            .name("pfid-sqlite-writer".into())
            .spawn(move || serve(conn, jobs, nudge, reopen))
            .map_err(spawn_failed)?;
        Ok(Writer { queue })
    }

    /// Runs `f` in a transaction (a savepoint of a shared one), answered after commit.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Grouped(Box::new(Pending { work: f, reply })))?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `f` alone on the write connection, with no transaction around it.
    pub(crate) async fn exclusive<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut DbConn) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Exclusive(Box::new(move |conn| {
            let _ = reply.send(f(conn));
        })))?;
        answer.await.map_err(|_| stopped())?
    }

    fn submit(&self, job: Job) -> StoreResult<()> {
        self.queue.send(job).map_err(|_| stopped())
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the database writer stopped".into())
}

/// A commit failure reaches every job of the group; each gets its own copy.
fn retold(e: &StoreError) -> StoreError {
    StoreError::Unavailable(format!("commit failed: {e}"))
}

fn limit_autocheckpoint(conn: &mut DbConn) -> Result<(), StoreError> {
    conn.batch_execute(&format!(
        "PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}"
    ))
    .map_err(StoreError::from)
}

/// Copies the WAL into the database file after commits, at most once per
/// `CHECKPOINT_INTERVAL`, until the writer thread ends. PASSIVE never waits for readers
/// or the writer: it copies what no reader still needs, and the rest next time.
fn checkpoints(mut conn: DbConn, nudges: Receiver<()>) {
    while nudges.recv().is_ok() {
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!(error = %e, "SQLite checkpoint failed; the next commit retries");
        }
        std::thread::sleep(CHECKPOINT_INTERVAL);
    }
}

fn serve(
    mut conn: DbConn,
    jobs: Receiver<Job>,
    nudge: SyncSender<()>,
    reopen: impl Fn() -> Result<DbConn, StoreError>,
) {
    let mut next = None;
    while let Some(job) = next.take().or_else(|| jobs.recv().ok()) {
        match job {
            Job::Exclusive(f) => {
                // A panic drops the reply: the caller hears that the writer failed.
                let _ = catch_unwind(AssertUnwindSafe(|| f(&mut conn)));
            }
            Job::Grouped(first) => {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match jobs.try_recv() {
                        Ok(Job::Grouped(j)) => group.push(j),
                        Ok(exclusive) => {
                            next = Some(exclusive);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit_group(&mut conn, group);
                match nudge.try_send(()) {
                    Ok(()) | Err(TrySendError::Full(())) => {}
                    Err(TrySendError::Disconnected(())) => {
                        tracing::error!("the SQLite checkpointer stopped; commits checkpoint");
                    }
                }
            }
        }
        // Whatever happened, the next job must find the connection outside a transaction.
        recover(&mut conn, &reopen);
    }
}

/// Runs a group in one IMMEDIATE transaction.
fn commit_group(conn: &mut DbConn, group: Vec<Box<dyn GroupedJob>>) {
    if let Err(e) = begin(conn) {
        let e = StoreError::from(e);
        for job in group {
            job.fail(&e);
        }
        return;
    }
    let mut replies = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    let mut panicked = false;
    for job in jobs.by_ref() {
        match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
            Ok(reply) => replies.push(reply),
            Err(_) => {
                panicked = true;
                break;
            }
        }
    }
    let outcome = if panicked {
        // The panicking job's savepoint is in an unknown state: roll everything back.
        let _ = rollback(conn);
        Err(StoreError::Unavailable(
            "a write in the same group failed unexpectedly".into(),
        ))
    } else {
        end(conn).map_err(StoreError::from)
    };
    match &outcome {
        Ok(()) => replies.into_iter().for_each(|reply| reply(None)),
        Err(e) => {
            replies.into_iter().for_each(|reply| reply(Some(e)));
            for job in jobs {
                job.fail(e);
            }
        }
    }
}

/// Leaves the connection outside any transaction: rolls back what a failed commit or a
/// panicking job left open, and opens a new connection if even that fails.
fn recover(conn: &mut DbConn, reopen: &impl Fn() -> Result<DbConn, StoreError>) {
    if depth(conn) == 0 {
        return;
    }
    let _ = rollback(conn);
    if depth(conn) != 0 {
        match reopen() {
            Ok(fresh) => *conn = fresh,
            Err(e) => tracing::error!(error = %e, "cannot reopen the SQLite write connection"),
        }
    }
}

fn depth(conn: &mut DbConn) -> u32 {
    let DbConn::Sqlite(c) = conn else { return 0 };
    match AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth() {
        Ok(Some(d)) => d.get(),
        Ok(None) => 0,
        Err(_) => u32::MAX,
    }
}

fn begin(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c),
    }
}

fn end(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::commit_transaction(c),
        DbConn::Postgres(c) => AnsiTransactionManager::commit_transaction(c),
    }
}

fn rollback(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
        DbConn::Postgres(c) => AnsiTransactionManager::rollback_transaction(c),
    }
}

/// Runs `f` inside a savepoint of the open transaction: released when it succeeds,
/// rolled back to when it fails, so one job's failure leaves the group intact.
fn in_savepoint<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> StoreResult<T>,
) -> StoreResult<T> {
    // At depth one, diesel's `begin_transaction` opens a savepoint.
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction(c)?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = f(conn);
    let closed = match result {
        Ok(_) => end(conn),
        Err(_) => rollback(conn),
    };
    match (result, closed) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e),
    }
}
