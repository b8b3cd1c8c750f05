//! The store's one writer: a thread that owns the writer connection and runs every write, in
//! the order they were queued, with group commit.
//!
//! Writes that queue up while the thread is busy run together in one transaction, each inside
//! its own savepoint, so one that fails is rolled back alone and the others still commit. Every
//! write is answered only after the transaction holding it has committed, so what a caller
//! was told is written is durable and visible to the readers. A connect storm's membership
//! writes then cost one commit per group instead of one each, and no runtime thread or pool of
//! blocking threads waits on a lock for its turn.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, backend};

/// Most writes in one transaction.
const MAX_GROUP: usize = 256;
/// Most writes waiting for the thread; a writer beyond them waits for room, so the queue's
/// memory is bounded however many tasks write at once.
const QUEUED: usize = 4 * MAX_GROUP;

/// A queued write: runs against the connection and returns whether it succeeded and what to
/// do once its transaction has committed or failed (the commit's error, if any).
type Job = Box<dyn FnOnce(&mut Connection) -> (bool, Reply) + Send>;
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`; it ends when the writer is dropped.
    pub(super) fn start(conn: Connection) -> Result<Writer, StoreError> {
        let (jobs, rx) = mpsc::channel(QUEUED);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Backend(format!("starting the SQLite writer: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Runs `f` on the writer connection; answers once its transaction has committed.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn).map_err(backend);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed: Result<(), String>| {
                let _ = tx.send(committed.map_err(StoreError::Backend).and(result));
            });
            (ok, reply)
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("a write failed inside the SQLite writer".into()))?
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(&mut conn, group);
    }
}

/// Runs `group` in one transaction, each job in its own savepoint, then answers them all.
fn commit_group(conn: &mut Connection, group: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Nothing ran: dropped unanswered, each caller is told its write failed.
        tracing::error!(error = %e, writes = group.len(), "SQLite transaction not started");
        return;
    }
    let mut replies = Vec::with_capacity(group.len());
    for job in group {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            tracing::error!(error = %e, "SQLite savepoint not taken; the write is refused");
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok((ok, reply)) => {
                // A write that failed leaves nothing behind, whatever it did first.
                let end = if ok {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                let _ = conn.execute_batch(end);
                replies.push(reply);
            }
            Err(_) => {
                tracing::error!("a SQLite write panicked; its changes are rolled back");
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
    }
    let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
    if let Err(e) = &committed {
        tracing::error!(error = %e, writes = replies.len(), "SQLite commit failed");
        let _ = conn.execute_batch("ROLLBACK");
    }
    for reply in replies {
        reply(committed.clone());
    }
}
