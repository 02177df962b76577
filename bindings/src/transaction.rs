// SPDX-License-Identifier: Apache-2.0
//! [`Transaction`]: an interactive transaction the host drives statement by statement
//! (docs/adr/0004-interactive-ffi-transactions.md).
//!
//! Core transactions are closures (`Database::write(|tx| …)`), which cannot span host calls.
//! So each interactive transaction gets its own thread that enters the closure and runs the
//! host's statements as they arrive over a channel, until `commit()` or `rollback()`. The
//! host can abandon a transaction without ending it (object dropped, task cancelled, event
//! loop gone): dropping the object closes the channel and the thread rolls back, and a
//! database closed meanwhile ends it too, so the writer is always freed.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use parking_lot::Mutex;
use psync_core::Database as CoreDatabase;
use psync_core::db::Transaction as CoreTransaction;
use tokio::sync::oneshot;

use crate::database::ExecuteResult;
use crate::error::{Result, SyncError};
use crate::value::{Row, Value, to_core_params};

/// How often an idle transaction thread checks whether the database was closed, so `close()`
/// never waits on a transaction the host forgot.
const CLOSED_POLL: Duration = Duration::from_millis(50);

type Work = Box<dyn FnOnce(&CoreTransaction<'_>) + Send>;

enum Command {
    Run(Work),
    End {
        commit: bool,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// Which connection a transaction holds.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    /// The writer, in an immediate transaction: other writes wait until it ends.
    Write,
    /// A reader, in a snapshot: sees the data as of its first statement.
    Read,
}

/// An open transaction. Its statements run in order; `commit()` or `rollback()` ends it.
/// Dropping it without either rolls back. A read transaction rejects writes.
#[derive(uniffi::Object)]
pub struct Transaction {
    commands: Mutex<Option<mpsc::Sender<Command>>>,
}

impl Transaction {
    /// Starts a transaction on its own thread; returns once it holds its connection.
    pub(crate) async fn begin(db: CoreDatabase, access: Access) -> Result<Self> {
        let (commands, receiver) = mpsc::channel();
        let (started, begun) = oneshot::channel();
        std::thread::Builder::new()
            .name("psync-transaction".into())
            .spawn(move || serve(&db, access, &receiver, started))
            .map_err(|e| SyncError::Database {
                reason: format!("could not start a transaction thread: {e}"),
            })?;
        begun.await.map_err(|_| ended())??;
        Ok(Transaction {
            commands: Mutex::new(Some(commands)),
        })
    }

    /// Runs `work` inside the transaction and returns its result.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&CoreTransaction<'_>) -> psync_core::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Run(Box::new(move |tx| {
            let _ = reply.send(work(tx));
        })))?;
        Ok(answer.await.map_err(|_| ended())??)
    }

    async fn end(&self, commit: bool) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::End { commit, reply })?;
        // Later calls fail: the transaction is over.
        self.commands.lock().take();
        answer.await.map_err(|_| ended())?
    }

    fn send(&self, command: Command) -> Result<()> {
        let commands = self.commands.lock();
        let sender = commands.as_ref().ok_or_else(ended)?;
        sender.send(command).map_err(|_| ended())
    }
}

#[psync_ffi_macros::export]
impl Transaction {
    /// Runs one statement inside the transaction.
    pub async fn execute(&self, sql: String, params: Vec<Value>) -> Result<ExecuteResult> {
        let params = to_core_params(params);
        let result = self.run(move |tx| tx.execute(&sql, &params)).await?;
        Ok(result.into())
    }

    /// The first row of a query; `SyncError.NoRows` if there is none.
    pub async fn get(&self, sql: String, params: Vec<Value>) -> Result<Row> {
        let params = to_core_params(params);
        Ok(self.run(move |tx| tx.get(&sql, &params)).await?.into())
    }

    /// Every row of a query.
    pub async fn get_all(&self, sql: String, params: Vec<Value>) -> Result<Vec<Row>> {
        let params = to_core_params(params);
        let rows = self.run(move |tx| tx.get_all(&sql, &params)).await?;
        Ok(rows.into_iter().map(Row::from).collect())
    }

    /// The first row of a query, if any.
    pub async fn get_optional(&self, sql: String, params: Vec<Value>) -> Result<Option<Row>> {
        let params = to_core_params(params);
        let row = self.run(move |tx| tx.get_optional(&sql, &params)).await?;
        Ok(row.map(Row::from))
    }

    /// Commits and ends the transaction (a read transaction just ends).
    pub async fn commit(&self) -> Result<()> {
        self.end(true).await
    }

    /// Rolls back and ends the transaction. Succeeds if it already ended.
    pub async fn rollback(&self) -> Result<()> {
        if self.commands.lock().is_none() {
            return Ok(());
        }
        self.end(false).await
    }
}

/// The error of a call on a transaction that is over.
fn ended() -> SyncError {
    SyncError::InvalidArgument {
        reason: "the transaction has ended".into(),
    }
}

/// The transaction thread: holds the connection, runs commands until the transaction ends.
fn serve(
    db: &CoreDatabase,
    access: Access,
    commands: &mpsc::Receiver<Command>,
    started: oneshot::Sender<Result<()>>,
) {
    let mut started = Some(started);
    let mut end_reply = None;
    let mut commit = false;
    let body = |tx: &CoreTransaction<'_>| {
        if let Some(started) = started.take() {
            let _ = started.send(Ok(()));
        }
        loop {
            match commands.recv_timeout(CLOSED_POLL) {
                Ok(Command::Run(work)) => work(tx),
                Ok(Command::End {
                    commit: wanted,
                    reply,
                }) => {
                    commit = wanted;
                    end_reply = Some(reply);
                    break;
                }
                Err(RecvTimeoutError::Timeout) if !db.is_closed() => {}
                // Abandoned (the host dropped the object) or the database closed.
                Err(_) => break,
            }
        }
        if commit {
            Ok(())
        } else {
            // An error makes core roll back; the host asked for it (or left), so no one
            // sees this text.
            Err(psync_core::Error::state("rolled back"))
        }
    };
    let outcome = match access {
        Access::Write => db.write(body),
        Access::Read => db.read(body),
    };
    if let Some(started) = started {
        // The transaction never began (closed database, busy file).
        let _ = started.send(outcome.map_err(SyncError::from));
        return;
    }
    if let Some(reply) = end_reply {
        let _ = reply.send(if commit {
            outcome.map_err(SyncError::from)
        } else {
            Ok(())
        });
    }
}
