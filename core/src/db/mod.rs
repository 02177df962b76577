// SPDX-License-Identifier: Apache-2.0
//! The connection pool: one writer connection and a small pool of readers over one SQLite
//! file (WAL mode) or one shared in-memory database, with background WAL checkpoints and
//! table-change notifications.
//!
//! The pool knows nothing of what is stored in the file: whoever opens it passes a
//! [`ConnectionInitializer`] that sets up each connection (the storage format's SQL functions,
//! for the crate's `Database` facade) and the file itself (migrations), so the pool is built
//! and tested without the sync engine (docs/adr/0005-layers.md). The writer additionally
//! carries the hooks that feed table-change listeners.
//!
//! The writer's update, commit and rollback hooks belong to this module: code that gets the
//! raw connection (through [`Transaction::connection`] or
//! [`Pool::with_writer_connection`]) must not replace them, or listeners go silent.
//! SQLite does not report rows removed by an unconditional `DELETE FROM t` (truncate
//! optimization); code that must notify deletes one row first (as `powersync_clear` does).

mod checkpointer;
mod file_identity;
mod notify;
mod pool;
mod transaction;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, InterruptHandle, OpenFlags, TransactionBehavior};

pub use crate::value::{Row, Value};
pub use notify::{TableListener, TableListenerHandle};
pub use transaction::{ExecuteResult, Transaction};

use crate::{Error, Result};
use checkpointer::Checkpointer;
use notify::ChangeTracker;
use pool::ReaderPool;

/// How to open a [`Pool`] (and the `Database` facade).
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Number of reader connections (at least 1 is used).
    pub readers: usize,
    /// How long a connection waits for a lock held by another connection before failing
    /// with `SQLITE_BUSY`.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            readers: 4,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// Sets up what a [`Pool`] opens: every connection, then the file once.
pub trait ConnectionInitializer {
    /// Runs on every new connection (writer and readers) before it is used.
    fn init_connection(&self, conn: &Connection) -> Result<()>;
    /// Runs once per open on the writer, inside a write transaction, after
    /// [`init_connection`](Self::init_connection) and before any reader opens.
    fn init_database(&self, conn: &Connection) -> Result<()>;
}

/// One writer and a pool of readers over one SQLite database. Cheap to clone; clones share
/// the connections.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    location: Location,
    writer: Mutex<Option<Connection>>,
    /// The thread currently holding `writer`, so a nested write on the same thread fails
    /// instead of deadlocking.
    writer_owner: Mutex<Option<ThreadId>>,
    writer_interrupt: InterruptHandle,
    readers: ReaderPool,
    closed: AtomicBool,
    changes: ChangeTracker,
    /// Background WAL checkpoints (file databases only).
    checkpointer: Mutex<Option<Checkpointer>>,
    /// The opened file, checked before each write (file databases only).
    file: Option<file_identity::FileIdentity>,
}

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    Memory(String),
}

impl Location {
    fn open_connection(&self, busy_timeout: Duration) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match self {
            Location::File(path) => Connection::open_with_flags(path, flags)?,
            Location::Memory(uri) => Connection::open_with_flags(uri, flags)?,
        };
        conn.busy_timeout(busy_timeout)?;
        Ok(conn)
    }
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Oldest SQLite the storage format works with (3.44.0).
const MIN_SQLITE_VERSION: i32 = 3_044_000;

static MEMORY_DB_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Pool {
    /// Opens (or creates) the database file at `path`.
    ///
    /// A file that is not a SQLite database, or whose schema cannot be read, is rejected with
    /// a storage error before anything is written to it.
    pub fn open(
        path: impl AsRef<Path>,
        options: OpenOptions,
        init: &dyn ConnectionInitializer,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        check_sqlite_header(&path)?;
        Self::open_location(Location::File(path), options, init)
    }

    /// Opens a new, empty in-memory database. Its writer and readers share one database
    /// (SQLite's `memdb` VFS); it disappears when the last connection closes.
    ///
    /// There is no WAL in memory: a read waits (up to the busy timeout) while a write
    /// transaction is open, instead of reading the last committed snapshot. So never read
    /// through [`Pool::get`] and friends from inside a [`Pool::write`] closure; use
    /// the closure's transaction.
    pub fn open_in_memory(options: OpenOptions, init: &dyn ConnectionInitializer) -> Result<Self> {
        let n = MEMORY_DB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let uri = format!("file:/psync-mem-{}-{n}?vfs=memdb", std::process::id());
        Self::open_location(Location::Memory(uri), options, init)
    }

    fn open_location(
        location: Location,
        options: OpenOptions,
        init: &dyn ConnectionInitializer,
    ) -> Result<Self> {
        // The storage format relies on DROP COLUMN, aggregate ORDER BY and `->>`.
        if rusqlite::version_number() < MIN_SQLITE_VERSION {
            return Err(Error::storage("SQLite 3.44 or newer is required"));
        }
        let mut writer = location.open_connection(options.busy_timeout)?;
        // Reading the schema detects files SQLite cannot use, before any pragma or
        // migration writes to them.
        if let Err(e) = writer.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            return Err(Error::storage(format!(
                "cannot read the database file: {e}"
            )));
        }
        if let Location::File(_) = location {
            let mode: String =
                writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::storage("cannot switch the database to WAL mode"));
            }
            writer.execute_batch("PRAGMA synchronous = NORMAL")?;
        }
        let checkpointer = match location {
            Location::File(_) => Some(Checkpointer::start(
                &mut writer,
                location.open_connection(options.busy_timeout)?,
            )?),
            Location::Memory(_) => None,
        };
        init.init_connection(&writer)?;
        let changes = ChangeTracker::default();
        changes.install(&mut writer)?;
        let writer_interrupt = writer.get_interrupt_handle();

        let file = match &location {
            Location::File(path) => Some(file_identity::FileIdentity::of(path)),
            Location::Memory(_) => None,
        };
        let db = Pool {
            inner: Arc::new(Inner {
                file,
                location,
                writer: Mutex::new(Some(writer)),
                writer_owner: Mutex::new(None),
                writer_interrupt,
                readers: ReaderPool::default(),
                closed: AtomicBool::new(false),
                changes,
                checkpointer: Mutex::new(checkpointer),
            }),
        };
        db.write(|tx| init.init_database(tx.connection()))?;

        let mut readers = Vec::new();
        for _ in 0..options.readers.max(1) {
            let reader = db.inner.location.open_connection(options.busy_timeout)?;
            reader.execute_batch("PRAGMA query_only = 1")?;
            init.init_connection(&reader)?;
            readers.push(reader);
        }
        db.inner.readers.fill(readers);
        Ok(db)
    }

    /// The file this database was opened from; `None` for in-memory databases.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.location {
            Location::File(path) => Some(path),
            Location::Memory(_) => None,
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        Ok(())
    }

    /// Runs `f` in an immediate transaction on the writer. Commits when `f` returns `Ok`;
    /// rolls back when it returns `Err` or panics (the panic then continues). Table
    /// listeners are told about the committed changes after the writer is released.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.with_writer_connection(|conn| {
            // The rusqlite transaction rolls back when dropped, including while unwinding
            // from a panic in `f`, so the writer never stays inside a transaction.
            let tx = Transaction::new(rusqlite::Transaction::new_unchecked(
                conn,
                TransactionBehavior::Immediate,
            )?);
            match f(&tx) {
                Ok(value) => tx
                    .into_inner()
                    .commit()
                    .map(|()| value)
                    .map_err(Error::from),
                Err(e) => {
                    drop(tx);
                    Err(e)
                }
            }
        })
    }

    /// Runs `f` in a read transaction on one of the readers (a consistent snapshot).
    pub fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.ensure_open()?;
        let reader = self.inner.readers.acquire(&self.inner.closed)?;
        let tx = Transaction::new(rusqlite::Transaction::new_unchecked(
            reader.connection(),
            TransactionBehavior::Deferred,
        )?);
        let value = f(&tx)?;
        tx.into_inner().commit()?;
        Ok(value)
    }

    /// Gives `f` the raw writer connection in whatever transaction state it is (autocommit
    /// unless an earlier caller left a transaction open). For tools like `psync-shell` that
    /// run the caller's own `BEGIN`/`COMMIT`. Listeners are notified afterwards.
    pub fn with_writer_connection<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.ensure_open()?;
        if let Some(file) = &self.inner.file {
            file.check()?;
        }
        let current = std::thread::current().id();
        if *self.inner.writer_owner.lock() == Some(current) {
            return Err(Error::state(
                "nested write: this thread is already using the writer connection",
            ));
        }
        let result = {
            let guard = self.inner.writer.lock();
            let conn = guard.as_ref().ok_or_else(Error::closed)?;
            let _owner = OwnerMark::set(&self.inner.writer_owner, current);
            f(conn)
        };
        self.inner.changes.dispatch();
        result
    }

    /// Runs one statement on the writer in autocommit mode.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<ExecuteResult> {
        self.with_writer_connection(|conn| transaction::execute_on(conn, sql, params))
    }

    /// Runs one statement once for each parameter set, all in one write transaction: every set
    /// applies or none does. The statement is prepared once.
    pub fn execute_batch(&self, sql: &str, param_sets: &[Vec<Value>]) -> Result<ExecuteResult> {
        self.write(|tx| tx.execute_batch(sql, param_sets))
    }

    /// The first row of a query on a reader; an error if there is none.
    pub fn get(&self, sql: &str, params: &[Value]) -> Result<Row> {
        self.with_reader(|conn| transaction::get_on(conn, sql, params))
    }

    /// Every row of a query on a reader.
    pub fn get_all(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        self.with_reader(|conn| transaction::get_all_on(conn, sql, params))
    }

    /// The first row of a query on a reader, if any.
    pub fn get_optional(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        self.with_reader(|conn| transaction::get_optional_on(conn, sql, params))
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.ensure_open()?;
        let reader = self.inner.readers.acquire(&self.inner.closed)?;
        f(reader.connection())
    }

    /// Registers a listener for committed table changes. It receives raw storage table
    /// names (`ps_data__todos`, `ps_crud`, ...), is called on the committing thread without
    /// any lock held, and is unregistered when the handle is dropped.
    pub fn add_table_listener(&self, listener: TableListener) -> TableListenerHandle {
        self.inner.changes.add_listener(listener)
    }

    /// Asks the statement currently running on the writer to stop with `SQLITE_INTERRUPT`.
    pub fn interrupt_writer(&self) {
        self.inner.writer_interrupt.interrupt();
    }

    /// Closes every connection. Idempotent; afterwards every call fails with
    /// [`Error::closed`]. A reader still in use is closed when its call finishes.
    pub fn close(&self) -> Result<()> {
        if *self.inner.writer_owner.lock() == Some(std::thread::current().id()) {
            return Err(Error::state(
                "cannot close the database inside one of its writes",
            ));
        }
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.readers.close();
        if let Some(mut checkpointer) = self.inner.checkpointer.lock().take() {
            checkpointer.stop();
        }
        // Close the writer last: in WAL mode the last connection checkpoints the log.
        let writer = self.inner.writer.lock().take();
        if let Some(conn) = writer {
            conn.close().map_err(|(_, e)| Error::from(e))?;
        }
        Ok(())
    }

    /// `true` once [`Pool::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("location", &self.inner.location)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Records which thread holds the writer for as long as it lives (also while unwinding).
struct OwnerMark<'a>(&'a Mutex<Option<ThreadId>>);

impl<'a> OwnerMark<'a> {
    fn set(slot: &'a Mutex<Option<ThreadId>>, thread: ThreadId) -> Self {
        *slot.lock() = Some(thread);
        OwnerMark(slot)
    }
}

impl Drop for OwnerMark<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

/// Rejects existing non-empty files that do not start with the SQLite header, without
/// opening (and possibly modifying) them through SQLite.
fn check_sqlite_header(path: &Path) -> Result<()> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut header = Vec::with_capacity(SQLITE_HEADER.len());
    file.by_ref()
        .take(SQLITE_HEADER.len() as u64)
        .read_to_end(&mut header)?;
    if header.is_empty() || header == SQLITE_HEADER {
        return Ok(());
    }
    Err(Error::storage("the file is not a SQLite database"))
}

/// A set of raw storage table names, as delivered to table listeners.
pub type ChangedTables = BTreeSet<String>;
